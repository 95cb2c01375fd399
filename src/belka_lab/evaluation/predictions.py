"""Predictions come back through Lightning's prediction path: :class:`Predictions` is a
``BasePredictionWriter`` that keeps, per prediction dataloader, the molecules' indices and
probabilities gathered from every process (padding dropped), as numpy arrays on every process."""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter


def gather(
    module,
    outputs: list[dict[str, torch.Tensor]],
    rows: tuple[str, ...] = ("values", "index", "labels", "label_mask", "scores"),
) -> dict[str, torch.Tensor]:
    """Batch outputs concatenated, from every process (equal batch counts: evaluation pads with
    index -1), padding rows dropped from the per-molecule tensors ``rows``; on the module's device."""
    cat = {k: torch.cat([o[k].to(module.device) for o in outputs]) for k in outputs[0]}
    if module.trainer is not None and module.trainer.world_size > 1:
        cat = {k: v.reshape(-1, *v.shape[2:]) for k, v in module.all_gather(cat).items()}
    keep = cat["index"] >= 0
    return {k: v[keep] if k in rows else v for k, v in cat.items()}


class Predictions(BasePredictionWriter):
    """After ``trainer.predict``: ``self.sets[name] = {"index": int64 [N], "values": float32 [N, T]}``
    for each dataloader, named by ``names`` (the data module's order)."""

    def __init__(self, names: tuple[str, ...]):
        super().__init__(write_interval="epoch")
        self.names = tuple(names)
        self.sets: dict[str, dict[str, np.ndarray]] = {}

    def on_predict_start(self, trainer, pl_module) -> None:
        """The data module names its prediction dataloaders (``predict_sets``: an empty part has none)."""
        self.names = tuple(getattr(trainer.datamodule, "predict_sets", self.names))

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        per_loader = predictions if len(self.names) > 1 else [predictions]
        if len(per_loader) != len(self.names):
            raise ValueError(f"{len(per_loader)} prediction dataloaders for the {len(self.names)} names {self.names}")
        self.sets = {
            name: {k: v.cpu().numpy() for k, v in gather(pl_module, batches).items()}
            for name, batches in zip(self.names, per_loader)
            if batches
        }

    def of(self, name: str, n_rows: int, n_targets: int) -> dict[str, np.ndarray]:
        """The set ``name``; an empty part (no rows, so no batches) as empty arrays."""
        if name in self.sets or n_rows:
            return self.sets[name]
        return {"index": np.zeros(0, np.int64), "values": np.zeros((0, n_targets), np.float32)}
