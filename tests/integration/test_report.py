import pandas as pd

from helpers import belka


def test_a_two_by_two_multirun_gives_four_runs_and_a_summary(tmp_path, tiny_library):
    sweep = tmp_path / "sweep"
    r = belka(
        "-m",
        "model=se_xception",
        "model.backbone.width=0.0625,0.125",
        "model.backbone.depth=0.5,1",
        "debug=fdr",
        f"data.root={tiny_library}",
        "data.synth=null",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.prepare.progress=false",
        "data.batch_size=16",
        "data.eval_batch_size=64",
        f"paths.root_dir={tmp_path}",
        f"hydra.sweep.dir={sweep}",
        "trainer.enable_progress_bar=false",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    r = belka("report", str(sweep))
    assert r.returncode == 0, r.stderr
    summary = pd.read_csv(sweep / "summary.csv")
    assert len(summary) == 4
    assert set(summary["varied"]) == {f"depth={d} width={w}" for d in ("0.5", "1") for w in ("0.0625", "0.125")}
    assert summary["val_map"].is_monotonic_decreasing
    assert (
        summary.groupby("varied")["params"].first()["depth=1 width=0.125"] > summary["params"]
    ).sum() == 3  # the largest net
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_a_directory_without_runs(tmp_path):
    r = belka("report", str(tmp_path))
    assert r.returncode == 2 and "no run with results.json" in r.stderr
