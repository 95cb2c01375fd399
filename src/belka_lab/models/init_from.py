"""Start a backbone from a pretrained encoder file (``python -m belka_lab pretrain`` writes one).

An encoder file is a ``torch.save`` of ``{"backbone": "<class path>", "state_dict": {...},
"config": {...}}`` holding every backbone weight except the classification head
(``head.*``), which pretraining does not train. Loading copies every tensor whose name and shape match, and reports
which weights were loaded, which stayed new (e.g. the classification head) and which in
the file were not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset.read import load_torch


@dataclass
class LoadReport:
    path: str
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def short(names):
            return ", ".join(names[:6]) + (f", … ({len(names)} in all)" if len(names) > 6 else "")

        lines = [
            f"init_from {self.path}: loaded {len(self.loaded)} tensors, {len(self.new)} new, {len(self.unused)} unused"
        ]
        if self.new:
            lines.append(f"  new (not in the file): {short(self.new)}")
        if self.unused:
            lines.append(f"  unused (in the file only): {short(self.unused)}")
        return "\n".join(lines)


def save_encoder(path: str | Path, backbone: nn.Module, config: dict | None = None, tokens: dict | None = None) -> None:
    """``tokens``: the tokenizer the encoder read (``name``, ``vocab_size``), checked when it is loaded."""
    cls = type(backbone)
    state = {k: v.detach().cpu() for k, v in backbone.state_dict().items() if not k.startswith("head.")}
    blob = {"backbone": f"{cls.__module__}.{cls.__qualname__}", "state_dict": state, "config": config or {}}
    if tokens is not None:
        blob["tokens"] = tokens
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def read_encoder(path: str | Path) -> dict:
    """The encoder file's contents, or one InputError saying what the file is instead."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"model.init_from: {path} does not exist; give the encoder.pt written by `python -m belka_lab pretrain` "
            f"(in its run directory)"
        )
    blob = load_torch(path, "an encoder file written by `python -m belka_lab pretrain` (model.init_from)")
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
        raise InputError(
            f"model.init_from: {path} is not an encoder file written by `python -m belka_lab pretrain` (it has no "
            f"state_dict)"
        )
    return blob


def check_tokens(path: str | Path, name: str, vocab_size: int) -> None:
    """Stop before a model is built when the encoder read another tokenizer than this run's."""
    saved = read_encoder(path).get("tokens")
    if saved and (saved.get("name") != name or int(saved.get("vocab_size", vocab_size)) != int(vocab_size)):
        raise InputError(
            f"model.init_from: {path} was pretrained on tokenizer={saved.get('name')} ({saved.get('vocab_size')} "
            f"token ids) but this run reads tokenizer={name} ({vocab_size} token ids); fine-tune with "
            f"tokenizer={saved.get('name')}, or pretrain again with tokenizer={name}"
        )


def load_encoder(backbone: nn.Module, path: str | Path) -> LoadReport:
    path = Path(path)
    blob = read_encoder(path)
    state = blob["state_dict"]
    own = backbone.state_dict()
    mismatched = [
        f"{k} {tuple(state[k].shape)} in the file vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if mismatched:
        raise InputError(
            f"model.init_from: {path} was pretrained with another size ({blob.get('backbone')}): "
            + "; ".join(mismatched[:4])
            + ". Use the same model.backbone settings as the pretraining run."
        )
    report = LoadReport(str(path))
    report.loaded = [k for k in own if k in state]
    report.new = [k for k in own if k not in state]
    report.unused = [k for k in state if k not in own]
    if not report.loaded:
        raise InputError(
            f"model.init_from: no tensor of {path} ({blob.get('backbone')}) matches {type(backbone).__name__}; "
            f"pretrain the same backbone"
        )
    backbone.load_state_dict({k: state[k] for k in report.loaded}, strict=False)
    return report
