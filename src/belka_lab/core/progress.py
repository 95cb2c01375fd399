"""The one progress bar: a count of molecules, rows or chunks on stderr, quiet when switched off.

Every long job (generating, preparing, tokenizing, fingerprints, shards, screening) draws its bar
with :func:`bar`. A warning printed while a bar is open goes through :func:`say`, which writes it
on its own line above the bar; an error closes every bar first (:func:`close_bars`).
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
    sys.stderr.flush()


def close_bars() -> None:
    """Close every open bar (before an error ends the command: its message gets its own line)."""
    for open_bar in list(getattr(tqdm, "_instances", ())):
        open_bar.close()
