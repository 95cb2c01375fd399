"""1D SE-Xception: Xception's depthwise-separable residual modules (Chollet 2017,
arXiv:1610.02357) with squeeze-and-excitation (Hu et al. 2017, arXiv:1709.01507), for
SMILES character sequences.

token embedding → stages of :class:`XceptionBlock1d` → masked global pooling → MLP head.
``stages`` lists (channels, blocks, stride of the stage's first block); the reference
write-up's three networks are ``conf/model/se_xception{_v1,_v2,}.yaml`` (v3 is the default),
with sequence lengths 142 → 71 → 36 → 18 after the strided stages.
"""

from __future__ import annotations

import torch
from torch import nn

from belka_lab.models.layers import MaskedPool, MLPHead, TokenEmbedding, XceptionBlock1d, scale_stages, stack_stages
from belka_lab.tokens.characters import VOCAB_SIZE

V3_STAGES = ((256, 4, 1), (512, 2, 2), (768, 2, 1), (1024, 2, 2))


class SEXception1D(nn.Module):
    reads = "characters"  # the prepared character codes; vocab_size comes from the data (models/backbone.py)

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = 64,
        stages=V3_STAGES,
        width: float = 1.0,
        depth: float = 1.0,
        kernel_size: int = 3,
        se_reduction: int = 16,
        pool: str = "mean",
        head_hidden: int = 512,
        n_outputs: int = 3,
        dropout: float = 0.1,
        channels_last: bool = False,
    ):
        super().__init__()
        self.vocab_size, self.channels_last = vocab_size, channels_last
        self.embed = TokenEmbedding(vocab_size, embed_dim, channels_last)
        self.stage_config = scale_stages(stages, width, depth)
        self.blocks, c_in = stack_stages(
            lambda c_in, c_out, stride: XceptionBlock1d(
                c_in, c_out, stride, kernel_size, se_reduction, channels_last=channels_last
            ),
            embed_dim,
            self.stage_config,
        )
        self.pool = MaskedPool(pool)
        self.head = MLPHead(self.pool.out_features(c_in), head_hidden, dropout, n_outputs=n_outputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens long [B, L], mask bool [B, L] → logits [B, 3]."""
        x = self.embed(tokens)
        for block in self.blocks:
            x, mask = block(x, mask)
        return self.head(self.pool(x, mask, self.channels_last))
