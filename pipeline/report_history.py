"""The report's "Profiles across runs" section: line charts per firm, legible when lines meet.

Every chart shares one run axis, so a firm removed from the corpus visibly stops (and is
labelled removed) while the others go on. Each code has its own marker shape and line
width, drawn widest first, and markers of one run sit side by side: four equal lines show
as four nested stripes and four markers, not one line.
"""
from __future__ import annotations

from html import escape

from pipeline.records import CODES
from pipeline.report import CODE_NAMES, COLOURS
from pipeline.report_heatmap import nice_ceiling
from pipeline.store import Store

#: runs shown (the most recent)
CHART_RUNS = 20
WIDTHS = {"NET": 6.5, "ENT": 4.5, "ABS": 2.8, "PRI": 1.4}
#: ABS dashed, so that over an equal ENT or under an equal PRI it still shows
DASHES = {"ABS": "7 3"}
#: horizontal offset of each code's markers (px), so equal values sit side by side
OFFSETS = {c: (i - (len(CODES) - 1) / 2) * 5 for i, c in enumerate(CODES)}


def marker(code: str, x: float, y: float, size: float = 4.5, title: str = "") -> str:
    """NET circle, ENT square, ABS triangle, PRI diamond (white-edged so overlaps stay readable)."""
    colour, s = COLOURS[code], size
    tip = f"<title>{escape(title)}</title>" if title else ""
    edge = f'fill="{colour}" stroke="#fff" stroke-width="1"'
    if code == "NET":
        return f'<circle class="marker" cx="{x:.1f}" cy="{y:.1f}" r="{s:.1f}" {edge}>{tip}</circle>'
    if code == "ENT":
        return (f'<rect class="marker" x="{x - s * .85:.1f}" y="{y - s * .85:.1f}" width="{s * 1.7:.1f}" '
                f'height="{s * 1.7:.1f}" {edge}>{tip}</rect>')
    if code == "ABS":
        points = f"{x:.1f},{y - s * 1.1:.1f} {x + s:.1f},{y + s * .8:.1f} {x - s:.1f},{y + s * .8:.1f}"
    else:
        points = f"{x:.1f},{y - s * 1.15:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s * 1.15:.1f} {x - s:.1f},{y:.1f}"
    return f'<polygon class="marker" points="{points}" {edge}>{tip}</polygon>'


def dash(code: str) -> str:
    return f' stroke-dasharray="{DASHES[code]}"' if code in DASHES else ""


def line_chart(company: str, items: list[dict], runs: list[int], metric: str, *,
               width: int = 440, height: int = 200) -> str:
    """One line per code over ``runs`` (the shared axis); a firm missing from the last run is marked removed."""
    left, right, top, bottom = 46, 14, 22, 30
    w, h = width - left - right, height - top - bottom
    at = {r["run_id"]: r["profile"]["codes"] for r in items}
    flat = [codes[c][metric] for codes in at.values() for c in CODES] or [0.0]
    if metric == "coverage":
        lo, hi = 0.0, min(1.0, nice_ceiling(max(flat)))
    else:
        hi = nice_ceiling(max(abs(v) for v in flat))
        lo = -hi
    n = len(runs)

    pad = 12  # keeps the side-by-side markers of the first and last run off the axes

    def x(i: int) -> float:
        return left + (w / 2 if n == 1 else pad + i * (w - 2 * pad) / (n - 1))

    def y(v: float) -> float:
        return top + h - (v - lo) / (hi - lo) * h

    parts = [f'<svg class="history" role="img" aria-label="{escape(metric)} of {escape(company)} across runs" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{left + w / 2:.1f}" y="13" font-size="12" font-weight="600" text-anchor="middle">{escape(metric)}</text>']
    label = "{:+.2f}" if lo < 0 else "{:.2f}"
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{left - 5}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{label.format(v)}</text>')
    if lo < 0:
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>')
    step = max(1, n // 8)
    for i, run in enumerate(runs):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 14}" font-size="11" text-anchor="middle">#{run}</text>')
    parts.append(f'<text x="{left + w}" y="{height - 2}" font-size="10" fill="#666" text-anchor="end">run</text>')
    seen = [i for i, run in enumerate(runs) if run in at]
    for code in CODES:
        pts = [(x(i), y(at[runs[i]][code][metric])) for i in seen]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[code]}" '
                         f'stroke-width="{WIDTHS[code]}" stroke-linejoin="round"{dash(code)}/>')
    for code in CODES:  # markers after every line, so no line covers a marker
        for i in seen:
            v = at[runs[i]][code][metric]
            parts.append(marker(code, x(i) + OFFSETS[code], y(v), title=f"{code} {metric} {v:.3f} (run {runs[i]})"))
    if seen and seen[-1] < n - 1:  # removed: a dashed rule where the firm is no longer in the corpus
        gone = x(seen[-1] + 1)
        parts.append(f'<line class="removed-rule" x1="{gone:.1f}" x2="{gone:.1f}" y1="{top}" y2="{top + h}" '
                     f'stroke="#b00" stroke-dasharray="4 3"/><text x="{gone - 3:.1f}" y="{top + 12}" font-size="11" '
                     f'fill="#b00" text-anchor="end">removed</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    """Each code's marker and line width, as in the charts."""
    items = []
    for code in CODES:
        items.append(f'<span class="history-key"><svg width="34" height="14" aria-hidden="true" '
                     f'xmlns="http://www.w3.org/2000/svg"><line x1="1" x2="33" y1="7" y2="7" stroke="{COLOURS[code]}" '
                     f'stroke-width="{WIDTHS[code]}"{dash(code)}/>{marker(code, 17, 7, 4)}</svg> {code} '
                     f"{escape(CODE_NAMES[code])}</span>")
    return " ".join(items)


def history_section(store: Store, last: int = CHART_RUNS) -> str:
    """Each company's coverage and strength over the recent runs; firms gone from the latest run marked removed."""
    rows = store.history(last=last)
    if not rows:
        return ""
    by_company: dict[str, list[dict]] = {}
    for r in rows:
        by_company.setdefault(r["company"], []).append(r)
    runs = sorted({r["run_id"] for r in rows})
    blocks = []
    for company, items in by_company.items():
        last_seen = max(r["run_id"] for r in items)
        removed = last_seen != runs[-1]
        note = (f' <span class="removed-note">removed from the corpus (last coded in run #{last_seen})</span>'
                if removed else "")
        blocks.append(f'<div class="history-firm{" removed" if removed else ""}" data-company="{escape(company)}">'
                      f"<h3>{escape(company)}{note}</h3><div class=\"history-charts\">"
                      f'{line_chart(company, items, runs, "coverage")}{line_chart(company, items, runs, "strength")}'
                      "</div></div>")
    return (f'<section class="panel" id="history"><h2>Profiles across runs</h2><p class="muted">{len(runs)} run(s) '
            f'(#{runs[0]}&ndash;#{runs[-1]}) from {escape(store.name)}. Hover a marker for its value.</p>'
            f'<p class="history-legend">{legend()}</p>{"".join(blocks)}</section>')
