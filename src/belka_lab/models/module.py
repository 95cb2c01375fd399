"""BelkaModule: the one LightningModule every backbone trains in.

It owns the training loss (one of ``conf/loss/``, built and bound to the data by ``run.loss``:
BCE or focal loss on the labels, squared error on a count table's enrichment scores, or a count
likelihood on its reads; unknown labels ignored), the optimizer and scheduler (partials from
config), and the metrics. Validation AP (and, for a count table, the rank correlation with the
observed enrichment, and with the measured affinities of a held-out affinity file) is computed
once per epoch on the predictions of the whole epoch, gathered from every process.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torch import nn

from belka_lab.dataset.supervision import Supervision
from belka_lab.evaluation.affinity import HeldOutAffinity
from belka_lab.evaluation.cells import ValidationCells
from belka_lab.evaluation.predictions import gather
from belka_lab.models.backbone import LayerGroups
from belka_lab.models.init_from import load_encoder
from belka_lab.models.losses import BCE, TrainingLoss, known_of
from belka_lab.models.optim import build_optimizer, param_groups
from belka_lab.models.ranking import pairwise_logistic
from belka_lab.models.train_loss import TrainLoss


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
        loss: TrainingLoss | None = None,
        cells: ValidationCells | None = None,
        affinity: HeldOutAffinity | None = None,
        rank_weight: float = 0.0,
    ):
        """``loss`` is the training loss, bound to the data (``run.loss``; BCE on the labels when
        None); its ``validation`` gives ``val/loss``. ``cells`` scores each validation epoch in the
        split's cells (the data module's; one cell when None), ranking the observed scores too when
        they are ``ranked``; ``affinity`` is the held-out affinity file, scored each epoch on the
        second validation dataloader (the test part: ``val/affinity_spearman``…). ``rank_weight``
        adds the ranking term of ``models/ranking.py`` to the training loss: the batch's predicted
        values against the observed order (of the enrichment scores; of the labels without them),
        its mean over the ordered pairs times ``rank_weight``."""
        super().__init__()
        self.cells = cells if cells is not None else ValidationCells.single()
        self.loss = loss if loss is not None else BCE().bind(Supervision(), len(self.cells.targets))
        self.readout = self.loss.readout
        self.rank_weight = float(rank_weight)
        self.backbone = backbone
        self.init_report = None
        if init_from:  # a pretrained encoder (python -m belka_lab pretrain): report what it filled
            self.init_report = load_encoder(backbone, init_from)
            print(self.init_report.summary())
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.lr_decay = lr_decay
        if lr_decay is not None and not isinstance(backbone, LayerGroups):
            raise ValueError(f"lr_decay needs a backbone with layer_groups(); {type(backbone).__name__} has none")
        self.register_buffer(
            "pos_weight", torch.tensor(pos_weight, dtype=torch.float32) if pos_weight else None, persistent=False
        )
        self.train_loss = TrainLoss("train/loss")
        self.affinity = affinity
        self._outputs: list[dict[str, torch.Tensor]] = []
        self._affinity_outputs: list[dict[str, torch.Tensor]] = []

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.backbone(tokens, mask)

    # ------------------------------------------------------------------ train
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["tokens"], batch["mask"])
        total, count = self.loss(out, batch, self.pos_weight)
        if self.rank_weight:
            total = total + self.rank_weight * self._ranking(out, batch) * count  # so total / count gains it
        # summed on the device, logged when written; not on the progress bar (it reads its values back every step)
        self.train_loss.update(self, total, count, batch_idx)
        return total / count.clamp_min(1.0)

    def _ranking(self, out: torch.Tensor, batch: dict) -> torch.Tensor:
        """The mean pairwise ranking loss of the batch's predicted values against the observed order."""
        observed = batch["scores"] if self.cells.ranked else batch["labels"]
        total, pairs = pairwise_logistic(self.readout.ranked(out), observed, known_of(batch))
        return total / pairs.clamp_min(1.0)

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    # ------------------------------------------------------------------ eval: accumulate, gather once
    def _outputs_of(self, batch: dict) -> dict[str, torch.Tensor]:
        """The batch's predicted values and indices (and what the validation loss and the metrics
        need: the labels, and the observed scores when the cells rank them)."""
        logits = self(batch["tokens"], batch["mask"]).float()
        total, count = self.loss.validation(logits, batch)
        out = {
            "values": self.readout(logits),
            "index": batch["index"],
            "labels": batch["labels"],
            "label_mask": batch["label_mask"],
            "loss_sum": total[None],
            "loss_count": count[None],
        }
        if self.cells.ranked:
            out["scores"] = batch["scores"]
        return out

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        if dataloader_idx == 1:  # the held-out affinity file's compounds (the test part)
            logits = self(batch["tokens"], batch["mask"]).float()
            self._affinity_outputs.append({"values": self.readout(logits), "index": batch["index"]})
        else:
            self._outputs.append(self._outputs_of(batch))  # kept on the device for the epoch's end

    def on_validation_epoch_end(self) -> None:
        if self._affinity_outputs:
            held, self._affinity_outputs = gather(self, self._affinity_outputs), []
            self.log_dict(self.affinity.scores(held["values"], held["index"]))
        if not self._outputs:
            return
        out, self._outputs = gather(self, self._outputs), []
        labels = torch.where(out["label_mask"], out["labels"].to(torch.int8), -1)
        values, index = out["values"], out["index"]  # padding rows dropped by gather
        metrics = {"val/loss": float(out["loss_sum"].sum() / out["loss_count"].sum().clamp_min(1.0))}
        # on the device, one sort per protein and cell; a cell without a positive is not logged (said before training)
        metrics |= self.cells.scores(labels, values, index)
        if self.cells.ranked:  # a count table: how well the predictions rank the observed enrichment
            metrics |= self.cells.rank_scores(out["scores"], values, index)
        self.log_dict({k: v for k, v in metrics.items() if k != "val/map"})
        if "val/map" in metrics:
            self.log("val/map", metrics["val/map"], prog_bar=True)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        """{values, index}: collected per dataloader by the prediction writer (``predictions.Predictions``);
        the readout's values (probabilities, or log10 enrichment)."""
        return {"values": self.readout(self(batch["tokens"], batch["mask"])), "index": batch["index"]}

    # ------------------------------------------------------------------ resume exactly
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Random-number states (dropout, augmentation), so a resumed run continues the same stream."""

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        checkpoint["rng_states"] = {  # plain types and tensors: loadable with weights_only=True
            "torch": torch.get_rng_state(),
            "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), gauss_next],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith("objective.")]:  # 0.9: objective.counts.log_size (nb)
            state["loss." + key.removeprefix("objective.").removeprefix("counts.")] = state.pop(key)

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
        layers = self.backbone.layer_groups() if self.lr_decay is not None else None
        named = [*self.backbone.named_parameters(), *self.loss.named_parameters(prefix="loss")]
        return param_groups(named, layers, self.lr_decay)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.optimizer_factory, self.param_groups())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}
