"""The two descriptions of tokens: :class:`TokenizerConfig`, an entry of the ``tokenizer`` config
group (which tokenizer, where it is saved, its limits), and :class:`TokenSpec`, what a trained
model reads (the tokenizer, the width, the padding id, the vocabulary size), as a run's data gave
it or as an export saved it beside the model file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.tokens import characters as char


@dataclass
class TokenizerConfig:
    """One entry of the ``tokenizer`` config group."""

    name: str = "char"
    path: str | None = None  # pretrained: hub id or directory; bpe: where the trained tokenizer is saved
    vocab_size: int = 512  # bpe only
    max_length: int = 144  # tokens per molecule including <s> and </s>; longer molecules are an error
    batch_rows: int = 200_000
    radius: int = 2  # ecfp, blocks: the Morgan radius (2: ECFP4)
    n_bits: int = 2048  # ecfp, blocks: bits per molecule (or per building block)
    invalid: str = "error"  # ecfp: error | zeros (a molecule RDKit cannot parse gets no bits, listed in info.json)
    max_atoms: int = 64  # graph: atoms per molecule
    max_bonds: int = 72  # graph: bonds per molecule

    @property
    def is_fingerprint(self) -> bool:
        """The molecule's ECFP bits (``tokenizer=ecfp``), packed eight to a byte: what
        fingerprint models read (features/fingerprints.py computes and caches them)."""
        return self.name == "ecfp"

    @property
    def is_graph(self) -> bool:
        """The molecule's chemprop graph, cached as a row of bytes (``tokenizer=graph``,
        features/graphs.py): what the message-passing network reads."""
        return self.name == "graph"

    @property
    def is_blocks(self) -> bool:
        """The molecule's building-block ids, one per cycle (``tokenizer=blocks``, -1 where a block is
        unknown): what the synthon network reads, with the blocks' own ECFP bits."""
        return self.name == "blocks"

    @property
    def is_char(self) -> bool:
        return self.name == "char"

    @property
    def symbols(self) -> bool:
        """Ids with 0 as padding and no special tokens (character codes, atom tokens): what models
        that read characters take, with the vocabulary size of the data."""
        return self.name in ("char", "atom")


@dataclass(frozen=True)
class TokenSpec:
    """What a model reads: which tokenizer, how many ids per molecule, the padding id, the vocabulary
    size. Training, pretraining, screening and export all describe a model's input with it."""

    name: str  # char | atom | bpe | pretrained
    width: int  # ids per molecule the model reads
    pad_id: int
    vocab_size: int
    unknown: str = "invalid"  # char: a character outside the vocabulary makes the row invalid, or (unk) maps to UNK
    path: str | None = None  # atom, bpe, pretrained: the tokenizer's directory
    features: dict | None = None  # what is computed from a molecule: ecfp, blocks (radius, n_bits, dy); graph (limits)

    @classmethod
    def of_data(cls, tokens_file: Path, tokenizer: TokenizerConfig, pad_id: int, vocab_size: int) -> TokenSpec:
        """What the models read from prepared token ids (``tokens_file``) made by ``tokenizer``."""
        width = int(np.load(tokens_file, mmap_mode="r").shape[1])
        unknown = "unk" if tokenizer.is_char and vocab_size > char.VOCAB_SIZE else "invalid"
        if tokenizer.is_fingerprint or tokenizer.is_blocks:
            bits = {"radius": tokenizer.radius, "n_bits": tokenizer.n_bits, "dy": "keep"}
            return cls(tokenizer.name, width, int(pad_id), int(vocab_size), "invalid", None, bits)
        if tokenizer.is_graph:
            limits = {"max_atoms": tokenizer.max_atoms, "max_bonds": tokenizer.max_bonds}
            return cls(tokenizer.name, width, int(pad_id), int(vocab_size), "invalid", None, limits)
        path = None if tokenizer.is_char else str(Path(tokenizer.path).resolve())
        return cls(tokenizer.name, width, int(pad_id), int(vocab_size), unknown, path)

    @property
    def is_blocks(self) -> bool:
        """Building-block ids, one per cycle (``tokenizer=blocks``): encoded from block columns, not SMILES."""
        return self.name == "blocks"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TokenSpec:
        """From an export's sidecar; a character vocabulary saved there must be this one's."""
        vocabulary = data.get("vocabulary")
        if vocabulary is not None and vocabulary != char.CHAR_VOCAB:
            raise InputError("the exported model's character vocabulary differs from this belka_lab's: export it again")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
