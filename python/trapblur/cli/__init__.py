"""The ``trapblur`` command line: parse arguments, call the public API, format progress and the summary.

One module per group of sub-commands, each with a ``register(subparsers)`` function:
:mod:`.blur` (``blur``, ``example``), :mod:`.detection` (``detect``, ``run``, ``models``), :mod:`.review`
(``review``), :mod:`.export` (``export zooniverse``, ``export camtrap-dp``). What they share
(exit codes, blur options, progress bar, summary) is in :mod:`.common`. Exit status: 0 every image written;
1 some withheld or failed (see the report); 2 could not run.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import warnings
from typing import Any, Sequence

from .._version import __version__
from ..errors import TrapblurError, TrapblurWarning, os_error_reason
from . import blur, detection, export, review
from .common import EXIT_CANNOT_RUN, CommandLineError, for_cli, parse_threshold

__all__ = ["build_parser", "main", "parse_threshold"]
COMMAND_GROUPS = (blur, detection, review, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trapblur",
        description="Blur people in camera-trap images before sharing a dataset.",
    )
    parser.add_argument("--version", action="version", version=f"trapblur {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for stream in (sys.stdout, sys.stderr):  # a file name that is not valid UTF-8 must not stop the summary
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    with warnings.catch_warnings():
        warnings.simplefilter("always", TrapblurWarning)
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except TrapblurError as exc:
            text = one_line(str(exc))  # a CommandLineError is in the command line's words already
            print(f"trapblur: error: {text if isinstance(exc, CommandLineError) else for_cli(text)}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        except OSError as exc:  # one the library did not name itself: still one line, with the path
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"trapblur: error: {one_line(where + os_error_reason(exc))}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        except KeyboardInterrupt:
            print("\ntrapblur: interrupted; run the same command again to resume", file=sys.stderr)
            return 130


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a file name) shown as escapes: messages stay one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    if issubclass(category, TrapblurWarning):
        print(f"trapblur: warning: {for_cli(one_line(str(message)))}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
