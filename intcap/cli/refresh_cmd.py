"""intcap refresh CORPUS_DIR: bring the results database up to date with a corpus folder.

New and changed transcripts are coded, unchanged ones skipped, removed ones marked;
a new model version re-codes everything, a changed --interviewer the files it applies
to. A refresh that was killed resumes where it stopped. With --out, the usual results
(passages, profiles, report with each company's profile across runs) are written too.
"""
from __future__ import annotations

import sys
from pathlib import Path

from intcap.cli.options import add_interviewer, add_model_dir, report_failures, status


def add_db(parser) -> None:
    parser.add_argument("--db", default=None, metavar="URL",
                        help="results database: an SQLite file path or an SQLAlchemy URL, e.g. "
                             "postgresql+psycopg://user@host/intcap (default: $INTCAP_DB or ./intcap.db)")


def add_parser(sub):
    p = sub.add_parser("refresh", help="code new/changed transcripts into the results database",
                       description=__doc__)
    p.add_argument("corpus", type=Path, metavar="CORPUS_DIR", help="folder of transcripts")
    add_db(p)
    p.add_argument("--out", type=Path, default=None, help="also write passages, profiles and the report here")
    add_model_dir(p)
    add_interviewer(p)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--workers", type=int, default=None, metavar="N",
                       help="code on a local Dask cluster of N worker processes")
    scale.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT",
                       help="code on an existing Dask cluster (see docs/SCHEDULING.md)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="files per coding batch (default: 16; on Dask, batches sized to the workers by file size)")
    p.add_argument("--no-prefect", action="store_true", help="run without a Prefect flow (no --workers)")
    return p


def run(args) -> int:
    status("comparing the corpus with the results database ..." if args.no_prefect
           else "starting Prefect and loading the model ...")
    from flows.run import run_refresh

    s = run_refresh(args.corpus, db=args.db, out_dir=args.out, model_dir=args.model_dir, workers=args.workers,
                    dask_address=args.dask_address, batch_size=args.batch_size, interviewer=args.interviewer,
                    use_prefect=not args.no_prefect, debug=args.debug)
    resumed = " (resumed an interrupted run)" if s["resumed"] else ""
    print(f"run {s['run_id']}{resumed}: {s['added']} added, {s['changed']} changed, {s['recoded']} re-coded, "
          f"{s['removed']} removed, {s['unchanged']} unchanged, {s['failed']} failed; "
          f"{s['passages_coded']} passages coded, {s['passages']} stored, {s['companies']} companies "
          f"(model {s['model_version']}, {s['db']})")
    for warning in s.get("warnings", []):
        print(f"intcap: warning: {warning}", file=sys.stderr)
    if args.out:
        print(f"results in {args.out}")
    return report_failures(s["failures"], "the others are up to date.")
