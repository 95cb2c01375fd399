"""Pretraining an encoder to predict properties of the molecule from its tokens.

- ``ecfp``: every bit of the molecule's ECFP fingerprint (multi-label BCE over ``n_bits``), the
  1st-place solution's second stage. A molecule without any bit set is one RDKit could not
  parse (``ecfp.invalid=zeros``; every parsed molecule has bits) and is left out of the loss.
  Validation reports the mean bit-wise AUROC and AP over the bits that are set in some and
  unset in other validation molecules.
- ``descriptors``: standardised RDKit 2D descriptors (multi-task regression, masked MSE over the
  defined values), as the 0.301 RoBERTa did. Validation reports the MSE and the mean R².

The head reads the encoder's pooled vector (``features``); only the encoder is kept
(``encoder.pt``), for the next stage or for fine-tuning (``model.init_from``).
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.core.errors import InputError
from belka_lab.models.backbone import Pretrainable
from belka_lab.models.optim import build_optimizer, param_groups
from belka_lab.models.train_loss import TrainLoss

OBJECTIVES = ("ecfp", "descriptors")


def bitwise_auroc_ap(probs: torch.Tensor, bits: torch.Tensor) -> tuple[float, float, int]:
    """(mean AUROC, mean AP, bits scored) over the columns of [N, T] that have both classes.
    Per column: AUROC by the rank-sum (Mann-Whitney) formula, AP as the mean precision at each
    positive (ties broken by order: the scores are continuous)."""
    pos = bits.sum(0)
    keep = (pos > 0) & (pos < len(bits))
    if not bool(keep.any()):
        return float("nan"), float("nan"), 0
    p, y = probs[:, keep].double(), bits[:, keep].double()
    n_pos, n_neg = y.sum(0), (1 - y).sum(0)
    order = torch.argsort(p, dim=0, descending=True)
    hits = torch.gather(y, 0, order)
    ranks_from_top = torch.arange(1, len(p) + 1, dtype=p.dtype, device=p.device)[:, None]
    ap = ((torch.cumsum(hits, 0) / ranks_from_top) * hits).sum(0) / n_pos
    ranks_ascending = len(p) + 1 - ranks_from_top  # rank 1 = lowest score
    auroc = ((ranks_ascending * hits).sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(auroc.mean()), float(ap.mean()), int(keep.sum())


class PropertyPretrain(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        objective: str,
        n_targets: int,
        names: list[str] | None = None,
    ):
        super().__init__()
        if objective not in OBJECTIVES:
            raise InputError(f"objective={objective!r}: choose mlm, {', '.join(OBJECTIVES)}")
        if not isinstance(backbone, Pretrainable):
            raise InputError(
                f"{type(backbone).__name__} has no `features` (models/backbone.py: Pretrainable): it cannot be "
                "pretrained; pretrainable models: transformer, transformer_small, transformer_large, mamba, chemberta"
            )
        self.backbone, self.optimizer_factory, self.objective = backbone, optimizer, objective
        self.names = names
        d = backbone.d_model
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, n_targets))
        self.history: list[dict] = []
        self.train_loss = TrainLoss(f"train/{objective}_loss")
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _predict(self, batch: dict) -> torch.Tensor:
        return self.head(self.backbone.features(batch["tokens"], batch["mask"])[1]).float()

    def _loss(self, out: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss over the targets that count, their number)."""
        if self.objective == "ecfp":
            known = (targets.sum(1, keepdim=True) > 0).expand_as(targets)  # unparsed molecules have no bit
            loss = F.binary_cross_entropy_with_logits(out, targets, reduction="none")
        else:
            known = ~torch.isnan(targets)
            loss = (out - torch.nan_to_num(targets)) ** 2
        return (loss * known).sum(), known.sum()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        total, n = self._loss(self._predict(batch), batch["targets"])
        self.train_loss.update(self, total, n, batch_idx)
        return total / n.clamp_min(1)

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        real = batch["index"] >= 0
        self._val.append((self._predict(batch)[real], batch["targets"][real]))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        out, targets = (torch.cat(x) for x in zip(*self._val))
        self._val = []
        if self.trainer is not None and self.trainer.world_size > 1:
            out, targets = (self.all_gather(x).reshape(-1, x.shape[-1]) for x in (out, targets))
        total, n = self._loss(out, targets)
        metrics = {f"val/{self.objective}_loss": float(total / n.clamp_min(1))}
        if self.objective == "ecfp":
            parsed = targets.sum(1) > 0
            auroc, ap, scored = bitwise_auroc_ap(torch.sigmoid(out[parsed]), targets[parsed])
            metrics |= {"val/ecfp_auroc": auroc, "val/ecfp_ap": ap}
            extra = {"bits_scored": scored}
        else:
            known = ~torch.isnan(targets)
            y = torch.nan_to_num(targets)
            count = known.sum(0).clamp_min(1)
            mean = (y * known).sum(0) / count
            total_var = (((y - mean) ** 2) * known).sum(0) / count
            residual = (((out - y) ** 2) * known).sum(0) / count
            r2 = 1 - residual / total_var.clamp_min(1e-12)
            metrics["val/descriptors_r2"] = float(r2[total_var > 0].mean())
            extra = {"r2": dict(zip(self.names or [], r2.tolist()))}
        metrics = {k: v for k, v in metrics.items() if v == v}  # an undefined mean is not logged
        self.log_dict(metrics, prog_bar=True)
        if not self.trainer.sanity_checking:
            row = {"epoch": self.current_epoch, "step": self.global_step}
            self.history.append(row | {k.replace("/", "_"): v for k, v in metrics.items()} | extra)

    def configure_optimizers(self):
        return build_optimizer(self.optimizer_factory, param_groups(self.named_parameters()))
