"""SMILES → what a run's network reads (its token ids, or its fingerprint bytes), for any
molecule, row by row.

:class:`~belka_lab.tokens.spec.TokenSpec` is what a model reads — which tokenizer, how many ids per molecule, the
padding id, the vocabulary size — as a run's data gave it (:func:`TokenSpec.of_data`) or as an
export saved it beside the model file. :func:`encoder` returns the matching encoder. Its
``encode(smiles)`` never stops at a bad row: it returns every row's ids (padding for a row it
cannot encode) and, for the rows it cannot, why — missing SMILES, too long for the model, a
character outside the vocabulary, an unclosed bracket — so that the screen applies the user's
``on_invalid`` policy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from belka_lab.core.errors import InputError
from belka_lab.features.fingerprints import ECFPConfig, ecfp
from belka_lab.features.graphs import TOO_BIG, UNPARSED, GraphConfig, graphs
from belka_lab.tokens import characters as char
from belka_lab.tokens.atoms import AtomTokenizer, split_codes
from belka_lab.tokens.huggingface import load_tokenizer
from belka_lab.tokens.spec import TokenSpec


@dataclass
class Encoded:
    ids: np.ndarray  # [n, width]; padding on rows that cannot be encoded
    bad: np.ndarray  # int64: the rows that cannot
    why: list[str]  # one reason per bad row

    @property
    def good(self) -> np.ndarray:
        """bool [n]: the rows that could be encoded."""
        good = np.ones(len(self.ids), bool)
        good[self.bad] = False
        return good


def _encoded(ids: np.ndarray, status: np.ndarray, reasons: dict[int, str]) -> Encoded:
    bad = np.flatnonzero(status)
    return Encoded(ids, bad, [reasons[int(s)] for s in status[bad]])


class CharEncoder:
    """The prepared data's character codes (``tokenizer=char``)."""

    def __init__(self, spec: TokenSpec):
        self.spec = spec

    def encode(self, smiles: pa.Array) -> Encoded:
        ids, status = char.encode_checked(smiles, self.spec.width, self.spec.unknown)
        reasons = {
            char.MISSING: "missing SMILES",
            char.TOO_LONG: f"longer than the {self.spec.width} characters the model reads",
            char.UNKNOWN_CHAR: "a character outside the model's vocabulary",
        }
        return _encoded(ids, status, reasons)


class AtomEncoder:
    """Atom tokens (``tokenizer=atom``), split over the character codes; a token the vocabulary
    has not seen becomes ``<unk>``, as in training."""

    def __init__(self, spec: TokenSpec):
        self.spec = spec
        self.tokenizer = AtomTokenizer.load(Path(spec.path))

    def encode(self, smiles: pa.Array) -> Encoded:
        longest = max(int(np.max(pc.utf8_length(smiles).fill_null(0).to_numpy(), initial=1)), 1)
        codes, status = char.encode_checked(smiles, longest, "unk")
        unclosed = split_codes(codes)[5]
        codes[unclosed] = 0
        status[unclosed & (status == char.OK)] = 5
        ids, counts = self.tokenizer.encode_codes(codes)
        status[(counts > self.spec.width) & (status == char.OK)] = char.TOO_LONG
        out = np.full((len(ids), self.spec.width), self.spec.pad_id, np.int64)
        keep = min(self.spec.width, ids.shape[1])
        out[:, :keep] = ids[:, :keep]
        out[status != char.OK] = self.spec.pad_id
        reasons = {
            char.MISSING: "missing SMILES",
            char.TOO_LONG: f"more than the {self.spec.width} atom tokens the model reads",
            5: "an unclosed '[' or a stray '%'",
        }
        return _encoded(out, status, reasons)


class HFEncoder:
    """A saved Hugging Face tokenizer (``tokenizer=bpe|pretrained``): ``<s> … </s>`` then padding."""

    def __init__(self, spec: TokenSpec):
        self.spec = spec
        self.tokenizer = load_tokenizer(spec.path)

    def encode(self, smiles: pa.Array) -> Encoded:
        values = smiles.to_pylist()
        status = np.array([0 if s else char.MISSING for s in values], np.uint8)
        ids = self.tokenizer([s or "" for s in values], add_special_tokens=True)["input_ids"]
        out = np.full((len(values), self.spec.width), self.spec.pad_id, np.int64)
        for i, row in enumerate(ids):
            if status[i]:
                continue
            if len(row) > self.spec.width:
                status[i] = char.TOO_LONG
            else:
                out[i, : len(row)] = row
        reasons = {
            char.MISSING: "missing SMILES",
            char.TOO_LONG: f"more than the {self.spec.width} tokens the model reads",
        }
        return _encoded(out, status, reasons)


