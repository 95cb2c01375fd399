import pandas as pd
import pytest

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
    assert summary["val_map"].dropna().is_monotonic_decreasing  # one fdr batch may hold no positive: undefined, last
    assert (
        summary.groupby("varied")["params"].first()["depth=1 width=0.125"] > summary["params"]
    ).sum() == 3  # the largest net
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_a_directory_without_runs(tmp_path):
    r = belka("report", str(tmp_path))
    assert r.returncode == 2 and "no run with results.json" in r.stderr


def _fake_run(root, name, overrides, val_cells, test_groups):
    """A finished run's files as the training command writes them (results.json/csv, overrides)."""
    import json

    import yaml

    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    rows = [{"set": "val", "group": c, "protein": p, "ap": ap} for c, ap in val_cells.items() for p in ("BRD4", "HSA")]
    rows += [
        {"set": "test", "group": g, "protein": p, "ap": ap} for g, ap in test_groups.items() for p in ("BRD4", "HSA")
    ]
    val_map = sum(val_cells.values()) / len(val_cells)
    rows += [{"set": "val", "group": "fold_bb=0", "protein": "mean", "ap": val_map}]
    pd.DataFrame(rows).to_csv(run / "results.csv", index=False)
    (run / "results.json").write_text(json.dumps({"val_map": val_map, "test_score": sum(test_groups.values()) / 3}))
    return run


def test_report_tells_whether_validation_picks_the_winner(tmp_path):
    import numpy as np
    from scipy.stats import spearmanr

    sweep = tmp_path / "sweep"
    # recipe b is better on unseen blocks in validation and in test; a is better on share
    table = {
        ("a", 1): (0.30, 0.10, 0.05, 0.20, 0.04, 0.02),
        ("a", 2): (0.32, 0.12, 0.06, 0.22, 0.05, 0.03),
        ("b", 1): (0.25, 0.15, 0.11, 0.18, 0.09, 0.05),
        ("b", 2): (0.27, 0.16, 0.14, 0.17, 0.10, 0.06),
        ("c", 1): (0.20, 0.09, 0.08, 0.15, 0.07, 0.01),
        ("c", 2): (0.21, 0.08, 0.07, 0.16, 0.06, 0.02),
    }
    for i, ((recipe, seed), (vs, vp, vn, ts, tn, to)) in enumerate(table.items()):
        run = _fake_run(
            sweep,
            str(i),
            [f"model={recipe}", f"seed={seed}"],
            {"share": vs, "partial": vp, "non_share": vn},
            {"share": ts, "non_share": tn, "other_core": to},
        )
        if i == 0:  # a pretraining stage inside a run: not a run of the sweep
            (run / "pretrain" / "1-mlm").mkdir(parents=True)
            (run / "pretrain" / "1-mlm" / "results.json").write_text('{"objective": "mlm", "encoder": "x"}')
    r = belka("report", str(sweep))
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(sweep / "summary.csv")) == 6
    recipes = pd.read_csv(sweep / "recipes.csv").set_index("varied")
    assert list(recipes["seeds"]) == [2, 2, 2]
    assert recipes.loc["model=b", "val_non_share_mean"] == pytest.approx(np.mean([0.11, 0.14]))
    assert recipes.loc["model=b", "val_non_share_std"] == pytest.approx(np.std([0.11, 0.14], ddof=1))
    agree = pd.read_csv(sweep / "agreement.csv").set_index(["validation", "test"])
    vn = [v[2] for v in table.values()]
    tn = [v[4] for v in table.values()]
    assert agree.loc[("val_non_share", "test_non_share"), "spearman"] == pytest.approx(spearmanr(vn, tn).statistic)
    assert agree.loc[("val_non_share", "test_non_share"), "best_on_validation"] == "model=b"
    assert bool(agree.loc[("val_non_share", "test_non_share"), "validation_picks_it"])
    assert agree.loc[("val_share", "test_share"), "best_on_validation"] == "model=a"
    assert (sweep / "recipes.png").read_bytes()[:4] == b"\x89PNG"
    assert "does validation pick the winner?" in r.stdout
