import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from belka_lab.core.errors import InputError
from belka_lab.synth.config import SynthConfig
from belka_lab.synth.generate import generate
from belka_lab.synth.rule import build_library, build_other_library
from belka_lab.tokens.characters import CHAR_VOCAB

TRIAZINE = Chem.MolFromSmarts("c1ncncn1")


def test_files_have_the_kaggle_schema(tiny_library):
    train = pq.read_schema(tiny_library / "train.parquet")
    test = pq.read_schema(tiny_library / "test.parquet")
    cols = [
        "id",
        "buildingblock1_smiles",
        "buildingblock2_smiles",
        "buildingblock3_smiles",
        "molecule_smiles",
        "protein_name",
    ]
    assert train.names == cols + ["binds"]
    assert test.names == cols
    assert pq.read_schema(tiny_library / "test_solution.parquet").names == ["id", "binds", "split_group"]


def test_train_rows_come_in_brd4_hsa_seh_triples(tiny_library):
    t = pq.read_table(tiny_library / "train.parquet").to_pandas()
    assert len(t) == 3 * 3000
    assert (t["protein_name"].to_numpy().reshape(-1, 3) == ["BRD4", "HSA", "sEH"]).all()
    assert (
        t["molecule_smiles"].to_numpy().reshape(-1, 3) == t["molecule_smiles"].to_numpy().reshape(-1, 3)[:, :1]
    ).all()
    assert t["id"].is_unique and t["molecule_smiles"].nunique() == 3000


def test_every_molecule_parses_fits_the_dictionary_and_looks_like_belka(tiny_library):
    train = pq.read_table(tiny_library / "train.parquet").to_pandas()
    test = pq.read_table(tiny_library / "test.parquet").to_pandas()
    allowed = set(CHAR_VOCAB)
    for smi in set(train["molecule_smiles"]) | set(test["molecule_smiles"]):
        assert len(smi) <= 142 and set(smi) <= allowed, smi
        assert smi.count("[Dy]") == 1 and "C(=O)N[Dy]" in smi
        assert Chem.MolFromSmiles(smi) is not None, smi
    for smi in set(train["buildingblock1_smiles"]):
        mol = Chem.MolFromSmiles(smi)
        assert mol.HasSubstructMatch(Chem.MolFromSmarts("O=C(N)OCC1c2ccccc2-c2ccccc21")), smi  # Fmoc carbamate
        assert mol.HasSubstructMatch(Chem.MolFromSmarts("C(=O)[OX2H1]")), smi
    for smi in set(train["buildingblock2_smiles"]) | set(train["buildingblock3_smiles"]):
        assert Chem.MolFromSmiles(smi).HasSubstructMatch(Chem.MolFromSmarts("[NX3;H2]")), smi


def test_test_set_has_three_groups_like_belka(tiny_library):
    train = pq.read_table(tiny_library / "train.parquet").to_pandas()
    test = (
        pq.read_table(tiny_library / "test.parquet")
        .to_pandas()
        .merge(pq.read_table(tiny_library / "test_solution.parquet").to_pandas(), on="id")
    )
    assert set(test["split_group"]) == {"share", "non_share", "other_core"}
    train_blocks = set(train[[f"buildingblock{i}_smiles" for i in (1, 2, 3)]].to_numpy().ravel())
    assert not set(test["molecule_smiles"]) & set(train["molecule_smiles"])
    for group, frame in test.groupby("split_group"):
        blocks = frame[[f"buildingblock{i}_smiles" for i in (1, 2, 3)]].to_numpy()
        cores = [Chem.MolFromSmiles(s).HasSubstructMatch(TRIAZINE) for s in frame["molecule_smiles"].unique()]
        if group == "share":
            assert set(blocks.ravel()) <= train_blocks and all(cores)
        elif group == "non_share":
            assert not set(blocks.ravel()) & train_blocks and all(cores)
        else:  # another library, like kin0: its own blocks, in neither train nor non_share
            assert not any(cores)
            non_share = test.loc[test["split_group"] == "non_share", [f"buildingblock{i}_smiles" for i in (1, 2, 3)]]
            assert not set(blocks.ravel()) & (train_blocks | set(non_share.to_numpy().ravel()))
    # not every other_core molecule is paired with all three proteins
    pairs = test[test["split_group"] == "other_core"].groupby("molecule_smiles").size()
    assert (pairs < 3).any() and (pairs >= 1).all()


