import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from belka_lab.core.errors import InputError
from belka_lab.dataset.folds import BuildingBlockSplit, StratifiedSplit
from belka_lab.dataset.prepare import PrepareOptions, is_current, prepare
from belka_lab.dataset.store import PreparedDataset
from helpers import MOL_A, MOL_B, MOL_C, full_rows, kaggle_rows, write_test_file

OPTS = PrepareOptions(batch_rows=4, progress=False, n_stratified_folds=2, n_bb_groups=2)


def _prepare(tmp_path, rows, test_molecules=(MOL_A,), opts=OPTS, **kw):
    train = tmp_path / "train.parquet"
    table = rows if isinstance(rows, pa.Table) else kaggle_rows(rows)
    pq.write_table(table, train, row_group_size=5)
    test = write_test_file(tmp_path / "test.parquet", list(test_molecules))
    return prepare(train, test, tmp_path / "prepared", options=opts, **kw)


def _leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name == "prepared")


# ---------------------------------------------------------------- merging


def test_three_protein_rows_become_one_molecule_row(tmp_path):
    out = _prepare(tmp_path, full_rows(0, [MOL_A, MOL_B], [(1, 0, 0), (0, 1, 1)]))
    d = PreparedDataset(out)
    assert d.train("labels").tolist() == [[1, 0, 0], [0, 1, 1]]
    assert d.train("tokens").shape == (2, 142)
    assert d.train("first_row_id").tolist() == [0, 3]
    assert (d.manifest["sizes"]["train_rows"], d.manifest["sizes"]["train_molecules"]) == (6, 2)


def test_a_molecule_seen_with_some_proteins_gets_minus_one_for_the_others(tmp_path):
    rows = [(0, MOL_A, "BRD4", 1), (1, MOL_A, "sEH", 0), (2, MOL_B, "HSA", 1)]
    d = PreparedDataset(_prepare(tmp_path, rows))
    assert d.train("labels").tolist() == [[1, -1, 0], [-1, 1, -1]]
    assert d.manifest["unknown_labels"] == {"BRD4": 1, "HSA": 1, "sEH": 1}


def test_molecules_split_across_batches_and_repeated_later_are_merged(tmp_path):
    # batch_rows=4 splits MOL_B's rows across batches; MOL_A comes back at the end
    rows = [
        (0, MOL_A, "BRD4", 1),
        (1, MOL_B, "BRD4", 0),
        (2, MOL_B, "HSA", 0),
        (3, MOL_B, "sEH", 1),
        (4, MOL_B, "sEH", 1),
        (5, MOL_C, "HSA", 1),
        (6, MOL_A, "HSA", 0),
    ]
    d = PreparedDataset(_prepare(tmp_path, rows))
    assert d.train("labels").tolist() == [[1, 0, -1], [0, 0, 1], [-1, 1, -1]]
    assert d.manifest["sizes"]["repeated_molecules_merged"] == 1
    assert d.manifest["sizes"]["duplicate_rows"] == 1


def test_csv_input_gives_the_same_arrays_as_parquet(tmp_path):
    rows = full_rows(0, [MOL_A, MOL_B, MOL_C], [(1, 0, 0), (0, 1, 1), (0, 0, 0)])
    a = PreparedDataset(_prepare(tmp_path, rows))
    (tmp_path / "csv").mkdir()
    table = kaggle_rows(rows)
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, tmp_path / "csv" / "train.csv")
    test = write_test_file(tmp_path / "csv" / "test.parquet", [MOL_A])
    b = PreparedDataset(prepare(tmp_path / "csv" / "train.csv", test, tmp_path / "csv" / "prepared", options=OPTS))
    for name in ("tokens", "labels", "bb_ids", "fold_stratified", "fold_bb"):
        assert np.array_equal(a.train(name), b.train(name)), name


