"""The one run builder: what ``train``, ``pretrain``, ``tune`` and the benchmarks build, in the
order they build it — process settings and seed, the data module (data made and set up), the
model for its token arrays, then the trainer with the configured callbacks and loggers."""

from __future__ import annotations

import logging
import warnings

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from belka_lab.core.checks import check_accelerator
from belka_lab.core.config import register_resolvers
from belka_lab.core.runtime import set_malloc_top_pad
from belka_lab.loading.datamodule import BelkaDataModule
from belka_lab.models.backbone import build_backbone
from belka_lab.models.init_from import check_tokens
from belka_lab.models.losses import TrainingLoss, from_config


def start(cfg: DictConfig) -> None:
    """Before anything is built: the accelerator's package, glibc's heap headroom, every seed."""
    register_resolvers()
    check_accelerator(cfg.trainer)
    set_malloc_top_pad(int(cfg.get("malloc_top_pad_mb", 0)) << 20)
    quiet()
    L.seed_everything(cfg.seed, workers=True)


def quiet() -> None:
    """Third-party notices that tell a user nothing about their run stay off the console: a hosted
    logger's advertisement at every Trainer start, a deprecation inside Lightning, the checkpoint
    loader's note on ``weights_only`` (the checkpoints are this run's own), the prediction
    writer's batch indices (predictions carry their molecule index), the advice to log more often
    than once an epoch on a small table (the run logs per epoch on purpose), and, on resuming,
    the notes that the loader is not resumable (its sampler skips the batches already trained on)
    and that the checkpoint directory is not empty (it is the run's own)."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.trainer.connectors.checkpoint_connector"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Unhelpful) for f in logger.filters):
            logger.addFilter(_Unhelpful())
    for message in (
        r".*isinstance\(treespec, LeafSpec\).*",
        r"Couldn't infer the batch indices",
        r"The number of training batches \(\d+\) is smaller than the logging interval",
        r"You're resuming from a checkpoint that ended before the epoch ended",  # the sampler skips what was trained
        r"Checkpoint directory .* exists and is not empty",  # a resumed run writes into its own directory
    ):
        warnings.filterwarnings("ignore", message=message)


class _Unhelpful(logging.Filter):
    NOTICES = ("litlogger", "`weights_only` was not set")

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not any(n in text for n in self.NOTICES)


def datamodule(cfg: DictConfig) -> BelkaDataModule:
    """``cfg.data`` with its data made (synthetic library, prepared directory, tokenizer ids,
    loader files) and set up: first, since the model is built for its token arrays."""
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def loss(cfg: DictConfig, dm) -> TrainingLoss:
    """The configured training loss (the ``loss`` group), bound to what ``dm``'s data learns from:
    fails here, before anything trains, when the data has not what the loss needs."""
    return from_config(cfg).bind(dm.supervision, len(dm.targets))


def backbone(cfg: DictConfig, dm, outputs: int | None = None) -> torch.nn.Module:
    """The backbone for ``dm``'s tokens, with ``outputs`` (by default the number the loss needs for
    ``dm``'s targets)."""
    return build_backbone(cfg.model.backbone, dm, outputs if outputs is not None else loss(cfg, dm).n_outputs)


def model(cfg: DictConfig, dm) -> L.LightningModule:
    """``cfg.model`` (BelkaModule) around the backbone built for ``dm``, with the loss bound to
    ``dm``'s data, scoring ``dm``'s validation cells (and its held-out affinity file)."""
    check_init_from(cfg, dm)
    bound = loss(cfg, dm)
    net = backbone(cfg, dm, bound.n_outputs)
    return instantiate(module_config(cfg), backbone=net, cells=dm.cells, loss=bound, affinity=dm.affinity)


def check_init_from(cfg: DictConfig, dm) -> None:
    """A pretrained encoder (``model.init_from``) must have read this run's tokenizer."""
    if cfg.model.get("init_from"):
        spec = dm.token_spec
        check_tokens(cfg.model.init_from, spec.name, spec.vocab_size)


def module_config(cfg: DictConfig) -> DictConfig:
    """``cfg.model`` as the module takes it: without ``eval_batch_size``, the evaluation batch the
    network fits in, which the data config reads (``data.eval_batch_size``)."""
    return OmegaConf.masked_copy(cfg.model, [k for k in cfg.model if k != "eval_batch_size"])


def compiled(cfg: DictConfig, module: L.LightningModule) -> L.LightningModule:
    """``compile=true``: the backbone through torch.compile."""
    if cfg.get("compile"):
        module.backbone = torch.compile(module.backbone)
    return module


def configured(cfg: DictConfig, group: str) -> list:
    """The objects of a config group of named entries (``callbacks``, ``logger``); null entries are switched off."""
    return [instantiate(c) for c in (cfg.get(group) or {}).values() if c is not None]


def trainer(cfg: DictConfig, callbacks: list | None = None, loggers: list | None = None, **overrides) -> L.Trainer:
    """``cfg.trainer`` with ``callbacks`` and ``loggers`` (default: the configured ones) and any
    Trainer argument overridden."""
    callbacks = configured(cfg, "callbacks") if callbacks is None else callbacks
    loggers = configured(cfg, "logger") if loggers is None else loggers
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)
