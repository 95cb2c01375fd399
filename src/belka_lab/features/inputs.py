"""What a model reads of each prepared molecule: the array the data module serves as ``tokens``,
for each entry of the ``tokenizer`` config group.

- ``char``: the prepared character codes, ``<part>/tokens.npy`` (0 pads);
- ``atom``, ``bpe``, ``pretrained``: a tokenizer's cached ids, ``<part>/tokens_<name>.npy``
  (``tokens/cache.py``);
- ``ecfp``: the molecule's ECFP bits packed eight to a byte, ``fingerprints/<key>/<part>.npy``:
  the very cache the tree baselines read (``features/fingerprints.py``), computed once. No byte
  pads (the padding id is 256, outside a byte), so every position is read;
- ``graph``: the molecule's chemprop graph as a row of bytes, ``graphs/<key>/<part>.npy``
  (``features/graphs.py``), featurized once; no byte pads (the padding id is 256);
- ``blocks``: the molecule's building-block ids, one per cycle, ``<part>/bb_ids.npy`` (-1 pads: a
  block the data does not name); the blocks themselves (their ECFP bits, whether the run's
  training molecules hold them) come from :func:`block_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from belka_lab.core.errors import InputError
from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp, ecfp
from belka_lab.features.graphs import GraphConfig, cached_graphs
from belka_lab.tokens.cache import build_cache, cache_info
from belka_lab.tokens.characters import PAD
from belka_lab.tokens.spec import TokenizerConfig

BYTES = 256  # the values of a packed byte: a fingerprint's vocabulary and its padding id


def ecfp_config(tokenizer: TokenizerConfig) -> ECFPConfig:
    """The fingerprint ``tokenizer=ecfp`` reads (the trees' default, ``dy=keep``, so both share one cache)."""
    return ECFPConfig(
        radius=tokenizer.radius, n_bits=tokenizer.n_bits, invalid=tokenizer.invalid, option="data.tokenizer"
    )


def graph_config(tokenizer: TokenizerConfig) -> GraphConfig:
    return GraphConfig(max_atoms=tokenizer.max_atoms, max_bonds=tokenizer.max_bonds)


def make(tokenizer: TokenizerConfig, prepared_dir: Path, progress: bool = False) -> None:
    """Write what ``tokenizer`` reads beside the prepared data, unless it is there already."""
    if tokenizer.is_fingerprint:
        cached_ecfp(prepared_dir, ecfp_config(tokenizer), progress)
    elif tokenizer.is_graph:
        cached_graphs(prepared_dir, graph_config(tokenizer), progress)
    elif not (tokenizer.is_char or tokenizer.is_blocks):
        build_cache(tokenizer, prepared_dir, progress=progress)


def file(tokenizer: TokenizerConfig, prepared_dir: Path, part: str) -> Path:
    """The array of ``part`` (train or test) a model reading ``tokenizer`` is served."""
    if tokenizer.is_fingerprint:
        return Path(prepared_dir) / "fingerprints" / ecfp_config(tokenizer).key / f"{part}.npy"
    if tokenizer.is_blocks:
        return Path(prepared_dir) / part / "bb_ids.npy"
    if tokenizer.is_graph:
        return Path(prepared_dir) / "graphs" / graph_config(tokenizer).key / f"{part}.npy"
    name = "tokens" if tokenizer.is_char else f"tokens_{tokenizer.name}"
    return Path(prepared_dir) / part / f"{name}.npy"


def described(tokenizer: TokenizerConfig, prepared_dir: Path, vocab_size: int) -> tuple[int, int]:
    """(padding id, vocabulary size) of what ``tokenizer`` reads (``vocab_size``: the prepared
    character codes'), once :func:`make` has written it."""
    if tokenizer.is_char:
        return PAD, vocab_size
    if tokenizer.is_blocks:
        return -1, len(pd.read_parquet(Path(prepared_dir) / "building_blocks.parquet", columns=["bb_id"]))
    if tokenizer.is_fingerprint or tokenizer.is_graph:
        if not file(tokenizer, prepared_dir, "train").exists():
            raise InputError(
                f"{prepared_dir} has no cache for tokenizer={tokenizer.name} yet; run `python -m belka_lab prepare "
                f"tokenizer={tokenizer.name}` first (training does)"
            )
        return BYTES, BYTES
    info = cache_info(prepared_dir, "train", tokenizer.name)
    if info is None:
        raise InputError(
            f"{prepared_dir}/train has no tokens_{tokenizer.name}.npy yet; run `python -m belka_lab prepare "
            f"tokenizer={tokenizer.name}` first (training does)"
        )
    return info["pad_id"], info["vocab_size"]


@dataclass
class BlockTable:
    """The building blocks of a prepared directory, in id order: their SMILES, their ECFP bits
    (packed; zeros where RDKit cannot parse the name, as for a table that names blocks by id),
    whether RDKit parsed them, and whether a run's training molecules hold them."""

    smiles: list[str]
    bits: np.ndarray  # uint8 [blocks, n_bits / 8]
    parsed: np.ndarray  # bool [blocks]
    seen: np.ndarray  # bool [blocks]

    @property
    def by_id(self) -> bool:
        """The table names its blocks by id, not structure: none parses."""
        return not self.parsed.any()


def block_table(
    tokenizer: TokenizerConfig, prepared_dir: Path, bb_ids: np.ndarray, train_idx: np.ndarray
) -> BlockTable:
    """The blocks of ``prepared_dir`` with their bits, and those in the molecules ``train_idx`` of
    ``bb_ids`` (the training molecules' block ids [N, cycles])."""
    smiles = pd.read_parquet(Path(prepared_dir) / "building_blocks.parquet", columns=["smiles"])["smiles"].tolist()
    config = ECFPConfig(radius=tokenizer.radius, n_bits=tokenizer.n_bits, invalid="zeros", workers=1)
    bits, unparsed = ecfp(smiles, config)
    parsed = np.ones(len(smiles), bool)
    parsed[unparsed] = False
    seen = np.zeros(len(smiles), bool)
    for lo in range(0, len(train_idx), 4_000_000):
        ids = np.asarray(bb_ids[np.sort(train_idx[lo : lo + 4_000_000])]).ravel()
        seen[ids[ids >= 0]] = True
    return BlockTable(smiles, bits, parsed, seen)
