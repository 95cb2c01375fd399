"""Masked-language-model pretraining of a backbone's encoder on SMILES characters (BERT's
recipe, Devlin et al. 2019): 15% of the characters are chosen; of those 80% become [MASK],
10% a random character, 10% stay; the encoder's per-character outputs predict the original
characters at the chosen positions.

Any :class:`~belka_lab.models.backbone.Pretrainable` backbone can be pretrained.
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


def mask_tokens(
    tokens: torch.Tensor,
    mask: torch.Tensor,
    mask_token_id: int,
    symbols: tuple[int, int],
    prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrupted tokens, chosen positions). Random replacements come from the id range
    ``symbols`` (inclusive); padding is never chosen."""
    u = torch.rand(tokens.shape, device=tokens.device, generator=generator)
    chosen = (u < prob) & mask
    action = torch.rand(tokens.shape, device=tokens.device, generator=generator)
    random_symbols = torch.randint(symbols[0], symbols[1] + 1, tokens.shape, device=tokens.device, generator=generator)
    out = torch.where(chosen & (action < 0.8), torch.full_like(tokens, mask_token_id), tokens)
    out = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_symbols, out)
    return out, chosen


class MaskedLM(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        mask_prob: float = 0.15,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(backbone, Pretrainable):
            raise InputError(
                f"{type(backbone).__name__} has no `features` (per-token outputs, models/backbone.py: Pretrainable): "
                "it cannot be pretrained; pretrainable models: transformer, transformer_large, mamba, chemberta"
            )
        self.backbone, self.optimizer_factory = backbone, optimizer
        self.mask_prob, self.seed = float(mask_prob), int(seed)
        d = backbone.d_model
        self.lm_head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, backbone.vocab_size))
        self.history: list[dict] = []
        self.train_loss = TrainLoss("train/mlm_loss")
        self._val: list[torch.Tensor] = []

    def _loss(
        self, batch: dict, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(summed cross-entropy, correct predictions, chosen positions) over the batch."""
        tokens, mask = batch["tokens"], batch["mask"]
        inputs, chosen = mask_tokens(
            tokens, mask, self.backbone.mask_token_id, self.backbone.symbol_range, self.mask_prob, generator
        )
        per_char, _ = self.backbone.features(inputs, mask)
        logits = self.lm_head(per_char[chosen]).float()
        target = tokens[chosen]
        loss = F.cross_entropy(logits, target, reduction="sum")
        return loss, (logits.argmax(-1) == target).sum(), chosen.sum()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        total, correct, n = self._loss(batch)
        self.train_loss.update(self, total, n, batch_idx)
        return total / n.clamp_min(1)

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # the same positions are masked every epoch: the validation numbers are comparable
        g = torch.Generator(device=batch["tokens"].device).manual_seed(self.seed * 100_003 + batch_idx)
        total, correct, n = self._loss(batch, g)
        self._val.append(torch.stack([total.float(), correct.float(), n.float()]))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        sums = torch.stack(self._val).sum(0)
        self._val = []
        if self.trainer is not None and self.trainer.world_size > 1:
            sums = self.all_gather(sums).reshape(-1, 3).sum(0)
        loss, acc = float(sums[0] / sums[2].clamp_min(1)), float(sums[1] / sums[2].clamp_min(1))
        self.log_dict({"val/mlm_loss": loss, "val/mlm_accuracy": acc}, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.history.append(
                {"epoch": self.current_epoch, "step": self.global_step, "val_mlm_loss": loss, "val_mlm_accuracy": acc}
            )

    def configure_optimizers(self):
        return build_optimizer(self.optimizer_factory, param_groups(self.named_parameters()))
