"""KinDEL's protocol: its split files select the rows its own loader does, and `belka report`
gives its table (mean ± sd over the five splits, with its ddof)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from belka_lab.core.errors import InputError
from belka_lab.dataset.kindel_split import KinDELSplit
from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.dataset.store import PreparedDataset
from belka_lab.evaluation.report import report
from belka_lab.synth.selection import SelectionConfig, simulate
from kindel_files import kindel_files


@pytest.fixture(scope="module")
def kindel(tmp_path_factory):
    selection = simulate(tmp_path_factory.mktemp("sel") / "s", SelectionConfig(n_compounds=1500, n_heldout=30), False)
    files = kindel_files(selection, tmp_path_factory.mktemp("kindel") / "k")
    options = PrepareOptions(format="counts", counts={"names": {"target": "DDR1"}}, n_bb_groups=3, progress=False)
    store = PreparedDataset(prepare(files / "ddr1_1M.parquet", None, files / "prepared", options=options))
    return files, store


@pytest.mark.parametrize("kind, index", [("random", 2), ("disynthon", 5)])
def test_the_split_file_selects_exactly_the_rows_kindels_loader_does(kindel, kind, index):
    files, store = kindel
    split = KinDELSplit(kind, index, dir=str(files / "splits"))
    parts = split.parts(store)
    # kindel/utils/data.py get_training_data, as it is written
    df = pd.read_parquet(files / "ddr1_1M.parquet")
    df_split = pd.read_parquet(files / "splits" / f"ddr1_{kind}.parquet")
    for part in ("train", "valid", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas: the boolean key is reindexed to the table's
            chosen = df[df_split[f"split{index}"] == part]
        assert np.array_equal(parts[part], np.sort(df.index.get_indexer(chosen.index)))
    assert len(parts["other"]) == 0
    selection = split.select(store, 0)
    assert np.array_equal(selection.train, parts["train"]) and np.array_equal(selection.val, parts["valid"])
    assert not np.isin(parts["test"], np.concatenate([selection.train, selection.val])).any()
    assert split.column == f"kindel_{kind}_split{index}" and selection.where == f"{kind}_split{index}"


def test_a_split_file_of_another_table_or_a_wrong_choice_is_one_error(kindel, tmp_path):
    files, store = kindel
    short = pd.read_parquet(files / "splits" / "ddr1_random.parquet").iloc[:-3]
    short.to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InputError, match="3 of the count table's 1500 rows have no row in the split file"):
        KinDELSplit(file=str(tmp_path / "short.parquet")).parts(store)
    with pytest.raises(InputError, match="split1 to split5; choose 1 to 5"):
        KinDELSplit(index=6)
    with pytest.raises(InputError, match="data.split.index"):
        KinDELSplit(dir=str(files / "splits")).select(store, 3)
    with pytest.raises(InputError, match="has no ddr1_disynthon.parquet"):
        KinDELSplit("disynthon", dir=str(tmp_path)).parts(store)


def _run(root, name, overrides, results):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run / "results.json").write_text(json.dumps({"val_map": 0.1, **results}))


def test_report_gives_kindels_table_over_the_five_splits(tmp_path, capsys):
    rng = np.random.default_rng(1)
    values = {k: rng.uniform(-0.2, 0.6, 5) for k in ("ondna_lib", "offdna_lib", "ondna", "offdna")}
    for i in range(5):
        results = {f"affinity_spearman_{k}": float(v[i]) for k, v in values.items()}
        _run(tmp_path, str(i), ["split=kindel", "data.split.kind=disynthon", f"data.split.index={i + 1}"], results)
    report(tmp_path)
    table = pd.read_csv(tmp_path / "kindel.csv")
    assert len(table) == 1 and table["runs"].iloc[0] == 5  # the split index repeats a recipe, as a seed does
    for column, key in (("lib_on", "ondna_lib"), ("lib_off", "offdna_lib"), ("all_on", "ondna"), ("all_off", "offdna")):
        assert table[f"{column}_mean"].iloc[0] == pytest.approx(values[key].mean())
        assert table[f"{column}_sd"].iloc[0] == pytest.approx(np.std(values[key]))  # KinDEL's results.py: ddof 0
    out = capsys.readouterr().out
    assert f"{values['ondna_lib'].mean():.3f} ± {np.std(values['ondna_lib']):.3f}" in out
    recipes = pd.read_csv(tmp_path / "recipes.csv")
    assert recipes["affinity_spearman_offdna_mean"].iloc[0] == pytest.approx(values["offdna"].mean())
