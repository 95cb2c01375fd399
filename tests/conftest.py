from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from belka_lab.data.ingest import PrepareOptions, prepare
from belka_lab.data.synth import SynthConfig, generate

os.environ.setdefault("MPLBACKEND", "Agg")

BB1 = "O=C(N[C@@H](C)C(=O)O)OCC1c2ccccc2-c2ccccc21"
MOL_A = "C[C@@H](C(=O)N[Dy])Nc1nc(NCc2ccccc2)nc(NCCO)n1"
MOL_B = "C[C@@H](C(=O)N[Dy])Nc1nc(NCC#C)nc(Nc2ccc(F)cc2)n1"
MOL_C = "C[C@@H](C(=O)N[Dy])Nc1nc(NCCOC)nc(NCc2ccccc2)n1"


def kaggle_rows(rows: list[tuple]) -> pa.Table:
    """rows: (id, molecule_smiles, protein_name, binds) → a Kaggle-schema table."""
    ids, mols, prots, binds = zip(*rows)
    n = len(rows)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "buildingblock1_smiles": [BB1] * n,
            "buildingblock2_smiles": ["NCc1ccccc1"] * n,
            "buildingblock3_smiles": ["NCCO"] * n,
            "molecule_smiles": list(mols),
            "protein_name": list(prots),
            "binds": pa.array(binds, pa.int64()) if all(isinstance(b, int) for b in binds) else list(binds),
        }
    )


def full_rows(start_id: int, molecules: list[str], labels: list[tuple[int, int, int]]) -> list[tuple]:
    out, i = [], start_id
    for m, lab in zip(molecules, labels):
        for p, b in zip(("BRD4", "HSA", "sEH"), lab):
            out.append((i, m, p, b))
            i += 1
    return out


def write_test_file(path: Path, molecules: list[str], start_id: int = 1000) -> Path:
    rows = [(start_id + i, m, p, 0) for i, (m, p) in enumerate((m, p) for m in molecules for p in ("BRD4", "sEH"))]
    pq.write_table(kaggle_rows(rows).drop(["binds"]), path)
    return path


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory) -> Path:
    """A 3,000-molecule synthetic library (BELKA's positive rates)."""
    return generate(tmp_path_factory.mktemp("synth") / "lib", SynthConfig(n_train=3000, n_test=600, seed=3, n_bb1=60, n_amines=120), progress=False)


@pytest.fixture(scope="session")
def rich_library(tmp_path_factory) -> Path:
    """20,000 molecules with 5% positives: enough signal for short learning tests."""
    cfg = SynthConfig(n_train=20000, n_test=1500, seed=1, rates=(0.05, 0.05, 0.05))
    return generate(tmp_path_factory.mktemp("synth") / "rich", cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_library, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "prepared"
    return prepare(tiny_library / "train.parquet", tiny_library / "test.parquet", out, tiny_library / "test_solution.parquet", PrepareOptions(batch_rows=1000, n_bb_groups=3, progress=False))


@pytest.fixture(scope="session")
def smiles_tokenizer(tiny_library, tmp_path_factory) -> Path:
    """A small BPE tokenizer trained on the tiny library's SMILES, saved with save_pretrained."""
    from belka_lab.data.token_cache import train_bpe

    smiles = pq.read_table(tiny_library / "train.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[::3]
    out = tmp_path_factory.mktemp("tok") / "bpe"
    train_bpe(smiles, out, vocab_size=96)
    return out
