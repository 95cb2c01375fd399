"""Mamba over SMILES characters: selective state-space blocks (Gu & Dao 2023, arXiv:2312.00752),
optionally bidirectional.

Each block: x + Mixer(RMSNorm(x)), the mixer being Mamba's — in-projection to (u, z),
causal depthwise conv + SiLU on u, input-dependent (Δ, B, C), the selective scan
h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, y_t = C_t h_t + D u_t, gate by SiLU(z),
out-projection. Bidirectional blocks add a second mixer that reads every molecule backwards
(each row reversed within its own length, so padding stays behind the characters).

The scan is chosen once, at import time: ``mamba_ssm``'s CUDA kernel when that package is
installed (used for tensors on a CUDA device), else a parallel scan in plain PyTorch
(Blelloch, from ``mambapy``) over chunks of ``scan_chunk`` positions, carrying the state from
chunk to chunk and recomputing each chunk in the backward pass, so that a batch needs
O(B·chunk·D·N) memory instead of O(B·L·D·N) (24 GB at batch 512 for the default model).
Both take the same parameters. :func:`selective_scan_sequential` is the step-by-step
reference the scan is tested against.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from mambapy.pscan import pscan
from torch import nn

from belka_lab.models.layers import MLPHead, masked_mean
from belka_lab.tokens.characters import VOCAB_SIZE

try:  # the fused CUDA kernel, where the package is installed
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _kernel_scan
except ImportError:  # pragma: no cover - depends on the machine
    _kernel_scan = None


def _up(x: torch.Tensor) -> torch.Tensor:
    """At least float32: the scan accumulates over the whole sequence."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _discretise(u, delta, A, B):
    """exp(ΔA) and ΔB·u, both [B, L, D, N], in at least float32."""
    delta = _up(delta).transpose(1, 2)  # B L D
    dA = torch.exp(delta[..., None] * _up(A))
    dBu = (delta * _up(u).transpose(1, 2))[..., None] * _up(B).transpose(1, 2)[:, :, None, :]
    return dA, dBu


def _scan_chunk(u, delta, A, B, C, h0):
    """One chunk of the recurrence from state h0 (None: zero) by the parallel scan: (y [B, c, D], last state)."""
    dA, dBu = _discretise(u, delta, A, B)  # B c D N
    if h0 is not None:  # h_0 = exp(Δ_0 A) h0 + Δ_0 B_0 u_0: fold the carried state into the first input
        dBu = torch.cat([dBu[:, :1] + dA[:, :1] * h0[:, None], dBu[:, 1:]], dim=1)
    h = pscan(dA, dBu)  # B c D N
    return (h @ _up(C).transpose(1, 2)[..., None]).squeeze(-1), h[:, -1].clone()  # not a view: h is freed


def selective_scan_parallel(u, delta, A, B, C, D, chunk: int | None = None):
    """u, delta [B, D, L]; A [D, N]; B, C [B, N, L]; D [D] → y [B, D, L].

    Parallel (Blelloch) within chunks of `chunk` positions (a power of two; None: the whole
    sequence), sequential across them, carrying the [B, D, N] state. With gradients each chunk
    is recomputed in the backward pass (activation checkpointing), so memory is
    O(B·chunk·D·N), not the O(B·L·D·N) of one scan over the sequence."""
    length = u.shape[2]
    chunk = chunk or 1 << max(length - 1, 1).bit_length()
    if chunk < 2 or chunk & (chunk - 1):
        raise ValueError(f"the scan's chunk must be a power of two of at least 2 (got {chunk})")
    pad = -length % chunk  # Δ = 0 on padding: exp(0·A) = 1 and no input, so the state passes unchanged
    if pad:
        u, delta, B, C = (F.pad(t, (0, pad)) for t in (u, delta, B, C))
    checkpoint = torch.is_grad_enabled() and length > chunk
    ys, h = [], None
    for s in range(0, length + pad, chunk):
        part = (u[..., s : s + chunk], delta[..., s : s + chunk], A, B[..., s : s + chunk], C[..., s : s + chunk], h)
        y, h = (
            torch.utils.checkpoint.checkpoint(_scan_chunk, *part, use_reentrant=False)
            if checkpoint
            else _scan_chunk(*part)
        )
        ys.append(y)
    y = torch.cat(ys, dim=1)[:, :length]  # B L D
    return (y.transpose(1, 2) + _up(u[..., :length]) * _up(D)[:, None]).to(u.dtype)


