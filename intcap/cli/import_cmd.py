"""intcap import: hand coding from a REFI-QDA project (.qdpx) as training examples, or a codebook (.qdc) report.

Without --map, their codes map by name ("NET", "NET +", "Networks", "Prior knowledge -");
a project whose codes match none of those is an error that names the codes and shows
how to write the mapping.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pipeline.errors import ImportExportError

MAP_HOWTO = ("write a mapping file with one row per code, `their code,TARGET` (TARGET: NET, ENT, ABS or PRI, "
             "optionally with a valence + - 0; empty ignores the code), e.g. a map.csv with the row "
             "`{example},NET +`, and pass --map map.csv (docs/REFI-QDA.md)")
_LISTED = 8


def add_parser(sub):
    p = sub.add_parser("import", help="import hand coding from NVivo/ATLAS.ti/MAXQDA/QualCoder (REFI-QDA)",
                       description=__doc__)
    p.add_argument("--qdpx", type=Path, help="project file to read")
    p.add_argument("--qdc", type=Path, help="codebook file to read")
    p.add_argument("--map", dest="mapping", type=Path,
                   help="CSV/JSON mapping their code names to NET/ENT/ABS/PRI (default: map codes by name)")
    p.add_argument("--sources-dir", type=Path, default=None,
                   help="folder that sources stored outside the .qdpx may be read from (default: only the archive)")
    p.add_argument("--include-machine", action="store_true",
                   help="also import codings by intcap model users (default: skip them and say how many)")
    p.add_argument("--positions", choices=("auto", "codepoints", "utf16"), default="auto",
                   help="how the project counts positions (default auto: UTF-16 units for NVivo and for "
                        "intcap exports made with --positions utf16, code points otherwise)")
    p.add_argument("--out", type=Path, help="hand-coded examples JSONL to write (for `intcap train --examples`)")
    return p


def unmapped_list(unmapped: dict[str, int]) -> str:
    by_count = sorted(unmapped.items(), key=lambda kv: (-kv[1], kv[0]))
    names = ", ".join(f"'{name}' ({n})" for name, n in by_count[:_LISTED])
    return names + (f" and {len(by_count) - _LISTED} more" if len(by_count) > _LISTED else "")


def check_codes_map_by_name(args) -> None:
    """Without --map: an error when no coding's code maps by name, a note naming those that do not."""
    from pipeline.refi import import_qdpx

    result = import_qdpx(args.qdpx, None, offsets=args.positions, sources_dir=args.sources_dir,
                         include_machine=args.include_machine)
    if not result.unmapped:
        return
    howto = MAP_HOWTO.format(example=max(result.unmapped, key=result.unmapped.get))
    if not result.examples:
        raise ImportExportError(f"{args.qdpx}: no code of this project maps onto NET/ENT/ABS/PRI by its name, so "
                                f"nothing would be imported (its codes, with their numbers of codings: "
                                f"{unmapped_list(result.unmapped)}); {howto}")
    print(f"intcap: note: codings under codes whose names match none of NET/ENT/ABS/PRI are left out: "
          f"{unmapped_list(result.unmapped)}; to import them, {howto}", file=sys.stderr)


def run(args) -> int:
    from pipeline.refi import run_import

    if args.qdpx is not None and args.mapping is None:
        check_codes_map_by_name(args)
    print(run_import(args.qdpx, args.qdc, args.mapping, args.out, args.sources_dir,
                     include_machine=args.include_machine, positions=args.positions))
    return 0
