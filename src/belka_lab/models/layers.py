"""Small 1D blocks for the convolutional backbones, padding-aware.

Every block takes ``x`` and a ``mask`` (bool [B, L], True on characters) and returns the
output with padding positions set to zero, plus the output mask (downsampled when the
block strides). Together with masked pooling this makes a prediction independent of how
much padding follows the molecule.

Two memory layouts compute the same function with the same parameters:
``channels_last=False`` works on [B, C, L] with ``conv1d``; ``channels_last=True`` on
[B, L, C], with pointwise convolutions as matrix products, the depthwise k=3 convolution as
three shifted multiply-adds and BatchNorm statistics over B·L. The second avoids the
memory-bound NCL depthwise kernels on GPUs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- helpers


def downsample_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Mask after a stride-`stride`, padding k//2 operation: output j is valid when input j·s is."""
    return mask[:, ::stride] if stride > 1 else mask


def apply_mask(x: torch.Tensor, mask: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x * (mask[:, :, None] if channels_last else mask[:, None, :]).to(x.dtype)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """[B, C] mean over valid positions."""
    m = (mask[:, :, None] if channels_last else mask[:, None, :]).to(x.dtype)
    dim = 1 if channels_last else 2
    return (x * m).sum(dim) / m.sum(dim).clamp_min(1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor, channels_last: bool) -> torch.Tensor:
    m = mask[:, :, None] if channels_last else mask[:, None, :]
    return x.masked_fill(~m, torch.finfo(x.dtype).min).amax(1 if channels_last else 2)


class MaskedPool(nn.Module):
    """Global pooling over valid positions: 'mean', 'max' or 'meanmax' (concatenated)."""

    def __init__(self, mode: str = "mean"):
        super().__init__()
        if mode not in ("mean", "max", "meanmax"):
            raise ValueError(f"pool must be mean, max or meanmax (got {mode!r})")
        self.mode = mode

    def out_features(self, channels: int) -> int:
        return 2 * channels if self.mode == "meanmax" else channels

    def forward(self, x: torch.Tensor, mask: torch.Tensor, channels_last: bool) -> torch.Tensor:
        if self.mode == "mean":
            return masked_mean(x, mask, channels_last)
        if self.mode == "max":
            return masked_max(x, mask, channels_last)
        return torch.cat([masked_mean(x, mask, channels_last), masked_max(x, mask, channels_last)], dim=1)


class Norm1d(nn.BatchNorm1d):
    """BatchNorm1d over channels for either layout (statistics over batch and length)."""

    def __init__(self, channels: int, channels_last: bool = False):
        super().__init__(channels)
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.channels_last:
            return super().forward(x)
        b, length, c = x.shape
        return super().forward(x.reshape(b * length, c)).reshape(b, length, c)


# ----------------------------------------------------------------------------- convolutions


class PointwiseConv1d(nn.Module):
    """1×1 convolution (optionally strided); a matrix product in channels-last layout."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, bias: bool = False, channels_last: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, 1))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.stride, self.channels_last = stride, channels_last
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.channels_last:
            return F.conv1d(x, self.weight, self.bias, stride=self.stride)
        if self.stride > 1:
            x = x[:, :: self.stride]
        return F.linear(x, self.weight[:, :, 0], self.bias)


class DepthwiseConv1d(nn.Module):
    """Per-channel convolution, odd kernel, 'same' zero padding, optional stride."""

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 1, channels_last: bool = False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size))
        self.kernel_size, self.stride, self.channels_last = kernel_size, stride, channels_last
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if not self.channels_last:
            return F.conv1d(x, self.weight, stride=self.stride, padding=k // 2, groups=x.shape[1])
        length = x.shape[1]
        xp = F.pad(x, (0, 0, k // 2, k // 2))
        w = self.weight[:, 0, :]  # C x k
        out = xp[:, 0:length] * w[:, 0]
        for i in range(1, k):
            out = out + xp[:, i : i + length] * w[:, i]
        return out[:, :: self.stride] if self.stride > 1 else out


class SeparableConv1d(nn.Module):
    """Depthwise k conv then pointwise 1×1 (Chollet 2017)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, channels_last: bool = False):
        super().__init__()
        self.depthwise = DepthwiseConv1d(c_in, kernel_size, channels_last=channels_last)
        self.pointwise = PointwiseConv1d(c_in, c_out, channels_last=channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ConvNormAct(nn.Module):
    """Conv1d (k, stride, 'same' padding) → norm → activation, on either layout."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int = 3,
        stride: int = 1,
        act_layer=nn.ReLU,
        norm_layer=Norm1d,
        channels_last: bool = False,
    ):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.norm = norm_layer(c_out, channels_last=channels_last)
        self.act = act_layer() if act_layer else nn.Identity()
        self.stride, self.channels_last = stride, channels_last

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.transpose(1, 2)).transpose(1, 2) if self.channels_last else self.conv(x)
        mask = downsample_mask(mask, self.stride)
        return apply_mask(self.act(self.norm(x)), mask, self.channels_last), mask


# ----------------------------------------------------------------------------- squeeze-excite


class SqueezeExcite1d(nn.Module):
    """Channel gating from the masked global mean (Hu et al. 2017, arXiv:1709.01507)."""

    def __init__(self, channels: int, reduction: int = 16, act_layer=nn.ReLU, channels_last: bool = False):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden, channels)
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(self.act(self.fc1(masked_mean(x, mask, self.channels_last)))))
        return x * (gate[:, None, :] if self.channels_last else gate[:, :, None])


# ----------------------------------------------------------------------------- residual blocks


class Shortcut(nn.Module):
    """Identity, or a strided 1×1 projection + norm when channels or length change."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm_layer=Norm1d, channels_last: bool = False):
        super().__init__()
        self.proj = None
        if c_in != c_out or stride != 1:
            self.proj = PointwiseConv1d(c_in, c_out, stride=stride, channels_last=channels_last)
            self.norm = norm_layer(c_out, channels_last=channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.proj is None else self.norm(self.proj(x))


class Bottleneck1d(nn.Module):
    """1×1 reduce → k conv (stride) → 1×1 expand, residual (He et al. 2016, arXiv:1512.03385)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        reduction: int = 4,
        kernel_size: int = 3,
        act_layer=nn.ReLU,
        norm_layer=Norm1d,
        channels_last: bool = False,
    ):
        super().__init__()
        mid = max(8, c_out // reduction)
        cl = channels_last
        self.reduce = PointwiseConv1d(c_in, mid, channels_last=cl)
        self.norm1 = norm_layer(mid, channels_last=cl)
        self.conv = nn.Conv1d(mid, mid, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.norm2 = norm_layer(mid, channels_last=cl)
        self.expand = PointwiseConv1d(mid, c_out, channels_last=cl)
        self.norm3 = norm_layer(c_out, channels_last=cl)
        self.shortcut = Shortcut(c_in, c_out, stride, norm_layer, cl)
        self.act = act_layer()
        self.stride, self.channels_last = stride, cl

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2) if self.channels_last else self.conv(x)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_mask = downsample_mask(mask, self.stride)
        h = self.act(self.norm1(self.reduce(x)))
        h = apply_mask(
            self.act(self.norm2(self._conv(apply_mask(h, mask, self.channels_last)))), out_mask, self.channels_last
        )
        h = self.norm3(self.expand(h))
        return apply_mask(self.act(h + self.shortcut(x)), out_mask, self.channels_last), out_mask


class XceptionBlock1d(nn.Module):
    """ReLU → SepConv → BN → ReLU → SepConv → BN → [max-pool k3/s2] → SE, plus the shortcut.

    The entry-flow form of Xception's residual module (Chollet 2017, arXiv:1610.02357),
    with squeeze-and-excitation on the residual branch.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        kernel_size: int = 3,
        se_reduction: int = 16,
        act_layer=nn.ReLU,
        norm_layer=Norm1d,
        channels_last: bool = False,
    ):
        super().__init__()
        cl = channels_last
        self.act1 = act_layer()
        self.sep1 = SeparableConv1d(c_in, c_out, kernel_size, channels_last=cl)
        self.norm1 = norm_layer(c_out, channels_last=cl)
        self.act2 = act_layer()
        self.sep2 = SeparableConv1d(c_out, c_out, kernel_size, channels_last=cl)
        self.norm2 = norm_layer(c_out, channels_last=cl)
        self.se = SqueezeExcite1d(c_out, se_reduction, channels_last=cl) if se_reduction else None
        self.shortcut = Shortcut(c_in, c_out, stride, norm_layer, cl)
        self.stride, self.channels_last = stride, cl

    def _pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Max over the window {2j-1, 2j, 2j+1} of valid positions (padding never wins)."""
        m = mask[:, :, None] if self.channels_last else mask[:, None, :]
        x = x.masked_fill(~m, float("-inf"))
        if not self.channels_last:
            return F.max_pool1d(x, 3, self.stride, padding=1)
        length = x.shape[1]
        xp = F.pad(x, (0, 0, 1, 1), value=float("-inf"))
        return torch.maximum(torch.maximum(xp[:, 0:length], xp[:, 1 : length + 1]), xp[:, 2 : length + 2])[
            :, :: self.stride
        ]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cl = self.channels_last
        h = apply_mask(self.norm1(self.sep1(self.act1(x))), mask, cl)
        h = self.norm2(self.sep2(self.act2(h)))
        out_mask = downsample_mask(mask, self.stride)
        if self.stride > 1:  # windows of padding only pool to -inf: zero them by selection, not product
            h = self._pool(h, mask).masked_fill(~(out_mask[:, :, None] if cl else out_mask[:, None, :]), 0.0)
        else:
            h = apply_mask(h, out_mask, cl)
        if self.se is not None:
            h = self.se(h, out_mask)
        return apply_mask(h + self.shortcut(x), out_mask, cl), out_mask


# ----------------------------------------------------------------------------- ends


class TokenEmbedding(nn.Embedding):
    """Character codes → vectors, in the layout the backbone works in (padding row 0 is zero)."""

    def __init__(self, vocab_size: int, dim: int, channels_last: bool = False):
        super().__init__(vocab_size, dim, padding_idx=0)
        self.channels_last = channels_last

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = super().forward(tokens)  # B x L x E
        return x if self.channels_last else x.transpose(1, 2)


class MLPHead(nn.Sequential):
    """Dropout → Linear → ReLU → Dropout → Linear to the 3 logits (no hidden layer when hidden=0)."""

    def __init__(self, c_in: int, hidden: int = 512, dropout: float = 0.1, n_outputs: int = 3):
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(c_in, hidden), nn.ReLU(), nn.Dropout(dropout)]
            c_in = hidden
        super().__init__(*layers, nn.Linear(c_in, n_outputs))


def scale_stages(stages, width: float, depth: float) -> list[tuple[int, int, int]]:
    """Apply width/depth multipliers to (channels, blocks, stride) stages; channels stay multiples of 8."""
    out = []
    for channels, blocks, stride in stages:
        c = max(8, int(round(channels * width / 8)) * 8)
        n = max(1, int(round(blocks * depth)))
        out.append((c, n, int(stride)))
    return out


def stack_stages(make_block, c_in: int, stages: list[tuple[int, int, int]]) -> tuple[nn.ModuleList, int]:
    """Blocks for (channels, blocks, stride) stages; only a stage's first block strides.
    Returns the blocks and the output channels."""
    blocks = []
    for channels, n_blocks, stride in stages:
        for i in range(n_blocks):
            blocks.append(make_block(c_in, channels, stride if i == 0 else 1))
            c_in = channels
    return nn.ModuleList(blocks), c_in