def selective_scan_sequential(u, delta, A, B, C, D):
    """The same recurrence one step at a time, holding one [B, D, N] state: the reference the
    parallel scan is tested against."""
    A = _up(A)
    h = None
    ys = []
    for t in range(u.shape[2]):
        dt = _up(delta[:, :, t])  # B D
        dBu = (dt * _up(u[:, :, t]))[:, :, None] * _up(B[:, None, :, t])
        h = dBu if h is None else torch.exp(dt[:, :, None] * A) * h + dBu
        ys.append((h @ _up(C[:, :, t, None])).squeeze(-1))
    return (torch.stack(ys, dim=2) + _up(u) * _up(D)[:, None]).to(u.dtype)


def selective_scan(u, delta, A, B, C, D, chunk: int = 16):
    """The fused kernel where installed; else the chunked parallel scan (memory O(B·chunk·D·N),
    in training and evaluation alike)."""
    if _kernel_scan is not None and u.is_cuda:
        return _kernel_scan(u, delta, A, B.contiguous(), C.contiguous(), D.float())
    return selective_scan_parallel(u, delta, A, B, C, D, chunk)


class MambaMixer(nn.Module):
    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        scan_chunk: int = 16,
    ):
        super().__init__()
        d_inner = expand * d_model
        self.scan_chunk = scan_chunk
        self.d_inner, self.d_state = d_inner, d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)
        )  # S4D-real
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        with torch.no_grad():  # Δ initialised log-uniform in [dt_min, dt_max] through softplus's inverse
            dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, L, D] → [B, L, D]; causal: position t sees positions ≤ t only."""
        length = x.shape[1]
        u, z = self.in_proj(x).chunk(2, dim=-1)
        u = F.silu(self.conv(u.transpose(1, 2))[..., :length])  # B Di L
        dt, B, C = self.x_proj(u.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt)).transpose(1, 2)  # B Di L
        A = -torch.exp(self.A_log.float())
        y = selective_scan(u, delta, A, B.transpose(1, 2), C.transpose(1, 2), self.D, self.scan_chunk)
        return self.out_proj(y.transpose(1, 2) * F.silu(z))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `length` positions (x [B, L, D]); the rest stay in place."""
    pos = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(pos < lengths[:, None], lengths[:, None] - 1 - pos, pos)
    return x.gather(1, idx[:, :, None].expand_as(x))


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, bidirectional: bool = True, **mixer):
        super().__init__()
        self.norm = RMSNorm(d_model)
        self.forward_mixer = MambaMixer(d_model, **mixer)
        self.backward_mixer = MambaMixer(d_model, **mixer) if bidirectional else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.norm(x) * mask[:, :, None].to(x.dtype)
        out = self.forward_mixer(h)
        if self.backward_mixer is not None:
            out = out + reverse_within_length(self.backward_mixer(reverse_within_length(h, lengths)), lengths)
        return x + out


class Mamba1D(nn.Module):
    """token embedding → Mamba blocks → RMSNorm → masked mean → MLP head → 3 logits."""

    reads = "characters"  # the prepared character codes; vocab_size comes from the data (models/backbone.py)
    # why `belka export` refuses it (screen/export.py): the scan does not become a static graph
    export_blocker = (
        "its selective scan (mambapy's pscan, a Python autograd Function with a length-dependent loop) does not "
        "trace into a static graph: TorchScript cannot export the Function and the ONNX exporter did not finish "
        "in 10 minutes on a one-layer model; score it with belka predict run=<dir>"
    )

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        d_model: int = 128,
        n_layers: int = 4,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        bidirectional: bool = True,
        head_hidden: int = 0,
        n_outputs: int = 3,
        dropout: float = 0.1,
        scan_chunk: int = 16,
    ):
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.embed = nn.Embedding(vocab_size + 1, d_model, padding_idx=0)  # + [MASK] for pretraining
        mixer = {"d_state": d_state, "expand": expand, "d_conv": d_conv, "scan_chunk": scan_chunk}
        self.blocks = nn.ModuleList(MambaBlock(d_model, bidirectional, **mixer) for _ in range(n_layers))
        self.norm = RMSNorm(d_model)
        self.head = MLPHead(d_model, head_hidden, dropout, n_outputs=n_outputs)

    @property
    def symbol_range(self) -> tuple[int, int]:
        """Ids random replacements come from in masked-token pretraining: every character, no padding."""
        return (1, self.vocab_size - 1)

    @property
    def mask_token_id(self) -> int:
        return self.vocab_size

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-character outputs [B, L, D], masked mean [B, D]). Characters must come first in a row."""
        lengths = mask.sum(1)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, mask, lengths)
        x = self.norm(x)
        return x, masked_mean(x, mask, channels_last=True)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens, mask)[1])