def test_test_rows_map_ids_to_molecule_and_protein(tmp_path):
    d = PreparedDataset(_prepare(tmp_path, full_rows(0, [MOL_A], [(0, 0, 0)]), test_molecules=[MOL_B, MOL_C]))
    rows = d.test_rows()
    assert rows["id"].tolist() == [1000, 1001, 1002, 1003]
    assert rows["molecule"].tolist() == [0, 0, 1, 1]
    assert rows["protein"].tolist() == [0, 2, 0, 2]
    assert d.test("tokens").shape == (2, 142)
    assert d.manifest["sizes"]["building_blocks"] == 3


def test_prepared_synthetic_library_keeps_labels_and_split_groups(tiny_library, tiny_prepared):
    d = PreparedDataset(tiny_prepared)
    raw = pq.read_table(tiny_library / "train.parquet", columns=["binds"])["binds"].to_numpy().reshape(-1, 3)
    assert np.array_equal(d.train("labels"), raw)
    rows = d.test_rows()
    assert set(rows["split_group"]) == {"share", "non_share", "other_core"}
    sol = pq.read_table(tiny_library / "test_solution.parquet").to_pandas().set_index("id")
    assert (rows.set_index("id")["binds"] == sol.loc[rows["id"], "binds"]).all()


def test_reprepare_is_skipped_only_when_sources_and_options_match(tiny_library, tiny_prepared):
    args = (
        tiny_prepared,
        tiny_library / "train.parquet",
        tiny_library / "test.parquet",
        tiny_library / "test_solution.parquet",
    )
    assert is_current(*args, PrepareOptions(batch_rows=1000, n_bb_groups=3, progress=False))
    assert not is_current(*args, PrepareOptions(batch_rows=1000, n_bb_groups=4, progress=False))


# ---------------------------------------------------------------- folds


def test_stratified_folds_balance_every_label_sum_class(tiny_prepared):
    d = PreparedDataset(tiny_prepared)
    fold = np.asarray(d.train("fold_stratified"))
    y = np.asarray(d.train("labels")).clip(0).sum(axis=1)
    assert set(fold) == set(range(15))
    for c in np.unique(y):
        counts = np.bincount(fold[y == c], minlength=15)
        assert counts.max() - counts.min() <= 1


def test_stratified_folds_match_sklearn_stratified_kfold_15_seed_42(tiny_prepared):
    from sklearn.model_selection import StratifiedKFold

    d = PreparedDataset(tiny_prepared)
    y = np.asarray(d.train("labels")).clip(0).sum(axis=1)
    _, first_val = next(StratifiedKFold(15, shuffle=True, random_state=42).split(np.zeros(len(y)), y))
    assert np.array_equal(np.flatnonzero(np.asarray(d.train("fold_stratified")) == 0), first_val)


def test_fold_bb_validates_in_share_partial_non_share_cells(tiny_prepared):
    d = PreparedDataset(tiny_prepared)
    bb = np.asarray(d.train("bb_ids"))
    groups = pq.read_table(tiny_prepared / "building_blocks.parquet").to_pandas()["group"].to_numpy()
    for fold in range(3):
        sel = BuildingBlockSplit(share=1.0, partial=2.0).select(d, fold)
        assert sel.names == ("share", "partial", "non_share") and sel.where == f"fold_bb={fold}"
        assert len(sel.val) == len(sel.cell) and np.all(np.diff(sel.val) > 0)
        assert not set(sel.train) & set(sel.val)
        held = groups[bb] == fold  # [N, 3]: which of a molecule's blocks are in the held-out group
        seen_in_train = set(bb[sel.train].ravel())
        assert not held[sel.train].any()  # no held-out block is trained on
        share, partial, non_share = (sel.val[sel.cell == k] for k in range(3))
        assert held[non_share].all() and len(non_share) == (held.all(axis=1)).sum()
        assert held[partial].any(axis=1).all() and not held[partial].all(axis=1).any()
        assert not held[share].any() and set(bb[share].ravel()) <= seen_in_train
        assert len(share) == len(non_share) and len(partial) == min(
            2 * len(non_share), held.any(axis=1).sum() - len(non_share)
        )
    again = BuildingBlockSplit(share=1.0, partial=2.0).select(d, 0)
    assert np.array_equal(again.val, BuildingBlockSplit(share=1.0, partial=2.0).select(d, 0).val)  # fixed per fold
    with pytest.raises(InputError, match="fold=3 does not exist"):
        BuildingBlockSplit().select(d, 3)


