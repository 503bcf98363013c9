"""Company profiles across refresh runs as a text table (``intcap history``); the report's
charts of them are in ``pipeline.report_history``."""
from __future__ import annotations

from pipeline.errors import IntcapError
from pipeline.records import CODES
from pipeline.store import Store


def company_history(store: Store, company: str) -> list[dict]:
    """The company's profile in every successful run; a clear error for an unknown company."""
    rows = store.history(company)
    if rows:
        return rows
    known = store.companies()
    matches = [c for c in known if c.lower() == company.lower()]
    if len(matches) == 1:
        return store.history(matches[0])
    if not known:
        raise IntcapError(f"{store.name}: no profiles stored yet; run `intcap refresh CORPUS_DIR --db ...` first")
    close = [c for c in known if company.lower() in c.lower()]
    shown = ", ".join((close or known)[:20]) + (" ..." if len(close or known) > 20 else "")
    raise IntcapError(f"no company {company!r} in {store.name}; {'did you mean' if close else 'known'}: {shown}")


def format_history(rows: list[dict]) -> str:
    """One line per run: when, model, passages, focus, coverage/strength per code."""
    header = ["run", "finished", "model", "passages", "focus"] + [f"{c} cov/str" for c in CODES]
    table = [header]
    for r in rows:
        p = r["profile"]
        table.append([str(r["run_id"]), (r["finished"] or "")[:16].replace("T", " "), r["model_version"],
                      str(p["n_passages"]), p["primary_focus"]] +
                     [f"{p['codes'][c]['coverage']:.2f}/{p['codes'][c]['strength']:+.2f}" for c in CODES])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 5 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
