"""The model ↔ data contract.

A backbone is an ``nn.Module`` with ``forward(tokens: LongTensor[B, L], mask: BoolTensor[B, L])
-> Tensor[B, T]`` logits (one per target of the data; its constructor takes ``n_outputs``, which
the data module's ``targets`` set when the model is built) and a class attribute ``reads``:

- ``"characters"``: symbols with 0 as padding and no special tokens: the prepared data's
  character codes (``tokenizer=char``) or atom tokens (``tokenizer=atom``). Its constructor takes
  ``vocab_size``, which the data module passes when the model is built (37 codes, 38 when the
  data was prepared with ``unknown_chars=unk``, the atom vocabulary's size): model configs do
  not repeat it (a config may ask for a larger embedding, never a smaller one).
- ``"tokenizer"``: the ids of its own tokenizer (``model.backbone.tokenizer``); the data module
  serves that tokenizer's cached ids, and the backbone's ``pad_token_id`` must equal theirs.
- ``"fingerprint"``: a molecule's ECFP bits packed eight to a byte (``tokenizer=ecfp``,
  ``features/inputs.py``); its constructor takes ``n_bits``, which the data module passes.
- ``"graph"``: a molecule's chemprop graph as a row of bytes (``tokenizer=graph``,
  ``features/graphs.py``); its constructor takes ``max_atoms`` and ``max_bonds``.
- ``"blocks"``: a molecule's building-block ids, one per cycle (``tokenizer=blocks``, -1 where
  none is named); its constructor takes ``bits`` and ``seen`` (each block's packed ECFP bits,
  whether the training molecules hold it: the data module's ``block_table``) and ``cycles``.

Optional abilities, each a protocol checked with ``isinstance``: :class:`Pretrainable` (masked-token
pretraining, ``belka pretrain``) and :class:`LayerGroups` (layer-wise learning rates, ``model.lr_decay``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from torch import nn

from belka_lab.core.errors import InputError

READS = ("characters", "tokenizer", "fingerprint", "blocks", "graph")
SERVED = {
    "fingerprint": "ecfp",
    "blocks": "blocks",
    "graph": "graph",
}  # what a backbone reads that only one tokenizer serves


@runtime_checkable
class Pretrainable(Protocol):
    """Per-token outputs for masked-token prediction: ``features`` returns (per token [B, L, D],
    pooled [B, D]); ``symbol_range`` is the inclusive id range random replacements come from."""

    d_model: int
    vocab_size: int
    mask_token_id: int
    symbol_range: tuple[int, int]

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class LayerGroups(Protocol):
    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input up (the head last)."""
        ...


def build_backbone(config, data, n_outputs: int | None = None) -> nn.Module:
    """Instantiate ``config`` (a ``model.backbone`` node) for the token arrays of ``data`` (a set-up
    BelkaDataModule): checks what it reads against what the data serves and passes ``vocab_size``
    and ``n_outputs`` (default: one per target; a count likelihood asks for more)."""
    n_outputs = n_outputs or len(data.targets)
    cls = get_class(config._target_)
    reads = getattr(cls, "reads", None)
    if reads not in READS:
        raise InputError(
            f"{config._target_} does not say what it reads: give the class `reads` one of {', '.join(READS)} "
            f"(models/backbone.py)"
        )
    if SERVED.get(reads) != (data.tokenizer.name if data.tokenizer.name in SERVED.values() else None):
        wanted = f"tokenizer={SERVED[reads]}" if reads in SERVED else "tokenizer=char (or the one it was made for)"
        raise InputError(f"{cls.__name__} reads {reads}, not what tokenizer={data.tokenizer.name} serves: use {wanted}")
    if reads == "tokenizer" and data.tokenizer.symbols:
        raise InputError(
            f"{cls.__name__} reads its own tokenizer's ids: add tokenizer=pretrained data.tokenizer.path=<its dir> or "
            f"tokenizer=bpe (see experiment=chemberta)"
        )
    if reads == "characters" and not data.tokenizer.symbols:
        raise InputError(
            f"{cls.__name__} reads symbols with 0 as padding: use tokenizer=char or tokenizer=atom (not "
            f"{data.tokenizer.name})"
        )
    if reads == "characters":
        vocab = config.get("vocab_size") or data.vocab_size  # a larger embedding may be asked for, never a smaller one
        if vocab < data.vocab_size:
            raise InputError(
                f"{data.prepared_dir} uses {data.vocab_size} token codes but the model embeds {vocab}: remove "
                f"model.backbone.vocab_size (the data sets it) or set model.backbone.vocab_size={data.vocab_size}"
            )
        backbone = instantiate(config, vocab_size=vocab, n_outputs=n_outputs)
    elif reads == "fingerprint":
        backbone = instantiate(config, n_bits=data.tokenizer.n_bits, n_outputs=n_outputs)
    elif reads == "graph":
        limits = {"max_atoms": data.tokenizer.max_atoms, "max_bonds": data.tokenizer.max_bonds}
        backbone = instantiate(config, **limits, n_outputs=n_outputs)
    elif reads == "blocks":
        table = data.block_table()
        if table.by_id:
            print(
                f"{cls.__name__}: {data.prepared_dir} names its building blocks by id, not structure: a block the "
                f"training molecules do not hold is read as one shared vector"
            )
        blind = int((np.asarray(data.store.test("bb_ids")) < 0).all(axis=1).sum()) if data.n_test else 0
        if blind:
            print(
                f"{cls.__name__}: {blind:,} of the {data.n_test:,} compounds of the test part name no building block "
                f"(an affinity file without the table's block columns): it scores them all alike; give the file the "
                f"block columns to rank them"
            )
        made = instantiate(config, _partial_=True)
        width = data.token_spec.width
        backbone = made(bits=table.bits, seen=table.seen, cycles=width, smiles=table.smiles, n_outputs=n_outputs)
    else:
        backbone = instantiate(config, n_outputs=n_outputs)
    if reads == "tokenizer" and backbone.pad_token_id != data.pad_id:
        raise InputError(
            f"tokenizer {data.tokenizer.path} pads with id {data.pad_id} but the model with {backbone.pad_token_id}: "
            f"use the model's own tokenizer"
        )
    return backbone
