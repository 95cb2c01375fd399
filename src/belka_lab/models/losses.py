"""Training losses: one class per loss, chosen by the ``loss`` config group's ``_target_``
(``conf/loss/<name>.yaml``; the yaml names are the registry, :func:`names`).

A loss is built from its options (the yaml), then bound to what the run learns from
(:meth:`TrainingLoss.bind`, given the data's :class:`~belka_lab.dataset.supervision.Supervision`):
it says there what it needs from the data — and fails before training when the data lacks it —
how many outputs it adds to the network's head, and its :class:`Readout` (what the network
predicts). Each returns (sum over known labels, count of known labels) of a batch, so a batch's
mean and an epoch's mean are the same computation (``models/train_loss.py`` sums them).

- ``bce``: binary cross-entropy, with an optional per-protein ``pos_weight``.
- ``focal``: Lin et al.'s focal loss, ``-alpha_t (1 - p_t)^gamma log(p_t)`` where ``p_t`` is the
  probability given to the true label and ``alpha_t`` is ``alpha`` for positives and ``1 - alpha``
  for negatives (``alpha=None``: 1 for both); ``gamma=0, alpha=None`` is BCE. It down-weights the
  easy negatives that make up 99.5% of BELKA's labels (the 1st-place solution's loss).
- ``mse``: squared error on a count table's enrichment score (``scores``: log10 of the configured
  ratio, ``dataset/count_scores.py``).
- the count likelihoods (``poisson``, ``zip``, ``nb``, ``enrichment_z``…): ``models/counts.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.core.config import CONFIG_DIR, RENAMED
from belka_lab.core.errors import InputError
from belka_lab.dataset.supervision import Supervision, Values

REGISTRY = Path(CONFIG_DIR) / "loss"


def names() -> list[str]:
    """Every training loss, by its yaml name (``conf/loss/*.yaml``)."""
    return sorted(p.stem for p in REGISTRY.glob("*.yaml"))


def named(name: str, **options) -> TrainingLoss:
    """The loss ``conf/loss/<name>.yaml`` describes, with those of ``options`` it has over its
    defaults (the others are left out: a 0.9 config's focal and count options go to any loss)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = REGISTRY / f"{name}.yaml"
    if not path.exists():
        raise InputError(f"loss={name!r}: choose one of {', '.join(names())}")
    config = OmegaConf.load(path)
    try:
        return instantiate(OmegaConf.merge(config, {k: v for k, v in options.items() if k in config}))
    except Exception as e:  # Hydra wraps what the class raised: a bad option is the user's
        if isinstance(e.__cause__, InputError):
            raise e.__cause__ from None
        raise


def from_config(cfg) -> TrainingLoss:
    """The training loss a run's config names: its ``loss`` group; a run of 0.9 or before, which
    named it ``model.loss`` (with ``model.focal`` and ``model.count_beta``), read as such."""
    from hydra.utils import instantiate

    model = cfg.get("model") or {}
    if cfg.get("loss") is not None:
        old = {key.split(".")[1] for key in RENAMED if key.startswith("model.")}  # loss, focal, count_beta
        stale = [f"model.{k}" for k in sorted(old) if k in model]
        if stale:  # a config file of 0.9 (an experiment, a copied model file): it would be ignored
            raise InputError(
                f"{', '.join(stale)}: the training loss is the `loss` config group now (conf/loss/): in a config "
                f"file write `defaults: [override /loss: <name>]` and set its options under `loss:`"
            )
        return instantiate(cfg.loss)
    return named(model.get("loss", "bce"), **(model.get("focal") or {}), beta=model.get("count_beta", 1.0))


def known_of(batch: dict) -> torch.Tensor:
    """[B, T] bool: the labels to learn from (evaluation pads its last batch with index -1)."""
    known = batch["label_mask"]
    return known & (batch["index"] >= 0)[:, None] if "index" in batch else known


class Readout(nn.Module):
    """A network's outputs → what a run predicts per target. ``kind`` is the transform: ``sigmoid``
    (probabilities), ``log10`` (as is), ``ln`` (÷ ln 10), ``zero_inflated`` (ln e_t + ln(1 − π)
    from the zero logits after the target and control heads, ÷ ln 10); :attr:`values` says what
    the result is. Part of every exported model."""

    KINDS = ("sigmoid", "log10", "ln", "zero_inflated")

    def __init__(self, kind: str, n_targets: int, n_controls: int = 0):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"readout {kind!r}: one of {', '.join(self.KINDS)}")
        self.kind, self.n_targets, self.n_controls = kind, int(n_targets), int(n_controls)

    @property
    def values(self) -> Values:
        """What its outputs are, in the project's one vocabulary."""
        return Values.of(self.kind == "sigmoid")

    def ranked(self, out: torch.Tensor) -> torch.Tensor:
        """What the ranking term orders: the values, or for probabilities their logits (the same
        order, without the sigmoid's flat ends)."""
        return out[:, : self.n_targets].float() if self.kind == "sigmoid" else self(out)

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        out = out.float()
        head = out[:, : self.n_targets]
        if self.kind == "sigmoid":
            return torch.sigmoid(head)
        if self.kind == "log10":
            return head
        if self.kind == "zero_inflated":
            head = head + F.logsigmoid(-out[:, self.n_targets + self.n_controls :])
        return head / math.log(10.0)


class TrainingLoss(nn.Module):
    """What every training loss shares. A subclass sets ``name`` (its yaml's), ``needs`` (what it
    reads from the data: ``labels``, ``scores`` or ``counts``), ``needs_control``, ``readout_kind``
    and ``forward``; a loss with more heads or parameters overrides :attr:`n_outputs` and
    :meth:`_bound`."""

    name = "loss"
    needs = "labels"
    needs_control = False
    readout_kind = "sigmoid"

    def __init__(self):
        super().__init__()
        self.spec = None
        self.n_targets = 0

    def bind(self, data: Supervision, n_targets: int) -> TrainingLoss:
        """Ready for ``data`` with ``n_targets`` targets; fails (InputError) when ``data`` has not
        what the loss learns from."""
        data.require(f"loss={self.name}", self.needs, self.needs_control)
        self.spec, self.n_targets = data.spec, int(n_targets)
        self._bound()
        return self

    def _bound(self) -> None:
        """A subclass's parameters that depend on the data."""

    @property
    def n_controls(self) -> int:
        """The control heads it adds (a count likelihood's)."""
        return 0

    @property
    def n_outputs(self) -> int:
        """How many values the network gives per compound."""
        return self.n_targets

    @property
    def readout(self) -> Readout:
        return Readout(self.readout_kind, self.n_targets, self.n_controls)

    @property
    def values(self) -> Values:
        """What a network trained on it predicts (known before it is bound)."""
        return Readout(self.readout_kind, 0).values

    def validation(self, out: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``val/loss`` of a batch: the loss itself (label losses report BCE, so their runs compare)."""
        return self(out, batch)


def masked_bce(
    logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of BCE over known labels, count of known labels); logits/labels/mask are [B, T]."""
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


def masked_mse(pred: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of squared errors over known pairs, their count)."""
    mask = known.to(torch.float32)
    return (((pred.float() - target.float()) ** 2) * mask).sum(), mask.sum()


class BCE(TrainingLoss):
    """Binary cross-entropy on the labels (``model.pos_weight`` weighs each target's positives)."""

    name = "bce"

    def forward(self, out, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        return masked_bce(out, batch["labels"], known_of(batch), pos_weight)

    def validation(self, out, batch):
        return masked_bce(out[:, : self.n_targets], batch["labels"], known_of(batch))


class Focal(BCE):
    """Lin et al.'s focal loss on the labels (validated as BCE, so runs of either compare)."""

    name = "focal"

    def __init__(self, gamma: float = 2.0, alpha: float | None = None):
        super().__init__()
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise InputError(f"loss.alpha={alpha}: must be between 0 and 1 (or null)")
        self.gamma, self.alpha = float(gamma), alpha

    def forward(self, out, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        if pos_weight is not None:
            raise InputError("model.pos_weight weighs BCE; with loss=focal use loss.alpha instead")
        return masked_focal(out, batch["labels"], known_of(batch), self.gamma, self.alpha)


class MSE(TrainingLoss):
    """Squared error on a count table's enrichment scores; predicts them (log10 enrichment)."""

    name = "mse"
    needs = "scores"
    readout_kind = "log10"

    def forward(self, out, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        return masked_mse(out, batch["scores"], known_of(batch))
