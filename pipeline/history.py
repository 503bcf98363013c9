"""Company profiles across refresh runs: a text table (``intcap history``) and inline SVG
line charts for the report (no scripts, nothing fetched)."""
from __future__ import annotations

from html import escape

from pipeline.errors import IntcapError
from pipeline.records import CODES
from pipeline.report import CODE_NAMES, COLOURS
from pipeline.store import Store

#: runs shown in the report's charts (the most recent); the table shows all
CHART_RUNS = 20


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


def line_chart(company: str, rows: list[dict], metric: str = "coverage", *, width: int = 360,
               height: int = 150) -> str:
    """One line per code across runs, as inline SVG; points carry a <title> with the value."""
    left, right, top, bottom = 42, 10, 10, 28
    w, h = width - left - right, height - top - bottom
    values = {c: [r["profile"]["codes"][c][metric] for r in rows] for c in CODES}
    flat = [v for vs in values.values() for v in vs] or [0.0]
    if metric == "coverage":
        lo, hi = 0.0, max(0.1, round(max(flat) + 0.05, 1))
    else:
        bound = max(0.05, round(max(abs(v) for v in flat) + 0.05, 1))
        lo, hi = -bound, bound
    n = len(rows)

    def x(i: int) -> float:
        return left + (w / 2 if n == 1 else i * w / (n - 1))

    def y(v: float) -> float:
        return top + h - (v - lo) / (hi - lo) * h

    parts = [f'<svg role="img" aria-label="{escape(metric)} of {escape(company)} across runs" width="{width}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>']
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    if lo < 0:
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#ddd"/>')
    step = max(1, n // 8)
    for i, r in enumerate(rows):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 12}" font-size="10" text-anchor="middle">'
                         f'#{r["run_id"]}</text>')
    for code in CODES:
        pts = [(x(i), y(v)) for i, v in enumerate(values[code])]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[code]}" stroke-width="2"/>')
        for (px, py), r, v in zip(pts, rows, values[code]):
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{COLOURS[code]}"><title>{code} '
                         f'{metric} {v:.3f} (run {r["run_id"]})</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 1}" font-size="10" fill="#777">{escape(metric)} by run</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    return " ".join(f'<span style="color:{COLOURS[c]}">&#9632;</span> {escape(CODE_NAMES[c])}' for c in CODES)


def history_section(store: Store, last: int = CHART_RUNS) -> str:
    """The report section: each company's coverage and strength over the recent runs."""
    rows = store.history(last=last)
    if not rows:
        return ""
    by_company: dict[str, list[dict]] = {}
    for r in rows:
        by_company.setdefault(r["company"], []).append(r)
    runs = sorted({r["run_id"] for r in rows})
    cards = "".join(
        f'<div style="display:inline-block;margin:0 1rem 1rem 0"><h3>{escape(company)}</h3>'
        f'{line_chart(company, items, "coverage")}{line_chart(company, items, "strength")}</div>'
        for company, items in by_company.items()
    )
    return (f'<section class="card"><h2>Profiles across runs</h2><p class="muted">{len(runs)} run(s) '
            f'(#{runs[0]}&ndash;#{runs[-1]}) from {escape(store.name)} · {legend()}</p>{cards}</section>')
