"""The ``trapblur`` command line: parse arguments, call the public API, format progress and the summary.

One module per group of sub-commands, each with a ``register(subparsers)`` function:
:mod:`.blur` (``blur``, ``example``), :mod:`.detection` (``detect``, ``run``, ``models``). What they share
(exit codes, blur options, progress bar, summary) is in :mod:`.common`. Exit status: 0 every image written;
1 some withheld or failed (see the report); 2 could not run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from .._version import __version__
from ..errors import TrapblurError
from . import blur, detection
from .common import EXIT_CANNOT_RUN, for_cli, parse_threshold

__all__ = ["build_parser", "main", "parse_threshold"]
COMMAND_GROUPS = (blur, detection)


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
    try:
        return args.handler(args)
    except TrapblurError as exc:
        print(f"trapblur: error: {for_cli(str(exc))}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print("\ntrapblur: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
