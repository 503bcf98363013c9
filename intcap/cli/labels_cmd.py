"""intcap labels: reviewed labels out of the label store."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("labels", help="export reviewed labels", description=__doc__)
    lsub = p.add_subparsers(dest="labels_command", required=True, metavar="SUBCOMMAND")
    export = lsub.add_parser("export", help="write the latest answer per passage as hand-coded JSONL "
                                            "(for `intcap train --examples`)")
    export.add_argument("out_dir", type=Path, nargs="?", default=None,
                        help="results folder whose labels.sqlite to read (or give --db)")
    export.add_argument("--db", default=None, help="label database: SQLite path or SQLAlchemy URL")
    export.add_argument("--corpus-name", default=None, help="only this corpus (default: every corpus in the store)")
    export.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    return p


def run(args) -> int:
    from pipeline.review.store import LabelStore, suggestion_provenance

    store = LabelStore.open(args.out_dir, args.db)
    try:
        n = store.export_jsonl(args.out, args.corpus_name, suggestion_provenance(args.out_dir))
    finally:
        store.close()
    print(f"wrote {n} label(s) to {args.out}; train with: intcap train --examples {args.out}")
    return 0
