"""What a saved tree model predicts: its targets, in output order, and what it learnt (``labels``,
``scores`` or ``counts``), in ``<model dir>/targets.json``."""

from __future__ import annotations

import json
from pathlib import Path

from belka_lab.core.io import atomic_path
from belka_lab.dataset.read import read_json
from belka_lab.dataset.schema import BELKA_TARGETS

FILE = "targets.json"


def write_targets(model_dir: Path, targets: tuple[str, ...], learn: str) -> None:
    with atomic_path(Path(model_dir) / FILE) as tmp:
        tmp.write_text(json.dumps({"targets": list(targets), "learn": learn}))


def read_targets(model_dir: Path) -> tuple[tuple[str, ...], str]:
    """(targets, learn); models saved before these were recorded predict BELKA's three labels."""
    path = Path(model_dir) / FILE
    if not path.exists():
        return BELKA_TARGETS, "labels"
    saved = read_json(path, "a target list")
    return tuple(saved["targets"]), saved["learn"]
