"""Count tables in: KinDEL's format prepared as it is, scores and hits as configured, every bad
input one clear error with nothing half-written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belka_lab.core.errors import InputError
from belka_lab.dataset import enrichment
from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.dataset.store import PreparedDataset
from belka_lab.synth.selection import SelectionConfig, simulate
from kindel_files import one_target


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sel") / "s", SelectionConfig(n_compounds=3000, n_heldout=200), False)


def _options(**counts) -> PrepareOptions:
    return PrepareOptions(format="counts", counts=counts, n_bb_groups=3, batch_rows=700, progress=False)


def test_a_simulated_selection_prepares_with_kindels_names(selection, tmp_path):
    out = prepare(selection / "selection.parquet", selection / "heldout.csv", tmp_path / "p", options=_options())
    d = PreparedDataset(out)
    table = pd.read_parquet(selection / "selection.parquet")
    layout = d.manifest["count_table"]
    assert d.targets == ("BRD4", "HSA", "sEH")
    assert layout["columns"][:3] == ["seq_BRD4_1", "seq_BRD4_2", "seq_BRD4_3"] and layout["load"] == 12
    counts = np.asarray(d.train("counts"))
    assert np.array_equal(counts, table[layout["columns"]].to_numpy())  # every batch, in order
    assert layout["totals"] == table[layout["columns"]].sum().tolist()
    # the stored score is log10 of del_qsar's lower bound, from the summed replicates
    k_t, k_c = counts[:, 0:3].sum(1), counts[:, 9:12].sum(1)
    n_t, n_c = sum(layout["totals"][0:3]), sum(layout["totals"][9:12])
    expected = np.log10(np.maximum(enrichment.ratio_bound(k_t, n_t, k_c, n_c, 2.0), 1e-2))
    assert np.allclose(d.train("scores")[:, 0], expected, atol=1e-5)
    hits = np.asarray(d.train("labels"))
    assert 0.005 <= hits.mean(axis=0).min() and hits.mean(axis=0).max() <= 0.02  # the top 1% (ties decide)
    rows = d.test_rows()
    heldout = pd.read_csv(selection / "heldout.csv")
    assert len(rows) == len(heldout) and np.allclose(rows["kd"], heldout["kd"])
    assert set(rows["split_group"]) == {"seen", "unseen"}
    assert d.n_test == heldout["smiles"].nunique()


def test_a_one_target_kindel_file_in_csv_with_a_threshold(selection, tmp_path):
    kindel = one_target(pd.read_parquet(selection / "selection.parquet"))
    kindel.to_csv(tmp_path / "kindel.csv", index=False)
    out = prepare(
        tmp_path / "kindel.csv",
        None,
        tmp_path / "p",
        options=_options(names={"target": "sEH"}, score="ratio", threshold=3.0),
    )
    d = PreparedDataset(out)
    assert d.targets == ("sEH",) and d.n_test == 0
    raw = 10 ** np.asarray(d.train("scores"))[:, 0]
    assert np.array_equal(np.asarray(d.train("labels"))[:, 0] == 1, raw >= 3.0 * (1 - 1e-6))


BAD = {
    "a negative count": (
        lambda t: t.assign(seq_HSA_2=t["seq_HSA_2"].where(t.index != 5, -1)),
        "seq_HSA_2.*has 1 negative .*rows 5\\b.*e.g. -1",
    ),
    "a fractional count": (
        lambda t: t.assign(seq_BRD4_1=t["seq_BRD4_1"].astype(float).where(t.index != 7, 2.5)),
        "seq_BRD4_1.*has 1 fractional .*rows 7\\b.*e.g. 2.5",
    ),
    "a count above the int32 range": (
        lambda t: t.assign(seq_BRD4_1=t["seq_BRD4_1"].astype("int64").where(t.index != 8, 2**31)),
        "seq_BRD4_1.*has 1 above 2,147,483,647.*rows 8\\b.*e.g. 2.14748e\\+09",
    ),
    "a missing count": (
        lambda t: t.assign(seq_BRD4_1=t["seq_BRD4_1"].astype("Int64").where(t.index != 9, None)),
        "seq_BRD4_1.*has 1 missing .*rows 9\\b.*e.g. null",
    ),
    "a missing SMILES": (
        lambda t: t.assign(smiles=t["smiles"].where(t.index != 3, None)),
        "missing or empty smiles \\(rows 3\\)",
    ),
    "a count that is not a number": (lambda t: t.assign(seq_load=t["seq_load"].astype(str)), "seq_load.*not numbers"),
    "a missing control": (
        lambda t: t.drop(columns=["seq_matrix_1", "seq_matrix_2", "seq_matrix_3"]),
        "control.*matrix.*controls=\\[\\] when the selection has none",
    ),
    "a target read zero times": (
        lambda t: t.assign(seq_sEH_1=0, seq_sEH_2=0, seq_sEH_3=0),
        "sEH's counts.*sum to zero",
    ),
    "a compound missing a cycle": (
        lambda t: t.assign(smiles_c=t["smiles_c"].where(t.index != 11, None)),
        "cycle column 'smiles_c'.*rows 11\\b",
    ),
    "a missing load column": (lambda t: t.drop(columns=["seq_load"]), "load column 'seq_load' is missing"),
    "a repeated id": (
        lambda t: t.assign(molecule_hash=t["molecule_hash"].where(t.index != 2500, t["molecule_hash"][4])),
        "1 rows repeat the molecule_hash of an earlier row",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_count_tables_are_one_clear_error(selection, tmp_path, case):
    change, message = BAD[case]
    change(pd.read_parquet(selection / "selection.parquet")).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=message):
        prepare(tmp_path / "bad.parquet", None, tmp_path / "p", options=_options())
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "case, change, message",
    [
        (
            "a negative kd",
            lambda h: h.assign(kd=h["kd"].where(h.index != 3, -2.0)),
            "negative or infinite kd \\(rows 3\\b",
        ),
        ("an unknown target", lambda h: h.assign(target=h["target"].where(h.index != 2, "KRAS")), "KRAS"),
    ],
)
def test_a_bad_affinity_file_is_one_clear_error(selection, tmp_path, case, change, message):
    change(pd.read_csv(selection / "heldout.csv")).to_csv(tmp_path / "heldout.csv", index=False)
    with pytest.raises(InputError, match=message):
        prepare(selection / "selection.parquet", tmp_path / "heldout.csv", tmp_path / "p", options=_options())
    assert not (tmp_path / "p").exists()


def test_held_out_ids_the_table_lacks_are_counted_and_kept(selection, tmp_path, capfd):
    held = pd.read_csv(selection / "heldout.csv")
    held.assign(molecule_hash=held["molecule_hash"].where(held.index != 0, "feedfeedfeedfeed")).to_csv(
        tmp_path / "heldout.csv", index=False
    )
    out = prepare(selection / "selection.parquet", tmp_path / "heldout.csv", tmp_path / "p", options=_options())
    err = capfd.readouterr().err
    assert "the molecule_hash of 1 compounds is not in" in err and "feedfeedfeedfeed" in err
    assert PreparedDataset(out).n_test == held["smiles"].nunique()


def test_a_deli_cube_prepares_with_samples_named_by_column(selection, tmp_path):
    t = pd.read_parquet(selection / "selection.parquet")
    cube = pd.DataFrame({"DEL_ID": [f"DEL003-{i}" for i in range(len(t))], "SMILES": t["smiles"]})
    for i, c in enumerate(("smiles_a", "smiles_b", "smiles_c")):
        cube[f"BB{i + 1}_SMILES"] = t[c]
    for r in (1, 2, 3):
        cube[f"corrected_index{r + 3}"] = t[f"seq_HSA_{r}"]
    cube["corrected_index7"] = t["seq_matrix_1"]
    cube.to_csv(tmp_path / "cube.csv", index=False)
    mapping = dict(
        id="DEL_ID",
        smiles="SMILES",
        blocks=["BB1_SMILES", "BB2_SMILES", "BB3_SMILES"],
        samples={"HSA": ["corrected_index4", "corrected_index5", "corrected_index6"], "beads": ["corrected_index7"]},
        controls=["beads"],
        load=None,
    )
    d = PreparedDataset(prepare(tmp_path / "cube.csv", None, tmp_path / "p", options=_options(**mapping)))
    assert d.targets == ("HSA",)
    layout = d.manifest["count_table"]
    assert layout["targets"]["HSA"] == {"columns": [0, 1, 2], "control": "beads"} and layout["load"] is None
    assert np.array_equal(np.asarray(d.train("counts"))[:, 3], t["seq_matrix_1"].to_numpy())


def test_a_selection_simulated_before_a_setting_existed_is_reused_with_that_setting_at_its_default(tmp_path):
    import json
    import shutil

    cfg = SelectionConfig(n_compounds=300, n_heldout=20)
    out = simulate(tmp_path / "s", cfg, False)
    marker = json.loads((out / "selection.json").read_text())
    del marker["config"]["rounds"]  # as 0.9 wrote it
    (out / "selection.json").write_text(json.dumps(marker))
    before = (out / "selection.parquet").stat().st_mtime_ns
    assert simulate(out, cfg, False) == out and (out / "selection.parquet").stat().st_mtime_ns == before
    with pytest.raises(InputError, match="holds another selection"):
        simulate(out, SelectionConfig(n_compounds=300, n_heldout=20, rounds=3), False)
    shutil.rmtree(out)
