"""Options shared by several commands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline import paths


def add_model_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, default=paths.DEFAULT_MODEL,
                        help="trained model directory (default: models/default; built by `intcap train`)")


def report_failures(failures: list[dict], rest: str) -> int:
    """Name each failed file and its problem on stderr; the exit status says whether any failed."""
    for failure in failures:
        print(f"  FAILED {failure['file']}: {failure['problem']}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} file(s) failed; {rest}", file=sys.stderr)
        return 2
    return 0