def test_fold_bb_without_samples_is_the_old_split(tiny_prepared):
    d = PreparedDataset(tiny_prepared)
    mask, fold_bb = np.asarray(d.train("bb_group_mask")), np.asarray(d.train("fold_bb"))
    sel = BuildingBlockSplit(share=0, partial=0).select(d, 1)
    assert sel.names == ("non_share",)
    assert np.array_equal(sel.val, np.flatnonzero(fold_bb == 1))
    assert np.array_equal(sel.train, np.flatnonzero((mask & 2) == 0))


def test_stratified_split_covers_every_molecule_once(tiny_prepared):
    d = PreparedDataset(tiny_prepared)
    sel = StratifiedSplit().select(d, 4)
    assert np.array_equal(np.sort(np.concatenate([sel.train, sel.val])), np.arange(d.n_train))
    assert sel.names == ("fold_stratified=4",) and not sel.cell.any()


# ---------------------------------------------------------------- bad input


def _assert_fails(tmp_path, rows, match, **kw):
    with pytest.raises(InputError, match=match) as e:
        _prepare(tmp_path, rows, **kw)
    assert "train.parquet" in str(e.value) or "test.parquet" in str(e.value)
    assert _leftovers(tmp_path) == [], "an interrupted prepare must leave nothing behind"
    return str(e.value)


def test_character_outside_the_dictionary_names_the_id(tmp_path):
    rows = full_rows(0, [MOL_A, "CC[Na]"], [(0, 0, 0), (0, 0, 0)])
    msg = _assert_fails(tmp_path, rows, "outside the dictionary")
    assert "ids 3" in msg and "unknown_chars=unk" in msg


def test_unknown_characters_can_be_skipped_and_are_reported(tmp_path):
    rows = full_rows(0, [MOL_A, "CC[Na]", MOL_B], [(0, 0, 0), (0, 0, 0), (1, 0, 0)])
    d = PreparedDataset(
        _prepare(
            tmp_path,
            rows,
            opts=PrepareOptions(
                batch_rows=4, progress=False, n_stratified_folds=2, n_bb_groups=2, unknown_chars="skip"
            ),
        )
    )
    assert d.n_train == 2 and d.manifest["skipped"] == {"count": 1, "first_row_ids": [3]}


def test_unknown_characters_can_be_mapped_to_an_extra_code(tmp_path):
    rows = full_rows(0, [MOL_A, "CC[Na]"], [(0, 0, 0), (0, 0, 0)])
    d = PreparedDataset(
        _prepare(
            tmp_path,
            rows,
            opts=PrepareOptions(batch_rows=4, progress=False, n_stratified_folds=2, n_bb_groups=2, unknown_chars="unk"),
        )
    )
    assert d.vocab_size == 38 and d.manifest["unknown_chars"]["train"] == 1


def test_a_character_model_is_built_for_the_prepared_vocabulary(tmp_path):
    """The data module passes vocab_size when the model is built: 38 codes here, without an override."""
    from omegaconf import OmegaConf

    from belka_lab.loading.datamodule import BelkaDataModule
    from belka_lab.models.backbone import build_backbone

    rows = full_rows(0, [MOL_A, "CC[Na]", MOL_B, MOL_C], [(0, 0, 0), (0, 0, 0), (1, 0, 0), (0, 1, 0)])
    opts = PrepareOptions(batch_rows=4, progress=False, n_stratified_folds=2, n_bb_groups=2, unknown_chars="unk")
    prepared = _prepare(tmp_path, rows, opts=opts)
    dm = BelkaDataModule(
        str(prepared), str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet"), StratifiedSplit()
    )
    dm.setup("fit")
    cnn = {"_target_": "belka_lab.models.cnn.CNN1D", "embed_dim": 4, "channels": [4], "hidden": [8]}
    assert build_backbone(OmegaConf.create(cnn), dm).embed.num_embeddings == 38
    assert build_backbone(OmegaConf.create(cnn | {"vocab_size": 40}), dm).embed.num_embeddings == 40  # larger: kept
    with pytest.raises(InputError, match="model.backbone.vocab_size=38"):
        build_backbone(OmegaConf.create(cnn | {"vocab_size": 37}), dm)
    with pytest.raises(InputError, match="does not say what it reads"):
        build_backbone(OmegaConf.create({"_target_": "torch.nn.Identity"}), dm)


