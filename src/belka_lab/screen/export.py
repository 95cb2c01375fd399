"""A training run's network as a file that scores molecules without belka_lab: ONNX (ONNX
Runtime, any language) or TorchScript (PyTorch alone).

The graph takes token ids ``tokens`` [B, L] — uint8 when the vocabulary fits in a byte (the
character codes, the atom tokens), else int64 — and returns ``values`` [B, T] (one per target of the run),
the batch size free. Beside ``<name>.onnx|.pt``, ``<name>.json`` holds what encodes a molecule
for it (tokenizer, width, padding id, vocabulary: the character dictionary inline, any other
tokenizer saved in ``<name>.tokenizer/``), the training building blocks, and the parity check:
the exported file and PyTorch score the same molecules of the run's test set, and the export
fails, naming the difference, when they differ by more than ``tolerance``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.screen import runs, scorers
from belka_lab.screen.exported import Exported, require
from belka_lab.tokens.characters import CHAR_VOCAB

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


class Predicting(nn.Module):
    """``tokens`` [B, L] (any integer type) → the run's predictions [B, T]: the backbone with its
    padding mask and its loss's readout (probabilities, or log10 enrichment of a count model)."""

    def __init__(self, backbone: nn.Module, pad_id: int, readout: nn.Module):
        super().__init__()
        self.backbone, self.pad_id, self.readout = backbone, int(pad_id), readout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.long()
        return self.readout(self.backbone(tokens, tokens != self.pad_id))


@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and notices stay off the console (errors still raise)."""
    levels = {
        name: logging.getLogger(name).level
        for name in (
            "torch.onnx",
            "torch._dynamo",
            "torch._guards",
            "torch.fx",
            "torch.export",
            "onnxscript",
            "onnx_ir",
            "transformers",
        )
    }
    for name in levels:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def write_model(model: Predicting, fmt: str, path: Path, example: torch.Tensor) -> None:
    """The exported file at ``path`` (atomically); an InputError naming why it cannot be exported."""
    blocker = getattr(model.backbone, "export_blocker", None)
    if blocker:
        raise InputError(f"{type(model.backbone).__name__} cannot be exported to {fmt}: {blocker}")
    if fmt == "onnx":
        require("onnxscript")
    with atomic_path(path) as tmp, _quiet():
        try:
            if fmt == "onnx":
                batch = torch.export.Dim("batch", min=1)
                program = torch.onnx.export(
                    model,
                    (example,),
                    dynamo=True,
                    input_names=["tokens"],
                    output_names=["values"],
                    dynamic_shapes={"tokens": {0: batch}},
                    verbose=False,
                )
                program.save(str(tmp))
            else:
                traced = torch.jit.trace(model, (example,), check_trace=False)
                torch.jit.save(traced, str(tmp))
        except Exception as e:  # the exporters raise many types; say which model and why
            raise InputError(f"{type(model.backbone).__name__} cannot be exported to {fmt}: {_reason(e)}") from e


def _reason(e: BaseException) -> str:
    """The first line of the innermost cause (the exporters wrap the error that says what failed)."""

    while e.__cause__ is not None:
        e = e.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:400] if text else ''}"


def export(
    run_dir: str | Path, fmt: str, out: str | Path | None = None, check_molecules: int = 256, tolerance: float = 1e-4
) -> dict:
    """Export the run's best network; returns the sidecar's contents (with ``file``)."""
    if fmt not in FORMATS:
        raise InputError(f"format={fmt}: use onnx or torchscript")
    run_dir = Path(run_dir)
    results = runs.run_results(run_dir)
    if "baseline" in results or "method" in results:
        raise InputError(
            f"{run_dir} is a {'baseline' if 'baseline' in results else 'blend'} run: export takes a training run's "
            f"network; predict scores baseline and blend runs directly (belka predict run={run_dir})"
        )
    scorer = scorers.load(run=str(run_dir), precision="32-true")
    spec = scorer.spec
    dtype = np.uint8 if spec.vocab_size <= 256 else np.int64
    model = Predicting(scorer.model.float().eval(), spec.pad_id, scorer.readout).eval()
    ids = _check_ids(run_dir, check_molecules).astype(dtype)
    path = Path(out) if out else run_dir / "export" / f"model{FORMATS[fmt]}"
    if path.suffix != FORMATS[fmt]:
        raise InputError(f"output={path}: a {fmt} file ends in {FORMATS[fmt]}")
    write_model(model, fmt, path, torch.from_numpy(ids[: min(len(ids), 8)]))
    with torch.inference_mode():
        expected = model(torch.from_numpy(ids)).numpy()
    got = Exported(path)(ids)
    diff = float(np.max(np.abs(got - expected))) if len(ids) else 0.0
    if not diff <= tolerance:
        path.unlink(missing_ok=True)
        raise InputError(
            f"the {fmt} export of {type(model.backbone).__name__} differs from PyTorch by {diff:.2e} (more than "
            f"{tolerance:g}) on {len(ids)} molecules; it was not kept"
        )
    tokens = spec.to_json()
    if spec.path is not None:  # the tokenizer travels with the model
        tok_dir = path.with_name(path.stem + ".tokenizer")
        shutil.rmtree(tok_dir, ignore_errors=True)
        shutil.copytree(spec.path, tok_dir)
        tokens["path"] = tok_dir.name
    else:
        tokens["vocabulary"] = CHAR_VOCAB
    info = {
        "format": fmt,
        "file": path.name,
        "input": "tokens",
        "input_dtype": np.dtype(dtype).name,
        "output": f"values [batch, {len(scorer.targets)}] ({scorer.values}): {', '.join(scorer.targets)}",
        "values": str(scorer.readout.values),
        "targets": list(scorer.targets),
        "tokens": tokens,
        "backbone": type(model.backbone).__name__,
        "run": str(run_dir.resolve()),
        "model": scorer.what,
        "batch_size": scorer.batch_size,
        "parity": {"molecules": len(ids), "max_abs_diff": diff, "tolerance": tolerance},
        "training_blocks": scorer.blocks,
    }
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(info, indent=1))
    return {**info, "file": str(path)}


def _check_ids(run_dir: Path, n: int) -> np.ndarray:
    """The first ``n`` test molecules of the run's data, as the model's token ids."""
    dm = runs.run_data(runs.run_config(run_dir), run_dir)
    tokens = np.load(dm.files("test")["tokens"], mmap_mode="r")
    return np.asarray(tokens[: max(1, n)]).astype(np.int64)
