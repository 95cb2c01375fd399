"""What every command shares: bad input (:class:`InputError`) ends the command with
``error: <message>`` on stderr and exit status 2, for Hydra commands and argparse commands alike."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import hydra

from belka_lab.core.config import CONFIG_DIR, register_resolvers
from belka_lab.core.errors import EXIT_INPUT_ERROR, InputError

# The process's command line as started (with the command word), set by belka_lab.cli.main.
LAUNCH_ARGV: list[str] | None = None


def _report(e: InputError) -> int:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def hydra_command(config_name: str) -> Callable:
    """``@hydra_command("train")`` on ``def main(cfg)``: a Hydra application over ``conf/<config_name>.yaml``."""

    register_resolvers()

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def task(cfg):
            if LAUNCH_ARGV is not None:  # Hydra has parsed its arguments: restore the command word for DDP's launcher
                sys.argv = list(LAUNCH_ARGV)
            try:
                return fn(cfg)
            except InputError as e:
                sys.exit(_report(e))

        return hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(task)

    return wrap


def argv_command(fn: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """``@argv_command`` on ``def main(argv) -> int`` (argparse commands): InputError → status 2."""

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return fn(argv)
        except InputError as e:
            return _report(e)

    return wrapper