def test_positive_rates_match_belka(tmp_path):
    out = generate(tmp_path / "lib", SynthConfig(n_train=50000, n_test=300, seed=5), progress=False)
    rates = json.loads((out / "synth.json").read_text())["train_positive_rate"]
    assert rates == pytest.approx({"BRD4": 0.0046, "HSA": 0.0041, "sEH": 0.0074}, abs=2e-4)
    binds = pq.read_table(out / "train.parquet", columns=["binds"])["binds"].to_numpy().reshape(-1, 3)
    assert np.allclose(binds.mean(axis=0), [0.0046, 0.0041, 0.0074], atol=2e-4)


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    cfg = SynthConfig(n_train=2000, n_test=300, seed=11, n_bb1=50, n_amines=100)
    a = pq.read_table(generate(tmp_path / "a", cfg, progress=False) / "train.parquet")
    b = pq.read_table(generate(tmp_path / "b", cfg, progress=False) / "train.parquet")
    c = pq.read_table(
        generate(tmp_path / "c", SynthConfig(**{**cfg.__dict__, "seed": 12}), progress=False) / "train.parquet"
    )
    assert a.equals(b)
    assert not a.equals(c)


def test_existing_directory_is_reused_only_for_the_same_settings(tmp_path, tiny_library):
    cfg = SynthConfig(n_train=1000, n_test=300, seed=2, n_bb1=50, n_amines=100)
    out = generate(tmp_path / "lib", cfg, progress=False)
    mtime = (out / "train.parquet").stat().st_mtime_ns
    assert generate(tmp_path / "lib", cfg, progress=False) == out
    assert (out / "train.parquet").stat().st_mtime_ns == mtime
    with pytest.raises(InputError, match="exists but was not written"):
        generate(
            tmp_path / "lib", SynthConfig(n_train=1001, n_test=300, seed=2, n_bb1=50, n_amines=100), progress=False
        )


def _blocks(frame) -> set:
    return set(frame[[f"buildingblock{i}_smiles" for i in (1, 2, 3)]].to_numpy().ravel())


def test_other_core_rule_is_an_option_and_train_does_not_depend_on_it(tmp_path):
    base = dict(n_train=2000, n_test=900, seed=4, n_bb1=60, n_amines=120)
    own = generate(tmp_path / "own", SynthConfig(**base), progress=False)
    shared = generate(tmp_path / "shared", SynthConfig(**base, other_core="shared_blocks"), progress=False)
    assert (own / "train.parquet").read_bytes() == (shared / "train.parquet").read_bytes()

    def other_core(d):
        test = pq.read_table(d / "test.parquet").to_pandas()
        sol = pq.read_table(d / "test_solution.parquet").to_pandas()
        return test.merge(sol, on="id").query("split_group == 'other_core'")

    pools = _blocks(pq.read_table(own / "train.parquet").to_pandas())
    assert not _blocks(other_core(own)) & pools
    # shared_blocks: 0.3.0's rule, the main library's blocks (about 0.8^3 of the molecules use train blocks only)
    assert len(_blocks(other_core(shared)) & pools) > 0.5 * len(_blocks(other_core(shared)))
    with pytest.raises(InputError, match="other_core='kin0': choose one of own_library, shared_blocks"):
        SynthConfig(other_core="kin0")


def test_other_core_rule_transfers_by_core_transfer():
    lib = build_library(SynthConfig(seed=3))

    def weights(rho):
        other = build_other_library(SynthConfig(seed=3, core_transfer=rho), lib)
        return np.concatenate([other.weights[k].ravel() for k in sorted(lib.weights)]), other

    main = np.concatenate([lib.weights[k].ravel() for k in sorted(lib.weights)])
    same, other = weights(1.0)
    assert np.allclose(same, main)
    assert other.core_term is not None and other.core_term.shape == (3,)
    assert not set(other.bb1_mol) & set(lib.bb1_mol) and not set(other.amine_mol) & set(lib.amine_mol)
    fresh, _ = weights(0.0)
    half, _ = weights(0.5)
    assert abs(np.corrcoef(fresh, main)[0, 1]) < 0.2
    assert 0.3 < np.corrcoef(half, main)[0, 1] < 0.85


def test_other_core_library_needs_unused_blocks(tmp_path):
    with pytest.raises(InputError, match="set other_core=shared_blocks"):
        generate(tmp_path / "lib", SynthConfig(n_bb1=1210), progress=False)
    assert not list(tmp_path.iterdir())  # nothing half-written
