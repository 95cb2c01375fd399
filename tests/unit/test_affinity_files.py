"""Held-out affinity files as they come: KinDEL's (no target column, an unnamed index column, text
kd with censored values, a kd of 0, on- and off-DNA files in one directory), each exclusion counted
and said, bad values one clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr

from belka_lab.core.errors import InputError
from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.dataset.store import PreparedDataset
from belka_lab.evaluation.affinity import HeldOutAffinity
from belka_lab.synth.selection import SelectionConfig, simulate
from kindel_files import expected_kd, kindel_files

KINDEL = {"names": {"target": "DDR1"}}


@pytest.fixture(scope="module")
def kindel(tmp_path_factory):
    selection = simulate(tmp_path_factory.mktemp("sel") / "s", SelectionConfig(n_compounds=1500, n_heldout=60), False)
    return kindel_files(selection, tmp_path_factory.mktemp("kindel") / "k"), selection


def _options(counts=KINDEL, **affinity) -> PrepareOptions:
    return PrepareOptions(
        format="counts", counts=counts, affinity=affinity, n_bb_groups=3, batch_rows=700, progress=False
    )


def _prepare(kindel, test_file, tmp_path, **affinity):
    return PreparedDataset(prepare(kindel / "ddr1_1M.parquet", test_file, tmp_path / "p", options=_options(**affinity)))


def test_kindels_directory_of_held_out_files_is_read_as_it_comes(kindel, tmp_path, capsys):
    kindel, _ = kindel
    d = _prepare(kindel, kindel / "heldout", tmp_path)
    said = capsys.readouterr().err
    on = pd.read_csv(kindel / "heldout" / "ddr1_ondna.csv", index_col=0, dtype={"kd": str})
    off = pd.read_parquet(kindel / "heldout" / "ddr1_offdna.parquet")
    rows = d.test_rows()
    assert d.targets == ("DDR1",) and set(rows["protein"]) == {0}  # DDR1 from the file names
    assert list(rows["file"].unique()) == ["ddr1_offdna.parquet", "ddr1_ondna.csv"]  # mapk14_ondna.csv skipped
    assert "mapk14_ondna.csv: skipped" in said
    # on-DNA: every row, censored values at their bound, rows numbered in the file
    got_on = rows[rows["file"] == "ddr1_ondna.csv"]
    assert np.array_equal(got_on["id"], np.arange(len(on)))
    assert np.allclose(got_on["kd"], [expected_kd(v) for v in on["kd"]])
    assert np.array_equal(got_on["censored"], [1 if v.startswith(">") else -1 if v[0] == "<" else 0 for v in on["kd"]])
    assert (got_on["split_group"] == "ondna").all()
    assert np.array_equal(got_on["in_library"], on["molecule_hash"].notna())
    # off-DNA: the kd of 0 (its row 3) excluded, named by its molecule_hash (or row)
    got_off = rows[rows["file"] == "ddr1_offdna.parquet"]
    assert list(got_off["id"]) == [i for i in range(len(off)) if i != 3]
    assert (got_off["split_group"] == "offdna").all() and (got_off["kd"] > 0).all()
    record = {r["file"]: r for r in d.manifest["test"]["affinity"]["files"]}
    zero_name = off["molecule_hash"].iloc[3] if isinstance(off["molecule_hash"].iloc[3], str) else "row 3"
    assert record["ddr1_offdna.parquet"]["zero_kd"] == 1 and record["ddr1_offdna.parquet"]["zero_kd_rows"] == [
        zero_name
    ]
    above, below = int(on["kd"].str.startswith(">").sum()), int(on["kd"].str.startswith("<").sum())
    assert record["ddr1_ondna.csv"] | {"zero_kd_rows": None} == {
        "file": "ddr1_ondna.csv",
        "target": "DDR1",
        "set": "ondna",
        "rows": len(on),
        "scored": len(on),
        "censored": above + below,
        "censored_above": above,
        "censored_below": below,
        "zero_kd": 0,
        "zero_kd_rows": None,
        "missing_kd": 0,
        "missing_kd_rows": [],
        "in_library": int(on["molecule_hash"].notna().sum()),
        "outside_library": int(on["molecule_hash"].isna().sum()),
    }
    assert d.manifest["test"]["affinity"]["censored"] == "bound"
    line = next(s for s in said.splitlines() if "ddr1_offdna.parquet" in s)
    assert f"1 with kd 0 excluded ({zero_name})" in line and f"{len(off) - 1} scored" in line
    assert "kept at the bound" in next(s for s in said.splitlines() if "ddr1_ondna.csv" in s)
    assert d.n_test == pd.concat([on["smiles"], off["smiles"].drop(off.index[3])]).nunique()  # what is scored
    held = HeldOutAffinity.of(d)
    assert set(held.keys()) >= {f"val/affinity_spearman_{g}" for g in ("ondna", "offdna", "lib", "ondna_lib")}


def test_censored_values_excluded_and_a_zero_kd_kept_as_the_tightest(kindel, tmp_path, capsys):
    kindel, _ = kindel
    d = _prepare(kindel, kindel / "heldout", tmp_path, censored="exclude", zero_kd="tightest")
    rows = d.test_rows()
    on = pd.read_csv(kindel / "heldout" / "ddr1_ondna.csv", index_col=0, dtype={"kd": str})
    assert (rows["censored"] == 0).all()
    assert (rows["file"] == "ddr1_ondna.csv").sum() == (~on["kd"].str.match(r"[<>]")).sum()
    assert (rows["kd"] == 0).sum() == 1
    assert "kept as the tightest binder" in capsys.readouterr().err


def test_the_target_comes_from_config_when_the_file_name_names_none(kindel, tmp_path):
    kindel, _ = kindel
    pd.read_csv(kindel / "heldout" / "ddr1_ondna.csv", index_col=0).to_csv(tmp_path / "heldout.csv")
    with pytest.raises(InputError, match="no `target` column and its name names none.*data.prepare.affinity.target"):
        _prepare(kindel, tmp_path / "heldout.csv", tmp_path)
    d = _prepare(kindel, tmp_path / "heldout.csv", tmp_path, target="ddr1")
    assert len(d.test_rows()) > 0 and "split_group" not in d.test_rows()  # no set in the name: no group
    assert d.manifest["test"]["affinity"]["files"][0]["target"] == "DDR1"


def test_a_file_name_naming_two_targets_is_an_error(kindel, tmp_path):
    _, selection = kindel
    held = pd.read_csv(selection / "heldout.csv").drop(columns=["target"])
    held.to_csv(tmp_path / "brd4_hsa_ondna.csv")
    with pytest.raises(InputError, match="names several of the count table's targets \\(BRD4, HSA\\)"):
        prepare(selection / "selection.parquet", tmp_path / "brd4_hsa_ondna.csv", tmp_path / "p", options=_options({}))


@pytest.mark.parametrize(
    "value, message",
    [("-5", "negative or infinite kd \\(rows 4\\b"), ("strong", "not numbers \\(rows 4\\b.*'strong'")],
)
def test_a_negative_or_unreadable_kd_is_one_error_naming_its_row(kindel, tmp_path, value, message):
    kindel, _ = kindel
    on = pd.read_csv(kindel / "heldout" / "ddr1_ondna.csv", index_col=0, dtype={"kd": str})
    on.loc[on.index[4], "kd"] = value
    on.to_csv(tmp_path / "ddr1_ondna.csv")
    with pytest.raises(InputError, match=message):
        _prepare(kindel, tmp_path / "ddr1_ondna.csv", tmp_path)
    assert not (tmp_path / "p").exists()


def test_a_missing_kd_is_excluded_and_named_and_a_file_with_nothing_left_is_an_error(kindel, tmp_path):
    kindel, _ = kindel
    on = pd.read_csv(kindel / "heldout" / "ddr1_ondna.csv", index_col=0, dtype={"kd": str})
    on.loc[on.index[[2, 5]], "kd"] = [None, "NA"]
    on.to_csv(tmp_path / "ddr1_ondna.csv")
    d = _prepare(kindel, tmp_path / "ddr1_ondna.csv", tmp_path)
    record = d.manifest["test"]["affinity"]["files"][0]
    named = [h if isinstance(h, str) else f"row {i}" for i, h in zip((2, 5), on["molecule_hash"].iloc[[2, 5]])]
    assert record["missing_kd"] == 2 and record["missing_kd_rows"] == named
    assert 2 not in set(d.test_rows()["id"]) and len(d.test_rows()) == len(on) - 2
    on.assign(kd=">10000").to_csv(tmp_path / "ddr1_ondna.csv")
    with pytest.raises(InputError, match="no compound is left to score.*30 censored"):
        PreparedDataset(
            prepare(
                kindel / "ddr1_1M.parquet",
                tmp_path / "ddr1_ondna.csv",
                tmp_path / "q",
                options=_options(censored="exclude"),
            )
        )


def test_scores_are_kindels_spearman_with_kd_negated_on_lib_and_all_per_set():
    rng = np.random.default_rng(0)
    n = 40
    kd = np.exp(rng.normal(5, 2, n))
    kd[7] = 0.0  # kept as the tightest (zero_kd=tightest): scipy ranks the raw 0 first, as KinDEL's scripts do
    group = np.where(np.arange(n) < 22, "ondna", "offdna")
    library = rng.random(n) < 0.7
    predicted = rng.normal(size=(n, 1)) - 0.3 * np.log(np.maximum(kd, 1))[:, None]
    held = HeldOutAffinity(np.arange(n), np.zeros(n), kd, ("DDR1",), group, library)
    table = held.table(predicted).set_index("group")
    p = predicted[:, 0]
    for name, sel in [
        ("all", np.ones(n, bool)),
        ("ondna", group == "ondna"),
        ("offdna_lib", (group == "offdna") & library),
        ("lib", library),
    ]:
        assert table.loc[name, "spearman"] == pytest.approx(-spearmanr(p[sel], kd[sel]).statistic)
        assert table.loc[name, "kendall"] == pytest.approx(-kendalltau(p[sel], kd[sel]).statistic)
    assert set(table.index) == {"all", "ondna", "offdna", "lib", "ondna_lib", "offdna_lib"}


def test_a_library_subset_holding_a_groups_rows_is_not_scored_twice():
    kd = np.arange(1.0, 9.0)
    group = np.array(["seen"] * 4 + ["unseen"] * 4)
    held = HeldOutAffinity(np.arange(8), np.zeros(8), kd, ("BRD4",), group, group == "seen")
    assert [name for name, _ in held.subsets()] == ["all", "seen", "unseen"]  # lib = seen; unseen_lib is empty
