"""User-facing errors: one sentence naming the file, the rows or ids, and what to do."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

EXIT_INPUT_ERROR = 2


class InputError(Exception):
    """Bad user input (files, ids, configuration). Entry points exit with status 2."""


def preview(ids: Sequence, limit: int = 5) -> str:
    """'3 ids (e.g. 7, 9, 12)' style summary of offending ids."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    more = f", … {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{shown}{more}"


def exits_on_input_error(fn):
    """For entry points: an InputError prints ``error: <message>`` and exits with status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(EXIT_INPUT_ERROR)

    return wrapper
