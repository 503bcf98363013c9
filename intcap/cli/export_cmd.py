"""intcap export: coded results as a REFI-QDA project (.qdpx) and/or the codebook (.qdc)."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("export", help="export results to NVivo/ATLAS.ti/MAXQDA/QualCoder (REFI-QDA)",
                       description=__doc__)
    p.add_argument("--qdpx", type=Path, help="project file to write")
    p.add_argument("--qdc", type=Path, help="codebook file to write")
    p.add_argument("--from", dest="out_dir", type=Path, default=Path("out"),
                   help="results folder written by `intcap code` (default: out/)")
    return p


def run(args) -> int:
    from pipeline.refi import run_export

    print(run_export(args.out_dir, args.qdpx, args.qdc))
    return 0