def test_smiles_longer_than_142_names_the_id(tmp_path):
    msg = _assert_fails(tmp_path, full_rows(10, [MOL_A, "C" * 150], [(0, 0, 0), (0, 0, 0)]), "longer than 142")
    assert "ids 13" in msg


def test_missing_column_is_named(tmp_path):
    table = kaggle_rows(full_rows(0, [MOL_A], [(0, 0, 0)])).rename_columns(
        [
            "id",
            "buildingblock1_smiles",
            "buildingblock2_smiles",
            "buildingblock3_smiles",
            "molecule_smile",
            "protein_name",
            "binds",
        ]
    )
    _assert_fails(tmp_path, table, "lacks column.*molecule_smiles")


def test_unknown_protein_is_named(tmp_path):
    msg = _assert_fails(tmp_path, [(0, MOL_A, "BRD4", 0), (1, MOL_A, "EPHX2", 0)], "unknown protein_name")
    assert "EPHX2" in msg and "ids 1" in msg


@pytest.mark.parametrize("binds", [[0, 2, 0], [0, None, 1]])
def test_labels_other_than_zero_or_one_are_named(tmp_path, binds):
    rows = [(i, MOL_A, p, b) for i, (p, b) in enumerate(zip(("BRD4", "HSA", "sEH"), binds))]
    msg = _assert_fails(tmp_path, rows, "other than 0/1 or missing")
    assert "ids 1" in msg


def test_float_labels_are_read_and_only_the_bad_row_is_named(tmp_path):
    # pandas writes `binds` as float64 once the column held a NaN: 0.0/1.0 are labels, 0.5 is the one bad row
    good = full_rows(0, [MOL_A, MOL_B], [(1, 0, 0), (0, 1, 1)])
    table = kaggle_rows(good).set_column(6, "binds", pa.array([float(r[3]) for r in good], pa.float64()))
    (tmp_path / "ok").mkdir()
    d = PreparedDataset(_prepare(tmp_path / "ok", table))
    assert d.train("labels").tolist() == [[1, 0, 0], [0, 1, 1]]
    bad = table.set_column(6, "binds", pa.array([0.0, 1.0, 0.5, 0.0, 1.0, 1.0], pa.float64()))
    msg = _assert_fails(tmp_path, bad, "other than 0/1 or missing")
    assert "1 rows" in msg and "ids 2)" in msg


@pytest.mark.parametrize("smiles", [None, ""])
def test_a_train_row_without_a_molecule_is_named(tmp_path, smiles):
    rows = [(0, MOL_A, "BRD4", 0), (1, smiles, "HSA", 0), (2, MOL_B, "sEH", 1)]
    msg = _assert_fails(tmp_path, rows, "1 rows have a missing or empty molecule_smiles")
    assert "ids 1)" in msg


@pytest.mark.parametrize("smiles", [None, ""])
def test_a_test_row_without_a_molecule_is_named(tmp_path, smiles):
    pq.write_table(kaggle_rows(full_rows(0, [MOL_A], [(0, 0, 0)])), tmp_path / "train.parquet")
    test = kaggle_rows([(7, MOL_A, "BRD4", 0), (8, smiles, "HSA", 0)]).drop(["binds"])
    pq.write_table(test, tmp_path / "test.parquet")
    with pytest.raises(InputError, match=r"test.parquet: 1 rows have a missing or empty molecule_smiles \(ids 8\)"):
        prepare(tmp_path / "train.parquet", tmp_path / "test.parquet", tmp_path / "prepared", options=OPTS)
    assert _leftovers(tmp_path) == []


