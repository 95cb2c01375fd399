"""Targets: the proteins (or any selection conditions) a dataset labels, in the column order every
array, model output, metric and prediction file of that dataset uses.

The prepared directory's manifest names them (``targets``); everything downstream reads them from
there. BELKA's three are the default of the competition's files and what its submission expects.
"""

from __future__ import annotations

import re

from belka_lab.core.errors import InputError

BELKA_TARGETS: tuple[str, ...] = ("BRD4", "HSA", "sEH")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_targets(names, where: str) -> tuple[str, ...]:
    """The target names as a tuple: at least one, unique, each usable as a column and a metric key."""
    names = tuple(str(n) for n in names)
    if not names:
        raise InputError(f"{where}: no target found; a dataset needs at least one target")
    bad = [n for n in names if not _NAME.match(n) or n.startswith("label_")]
    if bad:
        raise InputError(
            f"{where}: target names {bad[:5]} cannot name columns and metrics; use letters, digits and _ . + - "
            f"(not starting with label_)"
        )
    seen = {n.lower() for n in names}
    if len(seen) != len(names):
        raise InputError(f"{where}: target names {list(names)} repeat (case is ignored in metric keys)")
    return names
