"""intcap code CORPUS --out DIR: code transcripts into passages, profiles and a report."""
from __future__ import annotations

import sys
from pathlib import Path

from intcap.cli.options import add_interviewer, add_model_dir, report_failures, status


def add_parser(sub):
    p = sub.add_parser("code", help="code a folder (or file) of transcripts", description=__doc__)
    p.add_argument("corpus", type=Path, help="folder of transcripts, or one transcript file")
    p.add_argument("--out", type=Path, required=True, help="results folder (created)")
    add_model_dir(p)
    add_interviewer(p)
    p.add_argument("--batch-size", type=int, default=16, help="transcripts per batch (default 16)")
    p.add_argument("--no-prefect", action="store_true", help="run the stages directly, without a Prefect flow")
    return p


def run(args) -> int:
    status("loading the model ..." if args.no_prefect else "starting Prefect and loading the model ...")
    from flows.run import run_coding

    summary = run_coding(args.corpus, args.out, args.model_dir, batch_size=args.batch_size,
                         interviewer=args.interviewer, use_prefect=not args.no_prefect,
                         show_progress=sys.stderr.isatty(), debug=args.debug)
    print(f"coded {summary['passages']} passages from {summary['transcripts']} transcripts "
          f"({summary['companies']} companies) into {args.out}")
    rest = "the others were coded." if summary["transcripts"] else "nothing was coded."
    return report_failures(summary["failures"], rest)
