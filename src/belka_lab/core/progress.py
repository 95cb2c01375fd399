"""The one progress bar: a count of molecules, rows or chunks on stderr, quiet when switched off.

Every long job (generating, preparing, tokenizing, fingerprints, shards, screening) draws its bar
with :func:`bar`. A message printed while a bar is open goes through :func:`say`, which writes it
on its own line above the bar instead of on the bar's line.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int | None, desc: str, unit: str = "mol", enabled: bool = True) -> tqdm:
    """A bar over ``total`` items (None: a running count); ``enabled=False`` draws nothing."""
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, mininterval=1.0)


def say(message: str) -> None:
    """``message`` on stderr on a line of its own, above any open bar."""
    tqdm.write(message, file=sys.stderr)
