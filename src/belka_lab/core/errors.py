"""User-facing errors: one sentence naming the file, the rows or ids, and what to do."""

from __future__ import annotations

from collections.abc import Sequence

from belka_lab.core.progress import say

EXIT_INPUT_ERROR = 2


class InputError(Exception):
    """Bad user input (files, ids, configuration). Entry points exit with status 2."""


def preview(ids: Sequence, limit: int = 5) -> str:
    """'3 ids (e.g. 7, 9, 12)' style summary of offending ids."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    more = f", … {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{shown}{more}"


def warn(message: str) -> None:
    """A problem the run can go on with, said once on stderr as ``warning: <message>``, on a line
    of its own above any open progress bar."""
    say(f"warning: {message}")
