"""Pre-norm transformer block over SMILES tokens: multi-head self-attention through
``F.scaled_dot_product_attention`` (PyTorch picks the fused flash / memory-efficient kernel
on GPUs and the math or CPU-fused kernel elsewhere) with a key-padding mask, optional
rotary positions (Su et al. 2021, arXiv:2104.09864), and a GELU MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotary_tables(length: int, head_dim: int, base: float = 10_000.0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [length, head_dim/2] for positions 0..length-1."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the last dim of x [B, H, L, Dh] by position."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.to(x.dtype)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.head_dim, self.dropout = n_heads, d_model // n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """x [B, L, D]; key_mask bool [B, L] (True = may be attended to)."""
        b, length, d = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(b, length, d))


class TransformerBlock(nn.Module):
    """x + Attn(LN(x)); x + MLP(LN(x))  (pre-norm, Xiong et al. 2020)."""

    def __init__(
        self, d_model: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.1, attn_dropout: float = 0.0
    ):
        super().__init__()
        hidden = int(d_model * mlp_ratio)
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, attn_dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor, rope=None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_mask, rope))
        return x + self.drop(self.mlp(self.norm2(x)))
