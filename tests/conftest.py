from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from belka_lab.dataset.prepare import PrepareOptions, prepare
from belka_lab.synth.config import SynthConfig
from belka_lab.synth.generate import generate

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory) -> Path:
    """A 3,000-molecule synthetic library (BELKA's positive rates)."""
    return generate(
        tmp_path_factory.mktemp("synth") / "lib",
        SynthConfig(n_train=3000, n_test=600, seed=3, n_bb1=60, n_amines=120),
        progress=False,
    )


@pytest.fixture(scope="session")
def rich_library(tmp_path_factory) -> Path:
    """20,000 molecules with 5% positives: enough signal for short learning tests."""
    cfg = SynthConfig(n_train=20000, n_test=1500, seed=1, rates=(0.05, 0.05, 0.05))
    return generate(tmp_path_factory.mktemp("synth") / "rich", cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_library, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "prepared"
    return prepare(
        tiny_library / "train.parquet",
        tiny_library / "test.parquet",
        out,
        tiny_library / "test_solution.parquet",
        PrepareOptions(batch_rows=1000, n_bb_groups=3, progress=False),
    )


@pytest.fixture(scope="session")
def smiles_tokenizer(tiny_library, tmp_path_factory) -> Path:
    """A small BPE tokenizer trained on the tiny library's SMILES, saved with save_pretrained."""
    from belka_lab.tokens.huggingface import train_bpe

    smiles = pq.read_table(tiny_library / "train.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[::3]
    out = tmp_path_factory.mktemp("tok") / "bpe"
    train_bpe(smiles, out, vocab_size=96)
    return out


def pytest_collection_modifyitems(config, items):
    """Tiers: every test under tests/integration is ``slow`` (training runs, subprocesses, DDP,
    DALI); ``gpu`` tests run only where CUDA is available."""
    import torch

    no_cuda = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(no_cuda)
