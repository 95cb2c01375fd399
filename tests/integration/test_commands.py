"""The commands as a user runs them: separate processes, exit codes, messages, kills."""

import json
import subprocess
import sys

import pyarrow.parquet as pq

from belka_lab.dataset.prepare import PrepareOptions, prepare
from helpers import MOL_A, belka, data_overrides, kaggle_rows, write_submission, write_test_file


# from test_submission.py
def test_command_line_exits_2_on_a_bad_file(tmp_path):
    path = write_submission(tmp_path, [10, 10], [0.1, 0.2])
    r = belka("submission", "check", str(path))
    assert r.returncode == 2 and "appear more than once" in r.stderr


# from test_synth.py
def test_synth_command_writes_a_library(tmp_path):

    r = belka("synth", str(tmp_path / "lib"), "--n-train", "500", "--n-test", "90")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_train_rows"] == 1500
    assert pq.read_metadata(tmp_path / "lib" / "test.parquet").num_rows > 0


# from test_prepare.py
def test_prepare_killed_midway_leaves_nothing_complete_and_a_rerun_matches(tmp_path, rich_library):
    import signal
    import sys
    import time

    out = tmp_path / "prepared"
    code = (
        "from belka_lab.dataset.prepare import prepare, PrepareOptions; "
        f"prepare({str(rich_library / 'train.parquet')!r}, {str(rich_library / 'test.parquet')!r}, {str(out)!r}, "
        "options=PrepareOptions(batch_rows=500, progress=False))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while not list(tmp_path.glob(".prepared.tmp-*/train/tokens.npy")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed prepare must not leave a directory that looks complete"
    assert list(tmp_path.glob(".prepared.tmp-*"))  # the stale staging dir, hidden and without manifest
    prepare(
        rich_library / "train.parquet",
        rich_library / "test.parquet",
        out,
        options=PrepareOptions(batch_rows=500, progress=False),
    )
    assert not list(tmp_path.glob(".prepared.tmp-*")), "stale staging dirs are cleaned up"
    ref = prepare(
        rich_library / "train.parquet",
        rich_library / "test.parquet",
        tmp_path / "reference",
        options=PrepareOptions(batch_rows=7000, progress=False),
    )
    for part, name in [
        ("train", "tokens"),
        ("train", "labels"),
        ("train", "bb_ids"),
        ("train", "fold_stratified"),
        ("train", "fold_bb"),
        ("test", "tokens"),
    ]:
        assert (out / part / f"{name}.npy").read_bytes() == (ref / part / f"{name}.npy").read_bytes(), name


# from test_prepare.py
def test_prepare_command_exits_2_with_the_message(tmp_path):

    root = tmp_path / "belka"
    root.mkdir()
    pq.write_table(kaggle_rows([(0, MOL_A, "BRD4", 0), (1, MOL_A, "BRD5", 0)]), root / "train.parquet")
    write_test_file(root / "test.parquet", [MOL_A])
    r = belka(
        "prepare",
        "data=belka",
        f"data.root={root}",
        f"paths.root_dir={tmp_path}",
        "data.prepare.progress=false",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    assert "train.parquet: 1 rows have an unknown protein_name ['BRD5'] (ids 1)" in r.stderr
    assert not (root / "prepared").exists()


def test_the_command_word_picks_the_command_and_stays_on_the_command_line(tmp_path, tiny_library, monkeypatch, capsys):
    """`belka prepare …`: the word chooses the command, Hydra never sees it, and the command line the
    process keeps (what Lightning's DDP launcher starts the other processes with) still has it."""
    from belka_lab import cli

    argv = [
        "prepare",
        *data_overrides(tmp_path, tiny_library),
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={tmp_path}/r",
    ]
    monkeypatch.setattr(sys, "argv", ["belka", *argv])
    cli.main()
    assert sys.argv == ["belka", *argv]
    assert (tmp_path / "prepared" / "manifest.json").exists() and "prepared " in capsys.readouterr().out
    cli.main(["help"])
    usage = capsys.readouterr().out
    assert all(f"  {name}" in usage for name in cli.COMMANDS)
