"""intcap history COMPANY: a company's profile in every refresh run, as a table."""
from __future__ import annotations

from intcap.cli.refresh_cmd import add_db


def add_parser(sub):
    p = sub.add_parser("history", help="a company's profile across refresh runs", description=__doc__)
    p.add_argument("company", help="company name (as in the profiles; case-insensitive if unambiguous)")
    add_db(p)
    return p


def run(args) -> int:
    from pipeline.history import company_history, format_history
    from pipeline.store import open_store

    with open_store(args.db, create=False) as store:
        rows = company_history(store, args.company)
    print(f"{rows[0]['company']}: {len(rows)} run(s); coverage/strength per code")
    print(format_history(rows))
    return 0
