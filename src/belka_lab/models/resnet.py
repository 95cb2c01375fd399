"""1D bottleneck ResNet (He et al. 2016, arXiv:1512.03385) over SMILES characters.

token embedding → stem Conv-BN-ReLU → stages of :class:`Bottleneck1d` → masked global
pooling → MLP head. ``stages`` lists (channels, blocks, stride of the stage's first block).
"""

from __future__ import annotations

import torch
from torch import nn

from belka_lab.models.layers import (
    Bottleneck1d,
    ConvNormAct,
    MaskedPool,
    MLPHead,
    TokenEmbedding,
    scale_stages,
    stack_stages,
)
from belka_lab.tokens.characters import VOCAB_SIZE


class ResNet1D(nn.Module):
    reads = "characters"  # the prepared character codes; vocab_size comes from the data (models/backbone.py)

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = 128,
        stem_channels: int = 128,
        stages=((256, 2, 1), (512, 2, 2), (1024, 2, 2)),
        width: float = 1.0,
        depth: float = 1.0,
        kernel_size: int = 3,
        reduction: int = 4,
        pool: str = "meanmax",
        head_hidden: int = 512,
        n_outputs: int = 3,
        dropout: float = 0.1,
        channels_last: bool = False,
    ):
        super().__init__()
        self.vocab_size, self.channels_last = vocab_size, channels_last
        self.embed = TokenEmbedding(vocab_size, embed_dim, channels_last)
        stem = max(8, int(round(stem_channels * width / 8)) * 8)
        self.stem = ConvNormAct(embed_dim, stem, kernel_size, channels_last=channels_last)
        self.stage_config = scale_stages(stages, width, depth)
        self.blocks, c_in = stack_stages(
            lambda c_in, c_out, stride: Bottleneck1d(
                c_in, c_out, stride, reduction, kernel_size, channels_last=channels_last
            ),
            stem,
            self.stage_config,
        )
        self.pool = MaskedPool(pool)
        self.head = MLPHead(self.pool.out_features(c_in), head_hidden, dropout, n_outputs=n_outputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens long [B, L], mask bool [B, L] → logits [B, 3]."""
        x, mask = self.stem(self.embed(tokens), mask)
        for block in self.blocks:
            x, mask = block(x, mask)
        return self.head(self.pool(x, mask, self.channels_last))
