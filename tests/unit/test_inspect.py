"""belka inspect: what a count table's first rows say under the configured mapping, and a guessed
mapping, for a table with other names, that prepare then accepts as it is."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from belka_lab import cli
from belka_lab.cli import command
from belka_lab.core.config import compose
from belka_lab.core.errors import InputError
from belka_lab.dataset import read
from belka_lab.dataset.count_columns import CountTable, layout
from belka_lab.dataset.inspect import inspect_table, write_suggestion
from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.dataset.store import PreparedDataset
from belka_lab.dataset.suggest import ColumnFacts, suggest
from belka_lab.synth.selection import SelectionConfig, simulate
from helpers import kaggle_rows


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sel") / "s", SelectionConfig(n_compounds=600, n_heldout=20), False)


def _configured(*overrides: str) -> dict:
    """data.prepare.counts as `belka inspect` composes it (conf/data/counts.yaml)."""
    cfg = compose("inspect", ["paths.root_dir=/tmp/belka-inspect", "data.root=/tmp/belka-inspect", *overrides])
    return OmegaConf.to_container(cfg.data.prepare.counts, resolve=True)


def _lab_table(selection, n: int | None = None) -> pd.DataFrame:
    """A lab's own names: an id, SMILES, two cycles of block ids, one target in triplicate, no
    control, no load."""
    t = pd.read_parquet(selection / "selection.parquet").head(n)
    return pd.DataFrame(
        {
            "compound_id": [f"C{i:05d}" for i in range(len(t))],
            "SMILES": t["smiles"],
            "BB1_ID": pd.factorize(t["smiles_a"])[0],
            "BB2_ID": [f"B{x}" for x in pd.factorize(t["smiles_b"])[0]],
            **{f"target_r{r}": t[f"seq_sEH_{r}"] for r in (1, 2, 3)},
        }
    )


def _as_data_config(yaml_text: str, root) -> OmegaConf:
    """The suggested conf/data/<name>.yaml as Hydra would compose it: counts.yaml, then the file."""
    body = OmegaConf.create(yaml_text)
    assert list(body.defaults) == ["counts", "_self_"]
    base = compose("prepare", ["paths.root_dir=/tmp/belka-inspect", "data=counts", f"data.root={root}"]).data
    return OmegaConf.merge(base, {k: v for k, v in body.items() if k != "defaults"})


def test_a_kindel_table_fits_the_default_mapping_and_its_reads_are_summed(selection):
    path = selection / "selection.parquet"
    table = pd.read_parquet(path)
    r = inspect_table(path, _configured(), rows=400, parse=100)
    assert r.mapping_error is None and r.suggestion is None and not r.guessed
    assert (r.id, r.smiles) == ("molecule_hash", "smiles")
    assert [(b, kind) for b, kind, _ in r.blocks] == [
        ("smiles_a", "SMILES"),
        ("smiles_b", "SMILES"),
        ("smiles_c", "SMILES"),
    ]
    assert r.rows_read == 400 and r.rows_total == 600 and not r.whole_file
    roles = {s.name: (s.role, s.control) for s in r.samples}
    assert roles == {
        "BRD4": ("target", "matrix"),
        "HSA": ("target", "matrix"),
        "sEH": ("target", "matrix"),
        "matrix": ("control", None),
        "seq_load": ("load", None),
    }
    head = table.head(400)
    for s in r.samples:
        per_compound = head[s.columns].sum(axis=1)
        assert s.reads == int(head[s.columns].to_numpy().sum())
        assert s.mean == pytest.approx(per_compound.mean()) and s.median == per_compound.median()
        assert s.zero_share == pytest.approx((per_compound == 0).mean())
    assert r.problems == [] and r.parsed == 100
    text = r.text()
    assert "the configured one (data.prepare.counts) fits this file" in text
    assert "seq_BRD4_1, seq_BRD4_2, seq_BRD4_3" in text and "Suggested mapping" not in text


def test_a_lab_table_gets_a_mapping_that_layout_accepts(selection, tmp_path):
    path = tmp_path / "lab_counts.csv.gz"
    _lab_table(selection).to_csv(path, index=False)
    r = inspect_table(path, _configured())
    assert "no column matches the count pattern" in r.mapping_error and r.guessed and r.guess_error is None
    assert r.kind == "gzip-compressed CSV" and r.whole_file and r.rows_read == 600
    cfg = _as_data_config(r.suggestion_yaml, tmp_path)
    assert cfg.train_file == str(path)
    counts = OmegaConf.to_container(cfg.prepare.counts, resolve=True)
    names = read.column_names(path)
    lay = layout(path, names, CountTable(**counts))
    assert lay.targets == {"target": [0, 1, 2]} and lay.columns == ["target_r1", "target_r2", "target_r3"]
    assert lay.control_of == {"target": None} and lay.controls == {} and lay.load is None
    assert (counts["id"], counts["smiles"], counts["blocks"]) == ("compound_id", "SMILES", ["BB1_ID", "BB2_ID"])
    assert counts["score"] == "normalized_z"
    assert [kind for _, kind, _ in r.blocks] == ["ids", "ids"]
    text = r.text()
    assert "prepare would say:" in text and "controls: none" in text and "a sample is called target" in text
    assert "conf/data/lab_counts.yaml" in text and "belka prepare data=lab_counts" in text


def test_a_deli_like_cube_gets_a_mapping_that_prepares(selection, tmp_path):
    t = pd.read_parquet(selection / "selection.parquet")
    cube = {"DEL_ID": [f"DEL003-{i}" for i in range(len(t))]}
    for k, col in enumerate(("smiles_a", "smiles_b", "smiles_c"), start=1):
        cube[f"BB{k}_ID"] = pd.factorize(t[col])[0]
        cube[f"BB{k}_SMILES"] = t[col]
    cube["SMILES"] = t["smiles"]
    for prefix, scale in (("raw", 2), ("corrected", 1)):
        cube[f"{prefix}_PTMODD3index4"] = t["seq_BRD4_1"] * scale
        cube[f"{prefix}_PTMODD3index5"] = t["seq_BRD4_2"] * scale
        cube[f"{prefix}_beads_D3index7"] = t["seq_matrix_1"] * scale
    cube["enrichment"] = np.linspace(0.5, 3.0, len(t))
    path = tmp_path / "DEL003_cube.csv"
    pd.DataFrame(cube).to_csv(path)  # with pandas' unnamed index column
    r = inspect_table(path, _configured())
    assert r.guess_error is None
    counts = OmegaConf.to_container(_as_data_config(r.suggestion_yaml, tmp_path).prepare.counts, resolve=True)
    assert counts["samples"] == {
        "PTMODD3index": ["corrected_PTMODD3index4", "corrected_PTMODD3index5"],
        "beads_D3index7": ["corrected_beads_D3index7"],
    }
    assert counts["controls"] == ["beads_D3index7"] and counts["load"] is None and "score" not in r.suggestion.mapping
    assert counts["blocks"] == ["BB1_SMILES", "BB2_SMILES", "BB3_SMILES"] and counts["id"] == "DEL_ID"
    assert {"", "enrichment", "raw_PTMODD3index4"} <= set(r.unused)
    out = prepare(
        path,
        None,
        tmp_path / "p",
        options=PrepareOptions(format="counts", counts=counts, n_bb_groups=3, progress=False),
    )
    d = PreparedDataset(out)
    assert d.targets == ("PTMODD3index",)
    assert d.manifest["count_table"]["totals"] == [
        int(t["seq_BRD4_1"].sum()),
        int(t["seq_BRD4_2"].sum()),
        int(t["seq_matrix_1"].sum()),
    ]


def test_unparsable_smiles_refused_characters_and_repeated_ids_are_named(selection, tmp_path):
    lab = _lab_table(selection, 300)
    lab.loc[7, "SMILES"] = "C1CC(N"  # an open ring: RDKit cannot parse it
    lab.loc[12, "SMILES"] = "CC(C)(C)(C)C"  # a five-valent carbon: RDKit refuses it too
    lab.loc[250, "SMILES"] = "C1CC(O"  # beyond the parse limit below
    lab.loc[20, "SMILES"] = "CCO.O"  # RDKit parses it; "." is outside the dictionary
    lab.loc[30, "compound_id"] = "C00003"
    lab.loc[31, "compound_id"] = "C00003"
    lab.loc[40, "target_r2"] = -1
    path = tmp_path / "lab.parquet"
    lab.to_parquet(path)
    r = inspect_table(path, _configured(), parse=200)
    problems = {p.what: p for p in r.problems}
    unparsed = problems["SMILES RDKit cannot parse (of the first 200)"]
    assert (unparsed.count, unparsed.examples) == (2, ["C00007", "C00012"])
    assert problems["SMILES with characters outside the 36-symbol dictionary"].examples == ["C00020"]
    repeated = problems["rows repeating the compound_id of an earlier row"]
    assert (repeated.count, repeated.examples) == (2, ["C00003"])
    assert problems["count column target_r2: missing, negative or fractional values"].examples == ["C00040"]
    text = r.text()
    assert "SMILES RDKit cannot parse (of the first 200): 2 (ids C00007, C00012)" in text
    assert "rows repeating the compound_id of an earlier row: 2 (ids C00003)" in text


@pytest.mark.parametrize(
    ("names", "samples", "controls", "load"),
    [
        (  # KinDEL's names, one target
            ["seq_target_1", "seq_target_2", "seq_matrix_1", "seq_matrix_2", "seq_load"],
            {"target": ["seq_target_1", "seq_target_2"], "matrix": ["seq_matrix_1", "seq_matrix_2"]},
            ["matrix"],
            "seq_load",
        ),
        (  # a lone column's number names the sample; replicates as rep1; an NTC; the input library
            ["BRD4", "HSA_rep1", "HSA_rep2", "NTC_rep1", "NTC_rep2", "input"],
            {"BRD4": ["BRD4"], "HSA": ["HSA_rep1", "HSA_rep2"], "NTC": ["NTC_rep1", "NTC_rep2"]},
            ["NTC"],
            "input",
        ),
        (  # a common suffix, blank wells, no load
            ["kinase.1_reads", "kinase.2_reads", "blank.1_reads", "blank.2_reads"],
            {"kinase": ["kinase.1_reads", "kinase.2_reads"], "blank": ["blank.1_reads", "blank.2_reads"]},
            ["blank"],
            None,
        ),
    ],
)
def test_count_columns_are_grouped_into_samples_and_roles_by_name(names, samples, controls, load):
    counts = [ColumnFacts(n, "int64", True, True, 10, 100, 0, False, None) for n in names]
    others = [
        ColumnFacts("smiles", "string", False, False, 100, 100, 0, False, 1.0),
        ColumnFacts("bb1", "string", False, False, 8, 100, 0, False, 1.0),
        ColumnFacts("bb2", "string", False, False, 9, 100, 0, False, 1.0),
        ColumnFacts("row", "int64", True, True, 100, 100, 0, True, None),
    ]
    s = suggest(others + counts)
    assert s.mapping["samples"] == samples and s.mapping["controls"] == controls and s.mapping["load"] == load
    assert s.mapping["blocks"] == ["bb1", "bb2"] and s.mapping["smiles"] == "smiles" and s.mapping["id"] is None


def test_a_kaggle_file_is_named_as_such(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(kaggle_rows([(1, "CCO", "BRD4", 0), (2, "CCO", "HSA", 1)]), path)
    r = inspect_table(path, _configured())
    assert r.kaggle and r.suggestion is None and "Prepare it with data=belka" in r.text()


def test_the_suggestion_is_written_once_and_never_over_a_file(selection, tmp_path):
    path = tmp_path / "lab.csv"
    _lab_table(selection, 50).to_csv(path, index=False)
    r = inspect_table(path, _configured())
    out = write_suggestion(r, tmp_path / "conf" / "lab.yaml")
    assert out.read_text() == r.suggestion_yaml
    with pytest.raises(InputError, match="exists"):
        write_suggestion(r, out)
    fits = inspect_table(selection / "selection.parquet", _configured(), rows=10)
    with pytest.raises(InputError, match="fits"):
        write_suggestion(fits, tmp_path / "other.yaml")


def _belka(monkeypatch, *args: str) -> int:
    """`belka <args>` in this process: its exit status."""
    monkeypatch.setattr(sys, "argv", ["belka", *args])
    monkeypatch.setattr(command, "LAUNCH_ARGV", None)
    try:
        cli.main()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_the_command_prints_the_columns_and_a_missing_file_is_one_error(selection, tmp_path, monkeypatch, capsys):
    path = tmp_path / "lab.csv"
    _lab_table(selection, 100).to_csv(path, index=False)
    run = [f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path}/run"]
    assert _belka(monkeypatch, "inspect", f"data.train_file={path}", "rows=50", *run) == 0
    out = capsys.readouterr().out
    assert f"{path}: CSV, 7 columns; read the first 50 rows" in out
    assert "target  target  target_r1, target_r2, target_r3" in out and "compound_id" in out
    assert _belka(monkeypatch, "inspect", f"data.train_file={tmp_path}/absent.csv", *run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path}/absent.csv does not exist; give the count table (data.train_file=FILE)"]


def test_samples_of_several_rounds_are_guessed_as_one_sample_with_its_rounds(tmp_path):
    from belka_lab.dataset.count_columns import CountTable, layout
    from belka_lab.dataset.inspect import inspect_table

    table = pd.DataFrame(
        {
            "compound": [f"c{i}" for i in range(40)],
            "SMILES": ["CCO"] * 40,
            "BB1": [f"a{i % 5}" for i in range(40)],
            "BB2": [f"b{i % 7}" for i in range(40)],
            **{f"KRAS_r{rnd}_{rep}": np.arange(40) % (rnd + 2) for rnd in (1, 2, 3) for rep in (1, 2)},
            **{f"beads_{rep}": np.arange(40) % 3 for rep in (1, 2)},
        }
    )
    path = tmp_path / "rounds.parquet"
    table.to_parquet(path)
    guessed = inspect_table(path, None, rows=100, parse=10)
    mapping = guessed.suggestion.mapping
    assert mapping["samples"]["KRAS"] == {r: [f"KRAS_r{r}_1", f"KRAS_r{r}_2"] for r in (1, 2, 3)}
    assert any(note.startswith("rounds: KRAS read after rounds 1, 2, 3") for note in guessed.suggestion.notes)
    found = layout(path, list(table.columns), CountTable(**mapping))
    assert found.rounds == {"KRAS": [1, 1, 2, 2, 3, 3]} and found.control_of == {"KRAS": "beads"}
    from belka_lab.dataset.inspect import render

    listed = render(inspect_table(path, mapping, rows=100, parse=10))
    assert "round 1: KRAS_r1_1, KRAS_r1_2; round 2: KRAS_r2_1, KRAS_r2_2; round 3: KRAS_r3_1" in listed
