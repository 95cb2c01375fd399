"""The targets a saved tree model predicts, in its output order (``<model dir>/targets.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from belka_lab.core.io import atomic_path
from belka_lab.dataset.read import read_json
from belka_lab.dataset.schema import BELKA_TARGETS

FILE = "targets.json"


def write_targets(model_dir: Path, targets: tuple[str, ...]) -> None:
    with atomic_path(Path(model_dir) / FILE) as tmp:
        tmp.write_text(json.dumps(list(targets)))


def read_targets(model_dir: Path) -> tuple[str, ...]:
    """The saved targets; models saved before targets were recorded predict BELKA's three."""
    path = Path(model_dir) / FILE
    return tuple(read_json(path, "a target list")) if path.exists() else BELKA_TARGETS
