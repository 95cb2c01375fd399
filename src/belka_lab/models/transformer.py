"""Transformer encoder over SMILES characters.

token embedding (+ learned positions, or rotary positions inside attention) → pre-norm
blocks → LayerNorm → masked mean over characters, or the output of a prepended [CLS]
token → MLP head → 3 logits. Padding is excluded as a key everywhere, so a molecule's
prediction does not depend on how much padding follows it.

The embedding has one row more than the vocabulary: ``mask_token_id`` (= vocab_size), the
[MASK] token of masked-language-model pretraining (``python -m belka_lab pretrain``), which
uses :meth:`features` for the per-character outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from belka_lab.models.attention import TransformerBlock, rotary_tables
from belka_lab.models.layers import MLPHead, masked_mean
from belka_lab.tokens.characters import MAX_LEN, VOCAB_SIZE


class TransformerEncoder1D(nn.Module):
    reads = "characters"  # the prepared character codes; vocab_size comes from the data (models/backbone.py)

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        d_model: int = 256,
        n_layers: int = 4,
        n_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        positions: str = "rotary",
        max_len: int = MAX_LEN,
        pool: str = "mean",
        head_hidden: int = 0,
        n_outputs: int = 3,
        head_dropout: float = 0.1,
    ):
        super().__init__()
        if positions not in ("rotary", "learned"):
            raise ValueError(f"positions must be rotary or learned (got {positions!r})")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be mean or cls (got {pool!r})")
        self.vocab_size, self.d_model, self.positions, self.pool = vocab_size, d_model, positions, pool
        self.head_dim, self.max_len = d_model // n_heads, max_len
        self.embed = nn.Embedding(vocab_size + 1, d_model, padding_idx=0)  # + [MASK]
        n_pos = max_len + (pool == "cls")
        self.pos = nn.Parameter(torch.randn(n_pos, d_model) * 0.02) if positions == "learned" else None
        self.cls = nn.Parameter(torch.randn(d_model) * 0.02) if pool == "cls" else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, mlp_ratio, dropout, attn_dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = MLPHead(d_model, head_hidden, head_dropout, n_outputs=n_outputs)

    @property
    def symbol_range(self) -> tuple[int, int]:
        """Ids random replacements come from in masked-token pretraining: every character, no padding."""
        return (1, self.vocab_size - 1)

    @property
    def mask_token_id(self) -> int:
        return self.vocab_size

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-character outputs [B, L, D], pooled molecule vector [B, D])."""
        x = self.embed(tokens)
        key_mask = mask
        if self.cls is not None:
            x = torch.cat([self.cls.expand(len(x), 1, -1).to(x.dtype), x], dim=1)
            key_mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        else:  # a molecule without characters still gets a valid (first) key: no NaN rows
            key_mask = torch.cat([mask[:, :1] | ~mask.any(1, keepdim=True), mask[:, 1:]], dim=1)
        length = x.shape[1]
        if length > self.max_len + (self.cls is not None):
            raise ValueError(f"sequence of {length} positions is longer than max_len={self.max_len}")
        rope = None
        if self.pos is not None:
            x = x + self.pos[:length].to(x.dtype)
        else:
            rope = rotary_tables(length, self.head_dim, device=x.device)
        for block in self.blocks:
            x = block(x, key_mask, rope)
        x = self.norm(x)
        if self.cls is not None:
            return x[:, 1:], x[:, 0]
        return x, masked_mean(x, mask, channels_last=True)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens long [B, L], mask bool [B, L] → logits [B, 3]."""
        return self.head(self.features(tokens, mask)[1])
