"""A corpus of malformed files, generated here, over every command that reads a user's file.

Each case must end in exit 0 with the right result, or exit 2 with one ``error:`` line naming the
file: never exit 1, never a traceback, never a half-written output. The commands run in this
process (``belka_lab.cli.main``), as a user's command line would run them. docs/data.md and
docs/screening.md list the cases and what the user sees.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from belka_lab import cli
from belka_lab.core.errors import InputError
from belka_lab.dataset.prepare import PrepareOptions, prepare
from helpers import QUIET_TRAINER, compose_run

pytestmark = pytest.mark.slow


def command(capfd, *argv: str) -> tuple[int, str, str]:
    """(exit status, stderr, stdout) of ``belka <argv>`` run in this process."""
    try:
        code = cli.main(list(argv)) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capfd.readouterr()
    return code, err, out


def assert_clean_error(code: int, err: str, name: str) -> str:
    """Exit 2, one ``error:`` line naming ``name``, no traceback; the message."""
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert "Traceback" not in err and "Error executing job" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and name in lines[0], err[-2000:]
    assert err.rstrip().endswith(lines[0]), "the error is the last thing said, on its own line"
    return lines[0]


# ---------------------------------------------------------------------------- prepare: train files
@pytest.fixture(scope="module")
def kaggle(tiny_library) -> tuple[pa.Table, pa.Table]:
    """The first 120 molecules (360 rows) of the tiny library's train file, and 40 test rows."""
    return pq.read_table(tiny_library / "train.parquet").slice(0, 360), pq.read_table(
        tiny_library / "test.parquet"
    ).slice(0, 40)


def _csv_text(table: pa.Table) -> str:
    cols = table.column_names
    rows = zip(*(table[c].to_pylist() for c in cols))
    return ",".join(cols) + "\n" + "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in rows)


def _with(table: pa.Table, name: str, array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, array)


