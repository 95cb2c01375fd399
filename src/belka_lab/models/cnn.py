"""1D CNN of the public "BELKA 1DCNN Starter with all data" notebook.

Embedding(37, 128, padding 0) → three valid Conv1d (32, 64, 96 channels, kernel 3, ReLU)
→ global max pool → Linear 1024, 1024, 512 (ReLU, dropout 0.1) → 3 logits.
As in the notebook, the max pool runs over every position, padding included.
"""

from __future__ import annotations

import torch
from torch import nn

from belka_lab.tokens.characters import VOCAB_SIZE


class CNN1D(nn.Module):
    reads = "characters"  # the prepared character codes; vocab_size comes from the data (models/backbone.py)

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = 128,
        channels: tuple[int, ...] = (32, 64, 96),
        kernel_size: int = 3,
        hidden: tuple[int, ...] = (1024, 1024, 512),
        dropout: float = 0.1,
        n_outputs: int = 3,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        convs, c_in = [], embed_dim
        for c in channels:
            convs += [nn.Conv1d(c_in, c, kernel_size), nn.ReLU()]
            c_in = c
        self.convs = nn.Sequential(*convs)
        layers = []
        for h in hidden:
            layers += [nn.Linear(c_in, h), nn.ReLU(), nn.Dropout(dropout)]
            c_in = h
        self.head = nn.Sequential(*layers, nn.Linear(c_in, n_outputs))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens: long [B, L]; mask: bool [B, L] (unused, see module docstring) → logits [B, 3]."""
        x = self.embed(tokens).transpose(1, 2)  # B x E x L
        x = self.convs(x).amax(dim=2)  # B x C
        return self.head(x)