class ECFPEncoder:
    """ECFP bits packed eight to a byte (``tokenizer=ecfp``), as the prepared cache holds them."""

    def __init__(self, spec: TokenSpec):
        self.spec = spec
        self.config = ECFPConfig(**spec.features, invalid="zeros", workers=1)

    def encode(self, smiles: pa.Array) -> Encoded:
        return encode_ecfp(smiles, self.config)  # bytes: the scorer widens them on the device


def encode_ecfp(smiles: pa.Array, config: ECFPConfig) -> Encoded:
    """Packed ECFP bits of every row (zeros where a row is missing or RDKit cannot parse it, and
    why): what ``model=fp_mlp`` and the tree baselines read."""
    values = smiles.to_pylist()
    status = np.array([0 if s else char.MISSING for s in values], np.uint8)
    bits, unparsed = ecfp([s or "" for s in values], replace(config, invalid="zeros"))
    status[[i for i in unparsed if not status[i]]] = 5
    bits[status != 0] = 0
    return _encoded(bits, status, {char.MISSING: "missing SMILES", 5: "RDKit cannot parse it"})


class GraphEncoder:
    """chemprop graphs as the prepared cache holds them (``tokenizer=graph``)."""

    def __init__(self, spec: TokenSpec):
        self.spec = spec
        self.config = GraphConfig(**spec.features, workers=1)

    def encode(self, smiles: pa.Array) -> Encoded:
        values = smiles.to_pylist()
        parts = list(graphs([s or "" for s in values], self.config))
        rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, self.config.width), np.uint8)
        status = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.uint8)
        status[[i for i, s in enumerate(values) if not s]] = char.MISSING
        reasons = {
            char.MISSING: "missing SMILES",
            UNPARSED: "RDKit cannot parse it",
            TOO_BIG: f"more than the {self.config.max_atoms} atoms or {self.config.max_bonds} bonds the model reads",
        }
        return _encoded(rows, status, reasons)  # bytes: the scorer widens them on the device


class BlocksEncoder:
    """A compound's building blocks (one column per cycle) → block ids (``tokenizer=blocks``): a
    block of the run's table keeps its id; a block it has never met is given to ``add`` (its packed
    ECFP bits → new ids; the synthon network appends it as unseen), once per block."""

    def __init__(self, spec: TokenSpec, smiles: list[str], add):
        self.spec, self.add = spec, add
        self.known = {s: i for i, s in enumerate(smiles)}
        self.config = ECFPConfig(**spec.features, invalid="zeros", workers=1)

    def encode(self, blocks: list[pa.Array]) -> Encoded:
        values = [col.to_pylist() for col in blocks]
        new = sorted({b for col in values for b in col if b and b not in self.known})
        if new:
            self.known |= dict(zip(new, self.add(ecfp(new, self.config)[0]).tolist()))
        ids = np.array([[self.known.get(b, -1) if b else -1 for b in col] for col in values], np.int64).T
        status = (ids < 0).any(axis=1).astype(np.uint8)
        return _encoded(ids.reshape(len(status), len(blocks)), status, {1: "a building block is missing"})


def encoder(spec: TokenSpec):
    if spec.name == "char":
        return CharEncoder(spec)
    if spec.name == "atom":
        return AtomEncoder(spec)
    if spec.name in ("bpe", "pretrained"):
        return HFEncoder(spec)
    if spec.name == "ecfp":
        return ECFPEncoder(spec)
    if spec.name == "graph":
        return GraphEncoder(spec)
    raise InputError(
        f"tokenizer {spec.name!r}: this belka_lab encodes char, atom, bpe, pretrained, ecfp and graph from SMILES "
        f"(blocks: from the building-block columns)"
    )
