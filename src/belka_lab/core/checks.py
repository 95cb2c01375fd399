"""Checks made before any training starts: the accelerator's package is there, a checkpoint to
resume fits the model (each failure is one InputError saying what to change). What the model
reads is checked when it is built (``models/backbone.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from belka_lab.core.errors import InputError


def resume_path(ckpt_path: str | None, run_dir: Path, model) -> str | None:
    """The checkpoint to resume from, checked against the model before training starts:
    ``last`` means ``<run dir>/checkpoints/last.ckpt``; a checkpoint of another model or size
    is refused with the tensors that differ."""
    if not ckpt_path:
        return None
    path = run_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = (
            "resume in the run's own directory: hydra.run.dir=<run dir> ckpt_path=last"
            if ckpt_path == "last"
            else "give an existing .ckpt file"
        )
        raise InputError(f"ckpt_path={ckpt_path}: {path} does not exist; {hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as e:
        raise InputError(
            f"ckpt_path={ckpt_path}: {path} is not a training checkpoint of this framework ({type(e).__name__}: "
            f"{str(e)[:200]})"
        ) from e
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or wrong:
        detail = "; ".join(wrong[:3] + [f"missing {k}" for k in missing[:3]])
        raise InputError(
            f"ckpt_path={ckpt_path}: {path} was trained with another model, size or vocabulary ({detail}); resume with "
            f"the overrides it was trained with"
        )
    return str(path)


# Accelerators whose support lives in a package the default install lacks: (module, how to get it)
ACCELERATOR_PACKAGES = {
    "tpu": (
        "torch_xla",
        "the [tpu] extra in its own environment: `pip install -e '.[tpu]' -f "
        "https://storage.googleapis.com/libtpu-releases/index.html` on the TPU VM (torch_xla 2.9 with torch 2.9)",
    ),
}


def check_accelerator(trainer_cfg) -> None:
    """Before anything is built: the package the configured accelerator needs is importable."""

    accelerator = str(trainer_cfg.get("accelerator", "cpu"))
    if accelerator in ACCELERATOR_PACKAGES:
        module, how = ACCELERATOR_PACKAGES[accelerator]
        if importlib.util.find_spec(module) is None:
            raise InputError(f"trainer accelerator={accelerator} needs {module}, which is not installed; install {how}")
