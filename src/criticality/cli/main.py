"""Entry point of the ``criticality`` command.

Each subcommand is a module with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; adding one is a new file and one line in ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

_COMMANDS = [
    "criticality.cli.measure",
    "criticality.cli.list",
    "criticality.cli.report",
    "criticality.cli.demo",
    "criticality.cli.data",
    "criticality.cli.scan",
    "criticality.cli.train",
    "criticality.cli.experiment",
    "criticality.cli.lm",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="criticality",
        description="Measure how close deep networks operate to a critical phase transition.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for path in _COMMANDS:
        module = importlib.import_module(path)
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def configure_logging(*, verbose: bool = False) -> None:
    """Warnings (INFO with ``-v``) on stderr, and always the progress lines
    (:mod:`criticality.progress`: one per finished unit or part when stderr is not a terminal),
    so that a log of a long run shows where it is."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("criticality.progress").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    from criticality.cli._checks import check_arguments
    from criticality.data import DataUnavailableError
    from criticality.reporting import fresh_start

    try:
        check_arguments(args)  # before any work: a bad --out or --device fails at once
        with fresh_start(bool(getattr(args, "fresh", False))):
            return int(args._run(args))
    except DataUnavailableError as err:
        print(f"criticality {args.command}: error: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"criticality {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a folder we may not write, ...
        print(f"criticality {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
