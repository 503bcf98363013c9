"""intcap schedule CORPUS_DIR --cron "0 3 * * *": refresh the corpus on a schedule.

Registers (or updates) a Prefect deployment of the refresh flow with that cron
schedule on a Prefect server; a `prefect worker` process runs the refreshes.
Set-up, start and stop: docs/SCHEDULING.md.
"""
from __future__ import annotations

from pathlib import Path

from intcap.cli.options import add_interviewer, add_model_dir
from intcap.cli.refresh_cmd import add_db


def add_parser(sub):
    p = sub.add_parser("schedule", help="register a scheduled refresh on a Prefect server", description=__doc__)
    p.add_argument("corpus", type=Path, metavar="CORPUS_DIR", help="folder of transcripts")
    p.add_argument("--cron", required=True, help='cron schedule, e.g. "0 3 * * *" (03:00 every day)')
    p.add_argument("--timezone", default=None, help="IANA time zone of the schedule (default UTC)")
    add_db(p)
    p.add_argument("--out", type=Path, default=None, help="also write the results folder on every run")
    add_model_dir(p)
    add_interviewer(p)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--workers", type=int, default=None, metavar="N", help="local Dask cluster of N workers")
    scale.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT", help="existing Dask cluster")
    p.add_argument("--api-url", default=None, metavar="URL",
                   help="Prefect server API, e.g. http://127.0.0.1:4200/api (default: $PREFECT_API_URL)")
    p.add_argument("--pool", default="intcap", help="process work pool (created if missing; default intcap)")
    p.add_argument("--name", default=None, help="deployment name (default refresh-<folder name>)")
    return p


def run(args) -> int:
    from flows.schedule import schedule_refresh, worker_command

    d = schedule_refresh(args.corpus, args.cron, db=args.db, out_dir=args.out, model_dir=args.model_dir,
                         workers=args.workers, dask_address=args.dask_address, api_url=args.api_url,
                         pool=args.pool, name=args.name, timezone=args.timezone, interviewer=args.interviewer)
    print(f"scheduled {d['name']} ({d['cron']} {d['timezone']}) on {d['api_url']}, work pool {d['pool']}")
    print(f"  corpus {d['parameters']['corpus']} -> {d['parameters']['db']}")
    print("runs happen while a worker is running:")
    print(f"  PREFECT_API_URL={d['api_url']} {worker_command(d['pool'])}")
    return 0
