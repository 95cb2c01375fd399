"""What a run learns from (binary labels or read counts) is asked of ``dataset/supervision.py``
and what a run predicts is a ``Values``: no module probes the manifest, the files, a batch's keys,
the prediction files' columns or a loss's name to find out."""

from __future__ import annotations

import re
from pathlib import Path

import belka_lab

PACKAGE = Path(belka_lab.__file__).parent
PROBES = {
    "the manifest's count table": r'get\("count_table"|"count_table" in',
    "a file of the count table": r'(scores|counts)\.npy"\)?\.exists',
    "a batch's or feed's keys": r'"(scores|counts)" in (batch|out|feed)',
    "a prediction file's columns": r'f"score_\{[^}]+\}" in',
    "a loss's name": r'model\.get\("loss"|loss in \(|name in COUNT_LOSSES|\.kind == "probability"|is_probability',
    "a tree's learn string": r'learn (==|!=) "',
    "the prepared format": r'get\("format", "kaggle"\)',
}
OWNERS = {"dataset/supervision.py", "models/losses.py"}  # the type; the losses and their Readout


def test_no_module_probes_the_kind_of_data_it_is_given():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in OWNERS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            found += [f"{rel}:{number}: {what}: {line.strip()}" for what, p in PROBES.items() if re.search(p, code)]
    assert not found, "\n".join(found)


def test_the_probes_are_found_where_they_are():
    """The patterns above match the probes they name (so the test above can fail)."""
    lines = [
        'table = manifest.get("count_table")',
        'if not (store.path / "train" / "scores.npy").exists():',
        'if "scores" in batch:',
        'if f"score_{targets[0]}" in val:',
        'loss = cfg.model.get("loss", "bce")',
        'if self.learn == "labels":',
        'kaggle = manifest.get("format", "kaggle") == "kaggle"',
    ]
    for line, what in zip(lines, PROBES):
        assert re.search(PROBES[what], line), what
