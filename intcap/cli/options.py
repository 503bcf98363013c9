"""Options and messages shared by several commands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline import paths


def add_model_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, default=paths.DEFAULT_MODEL,
                        help="trained model directory (default: models/default; built by `intcap train`)")


def add_interviewer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interviewer", default=None, metavar="NAME",
                        help="the speaker who asks the questions (\"A; B\" for several), where a transcript's "
                             "manifest.csv row names none; beats the guess from who asks questions")


def status(line: str) -> None:
    """Say on stderr what is starting, before the first slow import (the terminal is never silent)."""
    print(f"intcap: {line}", file=sys.stderr, flush=True)


def report_failures(failures: list[dict], rest: str) -> int:
    """One error line per failed file, then the count; the exit status says whether any failed."""
    for failure in failures:
        print(f"intcap: error: {failure['file']}: {failure['problem']}", file=sys.stderr)
    if failures:
        print(f"intcap: {len(failures)} file(s) failed; {rest}", file=sys.stderr)
        return 2
    return 0
