"""Options shared by several commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import paths


def add_model_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, default=paths.DEFAULT_MODEL,
                        help="trained model directory (default: models/default; built by `intcap train`)")