def test_repeated_rows_and_ids_are_counted_and_said(tmp_path, capsys):
    rows = full_rows(0, [MOL_A, MOL_B], [(1, 0, 0), (0, 1, 1)])
    rows = rows + [rows[1], rows[4], rows[4]] + [(9, MOL_C, "BRD4", 0)]  # id 1 again later, id 4 twice more
    d = PreparedDataset(_prepare(tmp_path, rows))
    assert d.train("labels").tolist() == [[1, 0, 0], [0, 1, 1], [0, -1, -1]]
    assert d.manifest["sizes"]["repeated_ids"] == 3
    assert d.manifest["sizes"]["duplicate_rows"] == 3
    err = capsys.readouterr().err
    assert "warning: " in err and "3 rows reuse an id of an earlier row (ids 1, 4)" in err
    assert "3 rows repeat a molecule/protein pair" in err


def test_sparse_ids_are_checked_for_repeats_too(tmp_path):
    from belka_lab.dataset.repeats import repeated_ids as _repeated_ids

    ids = np.array([10**15, 3, 10**12, 3, 10**15, 10**15, 7])
    assert _repeated_ids(ids, chunk=2) == (3, [3, 10**15])
    dense = np.array([5, 6, 5, 7, 8, 6, 5])
    assert _repeated_ids(dense, chunk=3) == (3, [5, 6])
    assert _repeated_ids(np.arange(100), chunk=7) == (0, [])


def test_a_directory_of_kaggle_csv_files_is_found(tmp_path):
    from belka_lab.dataset.read import find_input

    (tmp_path / "train.csv").write_text("id\n")
    assert find_input(tmp_path / "train.parquet", "train_file") == tmp_path / "train.csv"
    (tmp_path / "train.parquet").write_text("")
    assert find_input(tmp_path / "train.parquet", "train_file") == tmp_path / "train.parquet"
    with pytest.raises(InputError, match="neither .*test.parquet nor .*test.csv exists.*data.test_file"):
        find_input(tmp_path / "test.parquet", "test_file")


def test_conflicting_labels_for_the_same_molecule_and_protein_are_named(tmp_path):
    msg = _assert_fails(tmp_path, [(0, MOL_A, "BRD4", 0), (1, MOL_A, "BRD4", 1)], "different `binds`")
    assert "0, 1" in msg


def test_conflicting_labels_in_non_consecutive_rows_are_named(tmp_path):
    rows = [
        (0, MOL_A, "BRD4", 0),
        (1, MOL_B, "BRD4", 0),
        (2, MOL_C, "BRD4", 0),
        (3, MOL_B, "HSA", 1),
        (4, MOL_A, "BRD4", 1),
    ]
    msg = _assert_fails(tmp_path, rows, "appear again later with different `binds`")
    assert "4" in msg


def test_empty_file_is_reported(tmp_path):
    (tmp_path / "train.parquet").write_bytes(b"")
    test = write_test_file(tmp_path / "test.parquet", [MOL_A])
    with pytest.raises(InputError, match="train.parquet is empty"):
        prepare(tmp_path / "train.parquet", test, tmp_path / "prepared", options=OPTS)
    assert not (tmp_path / "prepared").exists()


