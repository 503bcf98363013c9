"""The ``intcap`` command: registers one module per subcommand, nothing else.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from pipeline.errors import IntcapError

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


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except IntcapError as error:
        print(f"intcap: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("intcap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
