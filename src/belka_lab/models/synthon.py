"""A network that reads what a DEL compound is made of: one building block per cycle.

The factorized form of DEL-Compose (KinDEL's ``compose/``), with an id embedding beside the
structure. Each block of a compound is encoded as

    h_c = MLP(ECFP bits of the block) + embedding(block id) + embedding(cycle c)

where the id embedding is kept for blocks the run's training molecules hold; a block never seen
(and, in training, a random ``id_dropout`` share of blocks, so that it is learnt) takes one shared
"unseen" vector and is known by its structure alone. Where the table names its blocks by id
only, there is no structure to fall back on: an unseen block is the shared vector, and the run
says so. Interactions across cycles follow DEL-Compose: an MLP per pair of cycles, one on all
cycles together, then attention over the blocks, pairs and whole (the whole as the query), into a
head with the outputs of the run's loss:

    [h_1 … h_C, pair_12 … , whole] → attention(query = whole) → MLP → outputs [B, n_outputs]

It reads ``tokenizer=blocks`` (``features/inputs.py``): the block ids [B, C], -1 where the data
names no block. The block table is built from the prepared data and kept in the checkpoint (the
bits and which blocks were seen as buffers, the blocks' SMILES as extra state), so a run scores
with the blocks it was trained on even after its data is prepared again; ``add_blocks`` appends
blocks a screened file brings (``belka predict`` does, from the file's block columns).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from torch import nn

from belka_lab.models.fp_mlp import unpacking_table


def _mlp(width_in: int, width: int, width_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, width), nn.ReLU(), nn.Linear(width, width_out))


class SynthonNet(nn.Module):
    reads = "blocks"  # block ids per cycle; the block table comes from the data (models/backbone.py)
    export_blocker = (
        "it reads block ids into a table that grows with the blocks each screened file brings; "
        "`belka predict run=` scores it from the file's block columns"
    )

    def __init__(
        self,
        bits: np.ndarray,
        seen: np.ndarray,
        cycles: int,
        smiles: list[str] | None = None,
        hidden: int = 128,
        heads: int = 4,
        id_dropout: float = 0.1,
        dropout: float = 0.0,
        n_outputs: int = 3,
    ):
        super().__init__()
        self.cycles, self.id_dropout = int(cycles), float(id_dropout)
        self.block_smiles = list(smiles) if smiles is not None else []  # the table's blocks, in id order
        bits = torch.as_tensor(np.asarray(bits), dtype=torch.uint8)
        self.n_bits = bits.shape[1] * 8
        self.register_buffer("unpack", unpacking_table(), persistent=False)
        self.register_buffer("block_bits", bits.clone())  # [blocks, n_bits / 8]
        self.register_buffer("block_seen", torch.as_tensor(np.asarray(seen), dtype=torch.bool).clone())
        self.structure = _mlp(self.n_bits, hidden, hidden)
        self.ids = nn.Embedding(len(bits) + 1, hidden)  # the last row: the shared vector of unseen blocks
        self.cycle = nn.Embedding(self.cycles, hidden)
        self.pairs = nn.ModuleList(_mlp(2 * hidden, hidden, hidden) for _ in combinations(range(self.cycles), 2))
        self.whole = _mlp(self.cycles * hidden, hidden, hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs)
        )

    @property
    def n_blocks(self) -> int:
        return len(self.block_bits)

    def get_extra_state(self) -> dict:
        return {"smiles": self.block_smiles}

    def set_extra_state(self, state: dict) -> None:
        self.block_smiles = list(state["smiles"])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint's block table, whatever the size of the one this network was built with."""
        bits, seen = state_dict.get(prefix + "block_bits"), state_dict.get(prefix + "block_seen")
        if bits is not None and seen is not None and bits.shape != self.block_bits.shape:
            self.block_bits, self.block_seen = torch.empty_like(bits), torch.empty_like(seen)
            self.ids = nn.Embedding(len(bits) + 1, self.ids.embedding_dim).to(self.ids.weight.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def add_blocks(self, bits: np.ndarray) -> np.ndarray:
        """Append blocks never seen (packed ECFP bits [n, n_bits / 8]); returns their ids."""
        start = self.n_blocks
        new = torch.as_tensor(np.asarray(bits), dtype=torch.uint8, device=self.block_bits.device)
        self.block_bits = torch.cat([self.block_bits, new])
        self.block_seen = torch.cat([self.block_seen, torch.zeros(len(new), dtype=torch.bool, device=new.device)])
        return np.arange(start, self.n_blocks)

    def encode_blocks(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, C] block ids → [B, C, hidden]."""
        ids = tokens.clamp_min(0)
        bits = self.unpack[self.block_bits[ids].long()].flatten(2) * mask[..., None]  # no bits for a missing block
        seen = self.block_seen[ids] & mask
        if self.training and self.id_dropout > 0:
            seen = seen & (torch.rand(seen.shape, device=seen.device) >= self.id_dropout)
        unseen = torch.full_like(ids, len(self.ids.weight) - 1)
        vectors = self.ids(torch.where(seen & (ids < len(self.ids.weight) - 1), ids, unseen))
        cycle = self.cycle.weight[None, : tokens.shape[1]]
        return self.structure(bits.to(self.cycle.weight.dtype)) + vectors + cycle

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens: long [B, C] block ids (-1: none); mask: bool [B, C] → outputs [B, n_outputs]."""
        h = self.encode_blocks(tokens, mask)  # B x C x H
        pairs = [
            mlp(torch.cat([h[:, i], h[:, j]], 1))
            for mlp, (i, j) in zip(self.pairs, combinations(range(self.cycles), 2))
        ]
        whole = self.whole(h.flatten(1))
        parts = torch.cat([h, torch.stack(pairs, 1), whole[:, None]], 1)  # B x (C + pairs + 1) x H
        pooled, _ = self.attention(whole[:, None], parts, parts, need_weights=False)
        return self.head(torch.cat([pooled[:, 0], whole], 1))
