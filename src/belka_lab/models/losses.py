"""Training objectives over the [B, 3] logits, masked where a label is unknown.

Each returns (sum over known labels, count of known labels), so a batch's mean and an epoch's
mean are the same computation (``models/train_loss.py`` sums them on the device).

- ``bce``: binary cross-entropy, with an optional per-protein ``pos_weight``.
- ``focal``: Lin et al.'s focal loss, ``-alpha_t (1 - p_t)^gamma log(p_t)`` where ``p_t`` is the
  probability given to the true label and ``alpha_t`` is ``alpha`` for positives and ``1 - alpha``
  for negatives (``alpha=None``: 1 for both); ``gamma=0, alpha=None`` is BCE. It down-weights the
  easy negatives that make up 99.5% of BELKA's labels (the 1st-place solution's loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("bce", "focal")


def masked_bce(
    logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of BCE over known labels, count of known labels); logits/labels/mask are [B, 3]."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none", pos_weight=pos_weight)
    mask = label_mask.to(loss.dtype)
    return (loss * mask).sum(), mask.sum()


def masked_focal(
    logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor, gamma: float = 2.0, alpha: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of the focal loss over known labels, count of known labels)."""
    logits = logits.float()
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * labels + (1 - p) * (1 - labels)
    loss = ce * (1 - p_t).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * labels + (1 - alpha) * (1 - labels))
    mask = label_mask.to(loss.dtype)
    return (loss * mask).sum(), mask.sum()


class Objective:
    """The configured training loss: ``name`` in :data:`LOSSES`, with its options."""

    def __init__(self, name: str = "bce", gamma: float = 2.0, alpha: float | None = None):
        if name not in LOSSES:
            raise ValueError(f"model.loss={name!r}: choose one of {', '.join(LOSSES)}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"model.focal.alpha={alpha}: must be between 0 and 1 (or null)")
        self.name, self.gamma, self.alpha = name, float(gamma), alpha

    def __call__(self, logits, labels, label_mask, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.name == "focal":
            if pos_weight is not None:
                raise ValueError("model.pos_weight weighs BCE; with model.loss=focal use model.focal.alpha instead")
            return masked_focal(logits, labels, label_mask, self.gamma, self.alpha)
        return masked_bce(logits, labels, label_mask, pos_weight)
