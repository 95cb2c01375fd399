"""The one optimizer-grouping rule: weight decay on matrices only (not on biases, norms or other
vectors), optional layer-wise learning-rate decay, and fused Adam/AdamW kernels where available."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import torch
from torch import nn


def decays(name: str, p: nn.Parameter) -> bool:
    return p.ndim >= 2 and "norm" not in name.lower()


def param_groups(
    named: Iterable[tuple[str, nn.Parameter]],
    layers: list[list[nn.Parameter]] | None = None,
    lr_decay: float | None = None,
) -> list[dict]:
    """Groups of trainable parameters with ``lr_scale``. ``layers`` (input first, e.g. a backbone's
    ``layer_groups()``) scale each group's rate by lr_decay^(layers above it); parameters in no
    layer join the last one."""
    named = list(named)
    names = {id(p): n for n, p in named}
    layers = [list(g) for g in layers] if layers else [[p for _, p in named]]
    seen = {id(p) for group in layers for p in group}
    layers[-1] = layers[-1] + [p for _, p in named if id(p) not in seen]
    groups = []
    for depth, params in enumerate(layers):
        scale = lr_decay ** (len(layers) - 1 - depth) if lr_decay is not None else 1.0
        params = [p for p in params if p.requires_grad]
        decay = [p for p in params if decays(names[id(p)], p)]
        no_decay = [p for p in params if not decays(names[id(p)], p)]
        groups += [{"params": decay, "lr_scale": scale}, {"params": no_decay, "weight_decay": 0.0, "lr_scale": scale}]
    return [g for g in groups if g["params"]]


def build_optimizer(factory: Callable[..., torch.optim.Optimizer], groups: list[dict]) -> torch.optim.Optimizer:
    """The configured optimizer (a partial) over ``groups`` from :func:`param_groups`."""
    groups = [dict(g) for g in groups]
    scales = [g.pop("lr_scale", 1.0) for g in groups]
    optimizer = factory(params=groups, **fused_kwargs(factory, [p for g in groups for p in g["params"]]))
    for group, scale in zip(optimizer.param_groups, scales):
        group["lr"] = group["lr"] * scale
    return optimizer


def fused_kwargs(factory, params) -> dict:
    """``{"fused": True}`` when the optimizer has a fused kernel for every parameter's device
    (Adam/AdamW on CPU and CUDA: one kernel per step, no per-parameter host reads of the step
    count) and the config did not choose an implementation; otherwise nothing."""

    keywords = getattr(factory, "keywords", {}) or {}
    cls = getattr(factory, "func", factory)
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices  # private

        supported = set(_get_fused_kernels_supported_devices())
        accepts = "fused" in inspect.signature(cls).parameters
    except (ImportError, TypeError, ValueError):
        return {}
    if not accepts or keywords.keys() & {"fused", "foreach"}:
        return {}
    params = list(params)
    if params and all(p.device.type in supported and p.is_floating_point() for p in params):
        return {"fused": True}
    return {}