def test_truncated_parquet_is_reported(tmp_path):
    pq.write_table(kaggle_rows(full_rows(0, [MOL_A, MOL_B] * 50, [(0, 0, 0)] * 100)), tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    (tmp_path / "train.parquet").write_bytes(data[: len(data) // 2])
    test = write_test_file(tmp_path / "test.parquet", [MOL_A])
    with pytest.raises(InputError, match="train.parquet is a truncated parquet file"):
        prepare(tmp_path / "train.parquet", test, tmp_path / "prepared", options=OPTS)
    assert not (tmp_path / "prepared").exists()


def test_csv_with_a_broken_quote_is_reported(tmp_path):
    header = "id,buildingblock1_smiles,buildingblock2_smiles,buildingblock3_smiles,molecule_smiles,protein_name,binds\n"
    good = f"0,A,B,C,{MOL_A},BRD4,0\n"
    (tmp_path / "train.csv").write_text(header + good + f'1,A,B,C,"{MOL_A},HSA,0\n' + good * 3)
    test = write_test_file(tmp_path / "test.parquet", [MOL_A])
    with pytest.raises(InputError, match="train.csv cannot be read"):
        prepare(tmp_path / "train.csv", test, tmp_path / "prepared", options=OPTS)


def test_duplicated_test_ids_are_named(tmp_path):
    pq.write_table(kaggle_rows(full_rows(0, [MOL_A], [(0, 0, 0)])), tmp_path / "train.parquet")
    pq.write_table(
        kaggle_rows([(7, MOL_A, "BRD4", 0), (7, MOL_B, "HSA", 0)]).drop(["binds"]), tmp_path / "test.parquet"
    )
    with pytest.raises(InputError, match="test.parquet: 1 ids appear more than once.*ids 7"):
        prepare(tmp_path / "train.parquet", tmp_path / "test.parquet", tmp_path / "prepared", options=OPTS)
    assert _leftovers(tmp_path) == []


def test_a_directory_without_manifest_is_refused(tmp_path, tiny_prepared):
    import shutil

    broken = tmp_path / "prepared"
    shutil.copytree(tiny_prepared, broken)
    os.remove(broken / "manifest.json")
    with pytest.raises(InputError, match="not a complete prepared dataset"):
        PreparedDataset(broken)
    shutil.copy(tiny_prepared / "manifest.json", broken / "manifest.json")
    m = json.loads((broken / "manifest.json").read_text()) | {"format_version": 0}
    (broken / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InputError, match="format version 0"):
        PreparedDataset(broken)
    # a directory of 0.9 (format 2) is read as it is: its sizes were called "counts"
    m = json.loads((tiny_prepared / "manifest.json").read_text())
    old = {("counts" if k == "sizes" else k): v for k, v in m.items()} | {"format_version": 2}
    (broken / "manifest.json").write_text(json.dumps(old))
    assert PreparedDataset(broken).n_train == m["sizes"]["train_molecules"] > 0


# ---------------------------------------------------------------- interruption and the command line


def test_repeat_merging_survives_a_hash_collision(tmp_path, monkeypatch):
    from belka_lab.dataset import repeats

    monkeypatch.setattr(repeats, "hash_rows", lambda tokens: np.zeros(len(tokens), np.uint64))  # every row collides
    rows = [
        (0, MOL_A, "BRD4", 1),
        (1, MOL_B, "BRD4", 0),
        (2, MOL_C, "HSA", 1),
        (3, MOL_A, "HSA", 0),
        (4, MOL_B, "sEH", 1),
    ]
    d = PreparedDataset(_prepare(tmp_path, rows))
    assert d.train("labels").tolist() == [[1, 0, -1], [0, -1, 1], [-1, 1, -1]]
    assert d.manifest["sizes"]["repeated_molecules_merged"] == 2


@pytest.mark.filterwarnings("ignore:The least populated class")
@pytest.mark.parametrize("n, rates", [(50_000, (0.6, 0.3, 0.08, 0.02)), (997, (0.98, 0.015, 0.005, 0.0))])
def test_stratified_folds_equal_sklearn_on_skewed_classes_in_chunks(n, rates):
    # classes first appear out of order (2 before 0), and the chunks cut through the array
    from sklearn.model_selection import StratifiedKFold

    from belka_lab.dataset.folds import stratified_folds

    rng = np.random.default_rng(3)
    y = rng.choice(4, n, p=rates)
    y[:2] = [2, 1]
    labels = (np.arange(3)[None, :] < y[:, None]).astype(np.int8)
    labels[rng.random(labels.shape) < 0.05] = -1  # unknown labels count as not binding
    y = labels.clip(0).sum(axis=1)
    want = np.full(n, -1)
    for k, (_, val) in enumerate(StratifiedKFold(15, shuffle=True, random_state=42).split(np.zeros(n), y)):
        want[val] = k
    got = stratified_folds(labels, 15, 42, chunk=1000)
    assert got.dtype == np.int8 and np.array_equal(got, want)
