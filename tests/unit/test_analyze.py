"""``belka analyze`` on a small prepared selection: the cube chosen over the whole library, RDKit's
parse errors said once, and a count table without a no-target control."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from belka_lab.analysis import figures
from belka_lab.analysis.analyze import AnalyzeConfig, analyze
from belka_lab.analysis.hits import HitListConfig
from belka_lab.core.errors import InputError
from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.synth.selection import SelectionConfig, simulate

BAD = "C(C)(C)(C)(C)C"  # pentavalent carbon: RDKit's "Explicit valence … is greater than permitted"
MATRIX = ["seq_matrix_1", "seq_matrix_2", "seq_matrix_3"]


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyze")
    return pd.read_parquet(
        simulate(tmp / "s", SelectionConfig(n_compounds=300, n_heldout=20), False) / "selection.parquet"
    )


def _prepared(table: pd.DataFrame, path, **counts):
    table.to_parquet(path.with_suffix(".parquet"))
    options = PrepareOptions(format="counts", counts=counts, n_bb_groups=3, batch_rows=700, progress=False)
    return prepare(path.with_suffix(".parquet"), None, path, options=options)


def test_the_cube_draws_the_whole_library_and_marks_the_predicted_compounds():
    rng = np.random.default_rng(0)
    n, top, sample = 50_000, 40, 60
    bb = rng.integers(0, 30, (n, 3)).astype(np.int32)
    observed = rng.normal(size=n).astype(np.float32)
    predicted = np.full(n, np.nan, np.float32)
    fold = np.arange(0, n, 7)  # a run's validation fold: one compound in seven
    predicted[fold] = rng.normal(size=len(fold))
    points = figures.cube_points(bb, observed, top, sample, seed=1, predicted=predicted)
    best_observed = np.argsort(-observed, kind="stable")[:top]
    best_predicted = fold[np.argsort(-predicted[fold], kind="stable")[:top]]
    assert set(best_observed) | set(best_predicted) == set(points.loc[points["top"], "molecule"])
    assert len(points) == len(set(best_observed) | set(best_predicted)) + sample
    assert np.array_equal(points["observed"], observed[points["molecule"]])  # every drawn compound observed
    have = points["predicted"].notna()
    assert set(points.loc[have, "molecule"]) == set(points["molecule"]) & set(fold)  # the model's only where it ran
    assert (~have).sum() > sample / 2  # the sample is the library's, not the fold's
    small = figures.cube_points(bb[:500], observed[:500], top, 1000, predicted=predicted[:500])
    assert small["molecule"].tolist() == list(range(500))  # a small library is drawn whole


def test_a_smiles_rdkit_cannot_parse_is_said_once_and_left_out(selection, tmp_path, capfd):
    table = selection.copy()
    table.loc[7, "smiles"] = BAD
    table.loc[7, ["seq_BRD4_1", "seq_BRD4_2", "seq_BRD4_3"]] = 400  # the best BRD4 compound: a candidate
    library = _prepared(table, tmp_path / "p")
    capfd.readouterr()
    summary = analyze(library, [], tmp_path / "a", AnalyzeConfig(hits=HitListConfig(n=5, pool=6)))
    out, err = capfd.readouterr()
    said = [line for line in (out + err).splitlines() if "RDKit cannot parse" in line]
    assert len(said) == 1 and "1 of the 30 candidates" in said[0] and "(molecules 7)" in said[0], out + err
    assert "valence" not in err.lower() and "SMILES Parse Error" not in err, err
    assert summary["unparsable"]["compounds"] == 1 and summary["unparsable"]["molecules"] == [7]
    assert 7 not in set(pd.read_parquet(tmp_path / "a" / "hits.parquet")["molecule"])  # no fingerprint to cluster
    assert "RDKit cannot parse 1 of the 30" in (tmp_path / "a" / "report.html").read_text()
    cube = pd.read_parquet(tmp_path / "a" / "cube_BRD4.parquet")
    assert len(cube) == len(table) and "predicted" not in cube  # no runs: the observed values, every compound


@pytest.mark.parametrize("load", [True, False])
def test_a_table_without_a_control_ranks_synthons_against_the_load_or_an_even_share(selection, tmp_path, load):
    table = selection.drop(columns=MATRIX + ([] if load else ["seq_load"]))
    library = _prepared(table, tmp_path / "p", controls=[], score="normalized_z", load="seq_load" if load else None)
    summary = analyze(library, [], tmp_path / "a", AnalyzeConfig(hits=HitListConfig(n=5, pool=4)))
    against = "load" if load else "even share"
    assert summary["synthons_against"] == {"BRD4": against, "HSA": against, "sEH": against}
    assert summary["values"] == "observed normalized z-score"
    mono = pd.read_parquet(tmp_path / "a" / "synthons_mono.parquet")
    row = mono[(mono["target"] == "HSA") & (mono["cycles"] == "2")].iloc[0]
    members = table[table["smiles_b"] == row["block_2"]]
    reads = members[["seq_HSA_1", "seq_HSA_2", "seq_HSA_3"]].to_numpy().sum()
    depth = table[["seq_HSA_1", "seq_HSA_2", "seq_HSA_3"]].to_numpy().sum()
    assert (row["reference"], row["reads_target"], row["compounds"]) == (against, reads, len(members))
    if load:
        share = (members["seq_load"].sum() + 3 / 8) / table["seq_load"].sum()
        assert row["reads_load"] == members["seq_load"].sum()
    else:
        share = len(members) / len(table)
        assert row["expected_reads"] == pytest.approx(depth * share)
    assert row["enrichment"] == pytest.approx(((reads + 3 / 8) / depth) / share)
    assert row["enrichment_lo"] < row["enrichment"] < row["enrichment_hi"]
    assert "control_enrichment" not in pd.read_parquet(tmp_path / "a" / "hits.parquet")
    with pytest.raises(InputError, match="max_control needs a no-target control.*names none for target BRD4"):
        analyze(library, [], tmp_path / "b", AnalyzeConfig(hits=HitListConfig(n=5, max_control=3.0)))
    assert json.loads((tmp_path / "a" / "analysis.json").read_text())["synthons_against"]["HSA"] == against


def test_the_analyze_config_file_and_the_code_defaults_agree():
    from belka_lab.core.config import compose

    assert AnalyzeConfig.of(compose("analyze", ["paths.root_dir=/tmp"])) == AnalyzeConfig()
