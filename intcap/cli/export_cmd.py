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
    p.add_argument("--positions", choices=("codepoints", "utf16"), default="codepoints",
                   help="count selection positions in Unicode code points (the standard; default) or in "
                        "UTF-16 code units (as NVivo does; spans differ after every emoji)")
    p.add_argument("--db", default=None,
                   help="label database whose reviewed answers to add as the reviewers' codings "
                        "(SQLite path or SQLAlchemy URL; default: labels.sqlite in the results folder, if any)")
    p.add_argument("--corpus-name", default=None,
                   help="the corpus the answers are filed under (default: the results folder's name)")
    return p


def run(args) -> int:
    from pipeline.refi import run_export

    print(run_export(args.out_dir, args.qdpx, args.qdc, positions=args.positions, db=args.db,
                     corpus=args.corpus_name))
    return 0
