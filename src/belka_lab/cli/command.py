"""What every command shares: bad input (:class:`InputError`) ends the command with
``error: <message>`` on stderr and exit status 2, for Hydra commands and argparse commands alike,
wherever it was raised: in the command, while Hydra instantiates a config, in a callback, a data
module hook or a Lightning strategy (which wrap it; the wrapping is taken off). Open progress
bars are closed first, so the message has a line of its own. A real bug keeps its traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import hydra

from belka_lab.core.config import CONFIG_DIR, check_overrides, register_resolvers
from belka_lab.core.errors import EXIT_INPUT_ERROR, InputError
from belka_lab.core.progress import close_bars

# The process's command line as started (with the command word), set by belka_lab.cli.main.
LAUNCH_ARGV: list[str] | None = None


def _report(e: InputError) -> int:
    close_bars()
    print(f"error: {e}", file=sys.stderr, flush=True)
    return EXIT_INPUT_ERROR


def input_error(e: BaseException) -> InputError | None:
    """The InputError ``e`` is, or wraps (Hydra's InstantiationException, Lightning's strategies
    raise from it), or None."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, InputError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


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
            except Exception as e:
                found = input_error(e)
                if found is None:
                    raise
                sys.exit(_report(found))

        main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(task)

        @functools.wraps(fn)
        def checked():
            try:
                check_overrides(sys.argv[1:])
            except InputError as e:
                sys.exit(_report(e))
            return main()

        return checked

    return wrap


def argv_command(fn: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """``@argv_command`` on ``def main(argv) -> int`` (argparse commands): InputError → status 2."""

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return fn(argv)
        except Exception as e:
            found = input_error(e)
            if found is None:
                raise
            return _report(found)

    return wrapper