def _raw(name: str, data: bytes):
    """A writer of ``data`` as ``<dir>/<name>``; it returns the file's path."""

    def write(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return write


def _parquet(name: str, table: pa.Table):
    """A writer of ``table`` as ``<dir>/<name>`` in parquet; it returns the file's path."""

    def write(d: Path) -> Path:
        pq.write_table(table, d / name)
        return d / name

    return write


def _train_cases(train: pa.Table) -> dict:
    """name → (writer of the train file into a directory, expected exit, text the error names)."""
    text = _csv_text(train)

    def parquet(table):
        return _parquet("train.parquet", table)

    raw = _raw
    full = pa.BufferOutputStream()
    pq.write_table(train, full)
    full = full.getvalue().to_pybytes()
    gz = gzip.compress(text.encode())
    cases = {
        "empty file": (raw("train.parquet", b""), 2, "is empty"),
        "header only": (raw("train.csv", text.splitlines(True)[0].encode()), 2, "has no rows"),
        "truncated parquet": (raw("train.parquet", full[: len(full) // 2]), 2, "truncated parquet"),
        "gzip-truncated CSV": (raw("train.csv.gz", gz[: len(gz) // 2]), 2, "cannot be read"),
        "text with a .parquet suffix": (raw("train.parquet", b"this is not parquet\n"), 2, "is not a parquet file"),
        "UTF-8 BOM": (raw("train.csv", b"\xef\xbb\xbf" + text.encode()), 0, ""),
        "CRLF line ends": (raw("train.csv", text.replace("\n", "\r\n").encode()), 0, ""),
        "Latin-1 bytes in a SMILES": (
            raw("train.csv", text.replace("[Dy]", "[Dy]\xe9", 1).encode("latin-1")),
            2,
            "cannot be read",
        ),
        "dictionary columns": (
            parquet(
                _with(
                    _with(train, "protein_name", pc.dictionary_encode(train["protein_name"])),
                    "molecule_smiles",
                    pc.dictionary_encode(train["molecule_smiles"]),
                )
            ),
            0,
            "",
        ),
        "large_string columns": (
            parquet(
                pa.table(
                    {
                        c: train[c].cast(pa.large_string()) if train[c].type == pa.string() else train[c]
                        for c in train.column_names
                    }
                )
            ),
            0,
            "",
        ),
        "a column present twice": (
            raw(
                "train.csv",
                text.replace("binds\n", "binds,binds\n", 1)
                .replace("\n", ",0\n")
                .replace("binds,binds,0\n", "binds,binds\n", 1)
                .encode(),
            ),
            2,
            "more than once",
        ),
        "a directory where the file should be": (
            lambda d: (d / "train.parquet").mkdir() or d / "train.parquet",
            2,
            "is a directory",
        ),
    }
    for width in ("int8", "int16", "int32", "int64", "float32", "float64"):
        cases[f"binds as {width}"] = (parquet(_with(train, "binds", train["binds"].cast(width))), 0, "")
    for column in ("id", "molecule_smiles", "protein_name", "binds", "buildingblock1_smiles"):
        values = train[column].to_pylist()
        values[7] = None
        cases[f"a null in {column}"] = (parquet(_with(train, column, pa.array(values, train[column].type))), 2, "")
    return cases


@pytest.fixture(scope="module")
def train_cases(kaggle):
    return _train_cases(kaggle[0])


_SHAPE = pa.table(
    {
        "id": pa.array(range(9), pa.int64()),
        **{c: ["C"] * 9 for c in ("buildingblock1_smiles", "buildingblock2_smiles", "buildingblock3_smiles")},
        "molecule_smiles": ["C"] * 9,
        "protein_name": ["BRD4"] * 9,
        "binds": pa.array([0] * 9, pa.int64()),
    }
)
CASE_NAMES = list(_train_cases(_SHAPE))  # the cases' names, from a table of the Kaggle schema


@pytest.mark.parametrize("case", CASE_NAMES)
def test_prepare_reads_each_malformed_train_file_or_names_it(case, train_cases, kaggle, tmp_path, capfd):
    write, expected, says = train_cases[case]
    train = write(tmp_path)
    pq.write_table(kaggle[1], tmp_path / "test.parquet")
    out = tmp_path / "prepared"
    code, err, said = command(
        capfd,
        "prepare",
        "data=belka",
        f"data.root={tmp_path}",
        f"data.train_file={train}",
        f"data.prepared_dir={out}",
        "data.prepare.progress=false",
        "data.prepare.n_bb_groups=2",
        "+data.prepare.n_stratified_folds=2",
        f"hydra.run.dir={tmp_path}/run",
    )
    if expected == 0:
        assert code == 0, err[-3000:]
        assert (out / "manifest.json").exists()
        assert np.load(out / "train" / "labels.npy").shape == (120, 3)
    else:
        message = assert_clean_error(code, err, train.name)
        assert says in message
        assert not out.exists()
    assert not list(tmp_path.glob(".prepared.tmp-*")), "nothing half-written is left"


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    from belka_lab.synth.selection import SelectionConfig, simulate

    return simulate(tmp_path_factory.mktemp("sel") / "s", SelectionConfig(n_compounds=1500, n_heldout=100), False)


@pytest.mark.parametrize(
    "case",
    [
        "a negative count",
        "a count above int32",
        "no control under a ratio score",
        "a negative kd",
        "a kd not a number",
        "one replicate named with and without its round",
        "rounds keyed by names",
        "a mapping key it does not have",
        "the count pattern under its 0.9 name",
    ],
)
def test_prepare_names_a_bad_count_table_or_affinity_file(case, selection, tmp_path, capfd):
    import pandas as pd

    table, heldout = pd.read_parquet(selection / "selection.parquet"), pd.read_csv(selection / "heldout.csv")
    extra = []
    if case == "one replicate named with and without its round":  # seq_HSA_1 is round 1's replicate 1 too
        table = table.rename(columns={"seq_HSA_2": "seq_HSA_r1_1"})
        name, says = "bad.csv", "two columns for one replicate"
    elif case == "rounds keyed by names":
        samples = "{BRD4: {first: [seq_BRD4_1]}, HSA: [seq_HSA_1], sEH: [seq_sEH_1], matrix: [seq_matrix_1]}"
        extra = [f"data.prepare.counts.samples={samples}"]
        name, says = "bad.csv", "keys must be round numbers"
    elif case == "a mapping key it does not have":
        extra, name, says = ["+data.prepare.counts.patern=seq"], "data.prepare.counts", "no key patern"
    elif case == "the count pattern under its 0.9 name":
        extra, name = ["data.prepare.counts.counts=seq"], "data.prepare.counts.counts"
        says = "write data.prepare.counts.pattern="
    elif case == "a negative count":
        table.loc[9, "seq_HSA_2"] = -4
        name, says = "bad.csv", "seq_HSA_2"
    elif case == "a count above int32":
        table["seq_HSA_2"] = table["seq_HSA_2"].astype("int64")
        table.loc[9, "seq_HSA_2"] = 2**31
        name, says = "bad.csv", "above 2,147,483,647"
    elif case == "no control under a ratio score":
        table = table.drop(columns=["seq_matrix_1", "seq_matrix_2", "seq_matrix_3"])
        name, says = "bad.csv", "controls=[] when the selection has none"
    elif case == "a negative kd":
        heldout.loc[3, "kd"] = -1.0
        name, says = "heldout.csv", "rows 3"
    else:
        heldout["kd"] = heldout["kd"].astype(str)
        heldout.loc[5, "kd"] = "about 40"
        name, says = "heldout.csv", "kd"
    table.to_csv(tmp_path / "bad.csv", index=False)
    heldout.to_csv(tmp_path / "heldout.csv", index=False)
    out = tmp_path / "prepared"
    code, err, said = command(
        capfd,
        "prepare",
        "data=counts",
        f"data.root={tmp_path}",
        f"data.train_file={tmp_path}/bad.csv",
        f"data.test_file={tmp_path}/heldout.csv",
        f"data.prepared_dir={out}",
        "data.prepare.progress=false",
        f"hydra.run.dir={tmp_path}/run",
        *extra,
    )
    assert says in assert_clean_error(code, err, name)
    assert not out.exists()


def test_prepare_reads_heldout_files_whose_block_columns_have_gaps_and_says_so(selection, tmp_path, capfd):
    """A held-out directory: one file with an empty block cell, one without a block column. Exit 0;
    the empty cell is that cycle unnamed (-1), the file without smiles_c gives no blocks (its
    library members take their rows', the others none), and both are said."""
    import pandas as pd

    heldout = pd.read_csv(selection / "heldout.csv")
    molecules = heldout["smiles"].unique()
    first = heldout[heldout["smiles"].isin(molecules[::2])].copy()  # every other: members and outsiders in each
    first.loc[first.index[0], "smiles_b"] = None  # an empty cell
    second = heldout[~heldout["smiles"].isin(first["smiles"])].drop(columns=["smiles_c"])
    (tmp_path / "heldout").mkdir()
    first.to_csv(tmp_path / "heldout" / "a.csv", index=False)
    second.to_csv(tmp_path / "heldout" / "b.csv", index=False)
    out = tmp_path / "prepared"
    code, err, said = command(
        capfd,
        "prepare",
        "data=counts",
        f"data.root={selection}",
        f"data.test_file={tmp_path}/heldout",
        f"data.prepared_dir={out}",
        "data.prepare.progress=false",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert code == 0, err[-3000:]
    assert "b.csv: " in err and "its block columns lack smiles_c: no compound's blocks are read from it" in err
    unnamed = first.iloc[0]
    who = unnamed["molecule_hash"] if isinstance(unnamed["molecule_hash"], str) else "row 0"
    assert f"1 name no block in some cycle ({who})" in err
    rows = pd.read_parquet(out / "test" / "rows.parquet")
    bb = np.load(out / "test" / "bb_ids.npy")
    of = rows.groupby("molecule")["file"].first()
    in_a, in_b = of.index[of == "a.csv"], of.index[of == "b.csv"]
    assert bb[in_a[0]].tolist()[1] == -1 and (bb[in_a[0]][[0, 2]] >= 0).all()  # the empty cell: that cycle only
    assert (bb[in_a[1:]] >= 0).all()
    member = second.drop_duplicates("smiles")["molecule_hash"].notna().to_numpy()
    assert member.any() and (~member).any()
    assert (bb[in_b[member]] >= 0).all() and (bb[in_b[~member]] == -1).all()  # by id: the library row's blocks


def test_prepare_into_a_full_disk_or_under_a_file_is_one_error_and_leaves_nothing(kaggle, tmp_path, capfd, monkeypatch):
    from belka_lab.dataset import store

    pq.write_table(kaggle[0], tmp_path / "train.parquet")
    pq.write_table(kaggle[1], tmp_path / "test.parquet")
    base = [
        "prepare",
        "data=belka",
        f"data.root={tmp_path}",
        "data.prepare.progress=false",
        "data.prepare.n_bb_groups=2",
        "+data.prepare.n_stratified_folds=2",
        f"hydra.run.dir={tmp_path}/run",
    ]
    (tmp_path / "afile").write_text("x")
    code, err, said = command(capfd, *base, f"data.prepared_dir={tmp_path}/afile/prepared")
    assert "cannot write" in assert_clean_error(code, err, "afile")

    def full(self, rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.NpyAppender, "append", full)
    code, err, said = command(capfd, *base, f"data.prepared_dir={tmp_path}/prepared")
    assert "No space left on device" in assert_clean_error(code, err, "prepared")
    assert not (tmp_path / "prepared").exists() and not list(tmp_path.glob(".prepared.tmp-*"))


# ---------------------------------------------------------------------------- predict: molecule files and runs
@pytest.fixture(scope="module")
def trained(tiny_library, tmp_path_factory):
    from belka_lab.training.train import train

    tmp = tmp_path_factory.mktemp("corpus")
    train(
        compose_run(
            "train",
            tmp,
            tiny_library,
            "run",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=4",
            "data.batch_size=64",
            "data.eval_batch_size=256",
            *QUIET_TRAINER,
        )
    )
    return tmp / "run"


def _molecule_cases(smiles: list[str]) -> dict:
    table = pa.table({"id": list(range(len(smiles))), "molecule_smiles": smiles})
    text = _csv_text(table)
    full = pa.BufferOutputStream()
    pq.write_table(table, full)
    full = full.getvalue().to_pybytes()
    gz = gzip.compress(text.encode())

    def parquet(t):
        return _parquet("in.parquet", t)

    raw = _raw

    return {
        "empty file": (raw("in.csv", b""), 2, "is empty"),
        "header only": (raw("in.csv", b"id,molecule_smiles\n"), 2, "holds no molecules"),
        "truncated parquet": (raw("in.parquet", full[: len(full) // 2]), 2, "truncated parquet"),
        "gzip-truncated CSV": (raw("in.csv.gz", gz[: len(gz) // 2]), 2, "cannot be read"),
        "text with a .parquet suffix": (raw("in.parquet", b"this is not parquet\n"), 2, "is not a parquet file"),
        "UTF-8 BOM": (raw("in.csv", b"\xef\xbb\xbf" + text.encode()), 0, ""),
        "CRLF line ends": (raw("in.csv", text.replace("\n", "\r\n").encode()), 0, ""),
        "Latin-1 bytes in a SMILES": (
            raw("in.csv", text.replace("[Dy]", "[Dy]\xe9", 1).encode("latin-1")),
            2,
            "in.csv",
        ),
        "dictionary SMILES": (
            parquet(_with(table, "molecule_smiles", pc.dictionary_encode(table["molecule_smiles"]))),
            0,
            "",
        ),
        "large_string SMILES": (
            parquet(_with(table, "molecule_smiles", table["molecule_smiles"].cast(pa.large_string()))),
            0,
            "",
        ),
        "int8 ids": (parquet(_with(table, "id", table["id"].cast(pa.int8()))), 0, ""),
        "whitespace around SMILES": (
            raw(
                "in.csv",
                "\n".join(["id,molecule_smiles", *(f"{i}, {s}\t" for i, s in enumerate(smiles))]).encode() + b"\n",
            ),
            0,
            "",
        ),
        "a null SMILES": (parquet(_with(table, "molecule_smiles", pa.array([None, *smiles[1:]]))), 2, "missing SMILES"),
        "a column present twice": (
            raw("in.csv", text.replace("id,molecule_smiles\n", "molecule_smiles,molecule_smiles\n", 1).encode()),
            2,
            "in.csv",
        ),
        "a directory without molecule files": (lambda d: (d / "in").mkdir() or d / "in", 2, "has no molecule files"),
    }


MOLECULE_CASES = list(_molecule_cases(["C"]))


@pytest.mark.parametrize("case", MOLECULE_CASES)
def test_predict_reads_each_malformed_molecule_file_or_names_it(case, trained, tiny_library, tmp_path, capfd):
    smiles = pq.read_table(tiny_library / "test.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[:30]
    write, expected, says = _molecule_cases(smiles)[case]
    path = write(tmp_path)
    out = tmp_path / "scores.parquet"
    code, err, said = command(
        capfd,
        "predict",
        f"run={trained}",
        f"input={path}",
        f"output={out}",
        "progress=false",
        f"hydra.run.dir={tmp_path}/predict",
    )
    if expected == 0:
        assert code == 0, err[-3000:]
        scores = pq.read_table(out)
        assert scores.num_rows == 30
        assert not np.isnan(np.asarray(scores["BRD4"])).any()
        if case == "whitespace around SMILES":
            assert "30 SMILES trimmed of surrounding whitespace" in said, said
    else:
        message = assert_clean_error(code, err, path.name)
        assert says in message
        assert not out.exists()


def test_a_broken_run_directory_or_model_file_is_one_error(trained, tiny_library, tmp_path, capfd):
    import shutil

    inp = tmp_path / "in.smi"
    inp.write_text("CCO\n")
    base = [f"input={inp}", "progress=false", f"hydra.run.dir={tmp_path}/predict"]
    bad = tmp_path / "bad_run"
    shutil.copytree(trained, bad)
    (bad / "results.json").write_text("{not json")
    code, err, said = command(capfd, "predict", f"run={bad}", f"output={tmp_path}/a.parquet", *base)
    assert_clean_error(code, err, "results.json")

    results = json.loads((trained / "results.json").read_text())
    results["checkpoint"] = str(bad / "checkpoints" / Path(results["checkpoint"]).name)  # the copy's own
    (bad / "results.json").write_text(json.dumps(results))
    for ckpt in (bad / "checkpoints").glob("*.ckpt"):
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    code, err, said = command(capfd, "predict", f"run={bad}", f"output={tmp_path}/b.parquet", *base)
    assert_clean_error(code, err, ".ckpt")

    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not a model")
    (tmp_path / "model.json").write_text((trained / "results.json").read_text())
    code, err, said = command(capfd, "predict", f"model_file={onnx}", f"output={tmp_path}/c.parquet", *base)
    assert_clean_error(code, err, "model")


def test_an_encoder_of_another_tokenizer_is_one_error_naming_both_tokenizers(tiny_library, tmp_path, capfd):
    """Raised while Hydra instantiates the module: the wrapping is taken off, exit 2, no banner."""
    import torch

    from belka_lab.models.init_from import save_encoder

    enc = tmp_path / "encoder.pt"
    save_encoder(enc, torch.nn.Linear(2, 2), {}, tokens={"name": "atom", "vocab_size": 38})
    code, err, said = command(
        capfd,
        "train",
        f"paths.root_dir={tmp_path}",
        f"data.root={tiny_library}",
        "data.synth=null",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.prepare.progress=false",
        f"model.init_from={enc}",
        f"hydra.run.dir={tmp_path}/run",
        *QUIET_TRAINER,
    )
    message = assert_clean_error(code, err, "encoder.pt")
    assert "tokenizer=atom (38 token ids)" in message and "tokenizer=char" in message


# ---------------------------------------------------------------------------- submission files
@pytest.mark.parametrize(
    ("case", "data", "expected"),
    [
        ("empty file", b"", 2),
        ("header only", b"id,binds\n", 0),
        ("UTF-8 BOM", b"\xef\xbb\xbfid,binds\n1,0.5\n", 0),
        ("CRLF line ends", b"id,binds\r\n1,0.5\r\n", 0),
        ("a column present twice", b"id,binds,binds\n1,0.5,0.5\n", 2),
        ("text that is not CSV", b"\x00\x01\x02garbage", 2),
        ("gzip bytes with a .csv name", gzip.compress(b"id,binds\n1,0.5\n"), 2),
    ],
)
def test_submission_check_reads_each_malformed_file_or_names_it(case, data, expected, tmp_path, capfd):
    path = tmp_path / "submission.csv"
    path.write_bytes(data)
    code, err, said = command(capfd, "submission", "check", str(path))
    if expected == 0:
        assert code == 0, err
    else:
        assert_clean_error(code, err, "submission.csv")


# ---------------------------------------------------------------------------- mutations
def test_random_byte_flips_and_truncations_of_train_files_end_in_a_result_or_an_input_error(kaggle, tmp_path):
    """A few hundred damaged copies of a valid parquet and CSV train file (fixed seed): each is
    prepared, or refused with an InputError; any other exception fails the test."""
    train, test = kaggle
    pq.write_table(test, tmp_path / "test.parquet")
    buf = pa.BufferOutputStream()
    pq.write_table(train.slice(0, 90), buf)
    sources = {"train.parquet": buf.getvalue().to_pybytes(), "train.csv": _csv_text(train.slice(0, 90)).encode()}
    rng = np.random.default_rng(0)
    opts = PrepareOptions(batch_rows=50, progress=False, n_stratified_folds=2, n_bb_groups=2)
    outcomes = {"prepared": 0, "refused": 0}
    for k in range(240):
        name = "train.parquet" if k % 2 else "train.csv"
        data = bytearray(sources[name])
        if k % 3 == 0:
            data = data[: int(rng.integers(1, len(data)))]
        else:
            for pos in rng.integers(0, len(data), int(rng.integers(1, 8))):
                data[pos] = int(rng.integers(0, 256))
        case = tmp_path / f"case{k}"
        case.mkdir()
        (case / name).write_bytes(bytes(data))
        try:
            prepare(case / name, tmp_path / "test.parquet", case / "prepared", options=opts)
            outcomes["prepared"] += 1
            assert (case / "prepared" / "manifest.json").exists()
        except InputError as e:
            outcomes["refused"] += 1
            assert str(case / name) in str(e) or name in str(e), e
            assert not (case / "prepared").exists()
        assert not list(case.glob(".prepared.tmp-*"))
    assert outcomes["refused"] > 50 and outcomes["prepared"] > 0, outcomes


def test_an_error_while_a_progress_bar_is_open_gets_a_line_of_its_own(trained, tiny_library, tmp_path, capfd):
    smiles = pq.read_table(tiny_library / "test.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[:30]
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(30)), "molecule_smiles": [*smiles[:29], None]}), path)
    code, err, said = command(
        capfd,
        "predict",
        f"run={trained}",
        f"input={path}",
        f"output={tmp_path}/o.parquet",
        "progress=true",
        f"hydra.run.dir={tmp_path}/predict",
    )
    assert "predict:" in err  # the bar was drawn
    assert "missing SMILES" in assert_clean_error(code, err, "in.parquet")
