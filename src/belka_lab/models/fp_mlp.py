"""A multilayer perceptron on a molecule's ECFP bits: the fingerprint network of the DEL
benchmarks (KinDEL's DNN), beside the fingerprint trees of ``belka baseline``.

It reads ``tokenizer=ecfp``: the bits packed eight to a byte (``features/inputs.py``), the cache
the trees read too. The bytes are unpacked on the device by a table lookup (a gather, which ONNX
and TorchScript export), most significant bit first as ``np.packbits`` packed them:

    bits [B, n_bits] → (Linear, BatchNorm, Dropout, ReLU) per hidden size → Linear → [B, n_outputs]

KinDEL's DNN has this shape (2048 → 512 → 512 → 512 → 512, dropout 0.2, batch norm), trained
there with Adam at 1e-5 on batches of 32; here it trains with the run's optimizer and batch size.
"""

from __future__ import annotations

import torch
from torch import nn


def unpacking_table() -> torch.Tensor:
    """float [257, 8]: the bits of each byte value, most significant first (row 256, the padding
    id, is all zeros)."""
    values = torch.arange(256)[:, None]
    bits = (values // (2 ** torch.arange(7, -1, -1))) % 2
    return torch.cat([bits, torch.zeros(1, 8, dtype=bits.dtype)]).float()


class FingerprintMLP(nn.Module):
    reads = "fingerprint"  # the ECFP bits of tokenizer=ecfp; n_bits comes from the data (models/backbone.py)

    def __init__(
        self,
        n_bits: int = 2048,
        hidden: tuple[int, ...] = (512, 512, 512, 512),
        dropout: float = 0.2,
        batch_norm: bool = True,
        n_outputs: int = 3,
    ):
        super().__init__()
        self.n_bits = int(n_bits)
        self.register_buffer("bits", unpacking_table(), persistent=False)
        layers, width = [], self.n_bits
        for h in hidden:
            norm = nn.BatchNorm1d(h) if batch_norm else nn.Identity()
            layers += [nn.Linear(width, h), norm, nn.Dropout(dropout), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, n_outputs))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens: long [B, n_bits / 8], the packed bytes; mask: unused (no byte pads) → [B, n_outputs]."""
        x = self.bits[tokens].flatten(1)  # B x n_bits of 0/1
        return self.mlp(x.to(self.mlp[0].weight.dtype))
