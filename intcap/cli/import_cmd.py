"""intcap import: hand coding from a REFI-QDA project (.qdpx) as training examples, or a codebook (.qdc) report."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("import", help="import hand coding from NVivo/ATLAS.ti/MAXQDA/QualCoder (REFI-QDA)",
                       description=__doc__)
    p.add_argument("--qdpx", type=Path, help="project file to read")
    p.add_argument("--qdc", type=Path, help="codebook file to read")
    p.add_argument("--map", dest="mapping", type=Path, help="CSV/JSON mapping their code names to NET/ENT/ABS/PRI")
    p.add_argument("--sources-dir", type=Path, default=None,
                   help="folder that sources stored outside the .qdpx may be read from (default: only the archive)")
    p.add_argument("--include-machine", action="store_true",
                   help="also import codings by intcap model users (default: skip them and say how many)")
    p.add_argument("--positions", choices=("auto", "codepoints", "utf16"), default="auto",
                   help="how the project counts positions (default auto: UTF-16 units for NVivo and for "
                        "intcap exports made with --positions utf16, code points otherwise)")
    p.add_argument("--out", type=Path, help="hand-coded examples JSONL to write (for `intcap train --examples`)")
    return p


def run(args) -> int:
    from pipeline.refi import run_import

    print(run_import(args.qdpx, args.qdc, args.mapping, args.out, args.sources_dir,
                     include_machine=args.include_machine, positions=args.positions))
    return 0
