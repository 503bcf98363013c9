"""The ``intcap`` command: registers one module per subcommand, nothing else.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from pipeline.errors import error_line

COMMANDS = ("code", "train", "evaluate", "export", "import", "refresh", "history", "schedule", "review", "labels",
            "corpus", "agree")
DESCRIPTION = ("Code interview transcripts into per-company internationalization-capacity profiles "
               "(networks, entrepreneurship, absorptive capacity, prior knowledge), offline.")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("intcap")
    except PackageNotFoundError:
        ver = "unknown"
    parser = argparse.ArgumentParser(prog="intcap", description=DESCRIPTION,
                                     epilog="Run `intcap COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"intcap {ver}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full traceback (and Prefect's own log) as well as the one-line "
                             "message (also accepted after the command)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"intcap.cli.{name}_cmd")
        module.add_parser(sub).set_defaults(handler=module.run)
    return parser


def offline_environment() -> None:
    """Weights come from installed packages only; keep hub clients offline and quiet."""
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; --debug is accepted after the command too (``intcap code ... --debug``)."""
    args, extra = parser.parse_known_args(argv)
    if "--debug" in extra:
        args.debug = True
        extra = [a for a in extra if a != "--debug"]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    args = parse_args(build_parser(), argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("intcap: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends as one line; --debug adds the traceback
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        print(f"intcap: error: {error_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
