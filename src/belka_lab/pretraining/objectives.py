"""What an encoder is pretrained to predict: one class per objective, chosen by the ``objective``
config group's ``_target_`` (``conf/objective/<name>.yaml``).

An objective knows its per-molecule targets (read from the caches beside the prepared data, so
the training loop never calls RDKit), the LightningModule that trains on them, and the two
validation numbers ``pretrain.png`` draws.

- :class:`MaskedTokens` (``objective=mlm``): masked-token prediction (``pretraining/mlm.py``);
- :class:`ECFPBits` (``objective=ecfp``): the molecule's ECFP bits (``pretraining/properties.py``;
  targets from the fingerprint cache of the baselines, ``features/fingerprints.py``);
- :class:`Descriptors` (``objective=descriptors``): standardised RDKit 2D descriptors
  (``features/descriptors.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
from torch import nn

from belka_lab.features.descriptors import DescriptorConfig, cached_descriptors
from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp
from belka_lab.loading.pretrain import Targets
from belka_lab.pretraining.mlm import MaskedLM
from belka_lab.pretraining.properties import PropertyPretrain


class MaskedTokens:
    """Masked-token prediction: ``mask_prob`` of the characters chosen (80% [MASK], 10% random,
    10% kept), predicted from the rest."""

    name = "mlm"
    curves = ("val_mlm_loss", "val_mlm_accuracy")  # (loss, score) drawn in pretrain.png

    def __init__(self, mask_prob: float = 0.15):
        self.mask_prob = float(mask_prob)

    def targets(self, prepared_dir: Path, progress: bool) -> Targets | None:
        return None  # the tokens are their own targets

    def module(self, backbone: nn.Module, optimizer: Callable, seed: int) -> L.LightningModule:
        return MaskedLM(backbone, optimizer, self.mask_prob, seed)


class ECFPBits:
    """Every bit of the molecule's ECFP fingerprint (multi-label BCE), the 1st place's second stage."""

    name = "ecfp"
    curves = ("val_ecfp_loss", "val_ecfp_auroc")

    def __init__(self, radius: int = 2, n_bits: int = 2048, dy: str = "keep", invalid: str = "error"):
        self.config = ECFPConfig(radius=radius, n_bits=n_bits, dy=dy, invalid=invalid, option="objective")

    def targets(self, prepared_dir: Path, progress: bool) -> Targets:
        cached_ecfp(prepared_dir, self.config, progress=progress)
        base = Path(prepared_dir) / "fingerprints" / self.config.key
        return Targets("bits", base / "train.npy", base / "test.npy", self.config.n_bits)

    def module(self, backbone: nn.Module, optimizer: Callable, seed: int) -> L.LightningModule:
        return PropertyPretrain(backbone, optimizer, self.name, self.config.n_bits, None)


class Descriptors:
    """Standardised RDKit 2D descriptors (masked multi-task regression), as the 0.301 RoBERTa did."""

    name = "descriptors"
    curves = ("val_descriptors_loss", "val_descriptors_r2")

    def __init__(self, names: list[str] | str | None = None, invalid: str = "error", clip: float = 5.0):
        """``names``: RDKit descriptor names, ``all``, or None for 20 cheap ones."""
        options = {"invalid": invalid, "clip": float(clip), "option": "objective"}
        if names is not None:
            options["names"] = names if isinstance(names, str) else list(names)
        self.config = DescriptorConfig(**options)
        self.names: list[str] | None = None

    def targets(self, prepared_dir: Path, progress: bool) -> Targets:
        _, info = cached_descriptors(prepared_dir, self.config, progress=progress)
        base = Path(prepared_dir) / "descriptors" / self.config.key
        self.names = list(info["names"])
        scale = {"mean": np.asarray(info["mean"], np.float32), "std": np.asarray(info["std"], np.float32)}
        return Targets("values", base / "train.npy", base / "test.npy", len(self.names), clip=self.config.clip, **scale)

    def module(self, backbone: nn.Module, optimizer: Callable, seed: int) -> L.LightningModule:
        return PropertyPretrain(backbone, optimizer, self.name, len(self.names), self.names)
