"""Training objectives over a network's outputs [B, n_outputs], masked where a label is unknown.

Each returns (sum over known labels, count of known labels), so a batch's mean and an epoch's
mean are the same computation (``models/train_loss.py`` sums them on the device).

- ``bce``: binary cross-entropy, with an optional per-protein ``pos_weight``.
- ``focal``: Lin et al.'s focal loss, ``-alpha_t (1 - p_t)^gamma log(p_t)`` where ``p_t`` is the
  probability given to the true label and ``alpha_t`` is ``alpha`` for positives and ``1 - alpha``
  for negatives (``alpha=None``: 1 for both); ``gamma=0, alpha=None`` is BCE. It down-weights the
  easy negatives that make up 99.5% of BELKA's labels (the 1st-place solution's loss).
- ``mse``: squared error on a count table's enrichment score (``scores``: log10 of the configured
  ratio, ``dataset/count_scores.py``).
- ``enrichment_z``, ``poisson``, ``zip``, ``nb``: the count likelihoods of ``models/counts.py``,
  on a count table's read counts.

What a loss reads from the batch is in :data:`NEEDS`; what the network predicts is its
:class:`~belka_lab.models.counts.Readout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.core.errors import InputError
from belka_lab.dataset.count_spec import CountSpec
from belka_lab.models.counts import COUNT_LOSSES, CountLikelihood, Readout, enrichment_z_nll

LOSSES = ("bce", "focal", "mse", "enrichment_z", *COUNT_LOSSES)
NEEDS_CONTROL = ("enrichment_z",)  # del_qsar's z compares the target's reads with its control's
NEEDS = {"mse": "scores", "enrichment_z": "counts", **{name: "counts" for name in COUNT_LOSSES}}


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


def n_outputs(loss: str, n_targets: int, spec: CountSpec | None) -> int:
    """How many values the network gives per compound for ``loss`` (the targets', plus a count
    likelihood's control and zero-inflation heads)."""
    if loss in COUNT_LOSSES and spec is not None:
        return CountLikelihood.n_outputs(loss, n_targets, spec.n_controls)
    return n_targets


def masked_mse(pred: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of squared errors over known pairs, their count)."""
    mask = known.to(torch.float32)
    return (((pred.float() - target.float()) ** 2) * mask).sum(), mask.sum()


class Objective(nn.Module):
    """The configured training loss: ``name`` in :data:`LOSSES`, with its options (``gamma``,
    ``alpha`` for focal; ``beta`` for the count likelihoods' control term). ``spec`` describes a
    count table's columns (None for data without counts)."""

    def __init__(
        self,
        name: str = "bce",
        gamma: float = 2.0,
        alpha: float | None = None,
        beta: float = 1.0,
        spec: CountSpec | None = None,
        n_targets: int | None = None,
    ):
        super().__init__()
        if name not in LOSSES:
            raise InputError(f"model.loss={name!r}: choose one of {', '.join(LOSSES)}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise InputError(f"model.focal.alpha={alpha}: must be between 0 and 1 (or null)")
        if name in NEEDS and spec is None:
            raise InputError(
                f"model.loss={name} learns from a count table's {NEEDS[name]}, and this data has none: prepare a count "
                f"table (data=counts or data=selection), or use model.loss=bce"
            )
        if name in NEEDS_CONTROL and spec is not None and None in spec.control_of:
            lacking = [t for t, c in zip(spec.target_names, spec.control_of) if c is None]
            verb = "has" if len(lacking) == 1 else "have"
            raise InputError(
                f"model.loss={name} compares target reads with a no-target control, and {', '.join(lacking)} {verb} "
                f"none in this count table: use model.loss=poisson, zip or nb (the target term alone, with load and "
                f"depth offsets) or mse"
            )
        self.name, self.gamma, self.alpha = name, float(gamma), alpha
        self.spec = spec
        self.n_targets = spec.n_targets if spec is not None else int(n_targets or 0)
        n_controls = spec.n_controls if spec is not None else 0
        self.counts = CountLikelihood(name, spec, beta) if name in COUNT_LOSSES else None
        self.readout = Readout(name, self.n_targets, n_controls)

    @property
    def n_outputs(self) -> int:
        return n_outputs(self.name, self.n_targets, self.spec)

    def forward(self, out, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss, count of known labels) of a batch's network outputs."""
        known = batch["label_mask"]
        if "index" in batch:  # evaluation pads its last batch with index -1
            known = known & (batch["index"] >= 0)[:, None]
        if self.name == "focal":
            if pos_weight is not None:
                raise InputError("model.pos_weight weighs BCE; with model.loss=focal use model.focal.alpha instead")
            return masked_focal(out, batch["labels"], known, self.gamma, self.alpha)
        if self.name == "bce":
            return masked_bce(out, batch["labels"], known, pos_weight)
        if self.name == "mse":
            return masked_mse(out, batch["scores"], known)
        if self.counts is not None:
            return self.counts(out, batch["counts"], known)
        return self._enrichment_z(out, batch["counts"], known)

    def _enrichment_z(self, out, counts, known) -> tuple[torch.Tensor, torch.Tensor]:
        s, total = self.spec, out.new_zeros((), dtype=torch.float32)
        for t, cols in enumerate(s.target_cols):
            ctrl = s.control_cols[s.control_of[t]]
            n_t, n_c = s.reads(cols), s.reads(ctrl)
            nll = enrichment_z_nll(out[:, t].float(), counts[:, cols].sum(1), n_t, counts[:, ctrl].sum(1), n_c)
            total = total + (nll * known[:, t].float()).sum()
        return total, known.float().sum()
