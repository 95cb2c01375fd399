"""BelkaModule: the one LightningModule every backbone trains in.

It owns the masked multi-label BCE (unknown labels ignored, optional pos_weight), the
optimizer and scheduler (partials from config), and the metrics. Validation AP is computed
once per epoch on the predictions of the whole epoch, gathered from every process.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.data.proteins import PROTEINS
from belka_lab.metrics import molecule_ap
from belka_lab.models.init_from import load_encoder
from belka_lab.models.train_loss import TrainLoss


def fused_kwargs(factory, params) -> dict:
    """``{"fused": True}`` when the optimizer has a fused kernel for every parameter's device
    (Adam/AdamW on CPU and CUDA: one kernel per step, no per-parameter host reads of the step
    count) and the config did not choose an implementation; otherwise nothing."""
    import inspect

    keywords = getattr(factory, "keywords", {}) or {}
    cls = getattr(factory, "func", factory)
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

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


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor, pos_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of BCE over known labels, count of known labels); logits/labels/mask are [B, 3]."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none", pos_weight=pos_weight)
    mask = label_mask.to(loss.dtype)
    return (loss * mask).sum(), mask.sum()


class BelkaModule(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable | None = None,
        scheduler_interval: str = "step",
        pos_weight: list[float] | None = None,
        init_from: str | None = None,
        lr_decay: float | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.init_report = None
        if init_from:  # a pretrained encoder (python -m belka_lab.pretrain): report what it filled
            self.init_report = load_encoder(backbone, init_from)
            print(self.init_report.summary())
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.lr_decay = lr_decay
        if lr_decay is not None and not hasattr(backbone, "layer_groups"):
            raise ValueError(f"lr_decay needs a backbone with layer_groups(); {type(backbone).__name__} has none")
        self.register_buffer("pos_weight", torch.tensor(pos_weight, dtype=torch.float32) if pos_weight else None, persistent=False)
        self.train_loss = TrainLoss("train/loss")
        self._outputs: list[dict[str, torch.Tensor]] = []
        self.val_predictions: dict[str, np.ndarray] | None = None
        self.predictions: dict[str, np.ndarray] | None = None

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.backbone(tokens, mask)

    # ------------------------------------------------------------------ train
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch["tokens"], batch["mask"])
        total, count = masked_bce(logits, batch["labels"], batch["label_mask"], self.pos_weight)
        # summed on the device, logged when written; not on the progress bar (it reads its values back every step)
        self.train_loss.update(self, total, count, batch_idx)
        return total / count.clamp_min(1.0)

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    # ------------------------------------------------------------------ eval: accumulate, gather once
    def _collect(self, batch: dict) -> torch.Tensor:
        """Keeps the batch's outputs for the epoch's end; returns its probabilities."""
        logits = self(batch["tokens"], batch["mask"]).float()
        out = {"probs": torch.sigmoid(logits), "index": batch["index"]}
        if "labels" in batch:
            total, count = masked_bce(logits, batch["labels"], batch["label_mask"] & (batch["index"] >= 0)[:, None])
            out |= {"labels": batch["labels"], "label_mask": batch["label_mask"], "loss_sum": total[None], "loss_count": count[None]}
        self._outputs.append(out)
        return out["probs"]

    def _gather(self) -> dict[str, torch.Tensor]:
        """The epoch's outputs from every process, padding dropped, still on the device."""
        cat = {k: torch.cat([o[k] for o in self._outputs]) for k in self._outputs[0]} if self._outputs else {}
        self._outputs = []
        if self.trainer is not None and self.trainer.world_size > 1:
            cat = {k: v.reshape(-1, *v.shape[2:]) for k, v in self.all_gather(cat).items()}
        keep = cat["index"] >= 0
        return {k: v[keep] if k in ("probs", "index", "labels", "label_mask") else v for k, v in cat.items()}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        if not self._outputs:
            return
        out = self._gather()
        labels = torch.where(out["label_mask"], out["labels"].to(torch.int8), -1)
        ap = molecule_ap(labels, out["probs"])  # on the device: one sort per protein
        metrics = {"val/loss": float(out["loss_sum"].sum() / out["loss_count"].sum().clamp_min(1.0))}
        metrics |= {f"val/ap_{p.lower()}": ap[p] for p in PROTEINS}
        self.log_dict({k: float(np.nan_to_num(v)) for k, v in metrics.items()})
        self.log("val/map", float(np.nan_to_num(ap["map"])), prog_bar=True)
        self.val_predictions = {"index": out["index"].cpu().numpy(), "probs": out["probs"].cpu().numpy(), "labels": labels.cpu().numpy()}

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._collect(batch)  # the whole pass is gathered at its end (predictions are not returned per batch)

    def on_predict_epoch_end(self) -> None:
        self.predictions = {k: v.cpu().numpy() for k, v in self._gather().items()} if self._outputs else None

    # ------------------------------------------------------------------ resume exactly
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Random-number states (dropout, augmentation), so a resumed run continues the same stream."""
        import random

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        checkpoint["rng_states"] = {  # plain types and tensors: loadable with weights_only=True
            "torch": torch.get_rng_state(),
            "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), gauss_next],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        import random

        states = checkpoint.get("rng_states")
        if states:
            torch.set_rng_state(states["torch"])
            name, keys, pos, has_gauss, gauss = states["numpy"]
            np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
            version, internal, gauss_next = states["python"]
            random.setstate((version, tuple(internal), gauss_next))

    # ------------------------------------------------------------------ optim
    def param_groups(self) -> list[dict]:
        """Weight decay on matrices only; with ``lr_decay`` each of the backbone's layer groups
        (input first) gets lr × lr_decay^(layers above it), the head the full rate."""
        names = {id(p): n for n, p in self.backbone.named_parameters()}
        layers = self.backbone.layer_groups() if self.lr_decay is not None else [list(self.backbone.parameters())]
        seen = {id(p) for group in layers for p in group}
        layers[-1] = layers[-1] + [p for p in self.backbone.parameters() if id(p) not in seen]
        groups = []
        for depth, params in enumerate(layers):
            scale = self.lr_decay ** (len(layers) - 1 - depth) if self.lr_decay is not None else 1.0
            params = [p for p in params if p.requires_grad]
            decay = [p for p in params if p.ndim >= 2 and "norm" not in names[id(p)].lower()]
            no_decay = [p for p in params if not (p.ndim >= 2 and "norm" not in names[id(p)].lower())]
            groups += [{"params": decay, "lr_scale": scale}, {"params": no_decay, "weight_decay": 0.0, "lr_scale": scale}]
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):
        groups = self.param_groups()
        scales = [g.pop("lr_scale") for g in groups]
        optimizer = self.optimizer_factory(params=groups, **fused_kwargs(self.optimizer_factory, self.parameters()))
        for group, scale in zip(optimizer.param_groups, scales):
            group["lr"] = group["lr"] * scale
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}
