"""A self-contained HTML report: one card per company with a bar chart and evidence quotes.

No scripts, fonts or images are fetched: charts are inline SVG, styles inline, and
every piece of transcript text is HTML-escaped.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from pipeline.outputs import atomic_open
from pipeline.records import CODES, Coding, Profile

CODE_NAMES = {"NET": "Networks", "ENT": "Entrepreneurship", "ABS": "Absorptive capacity", "PRI": "Prior knowledge"}
COLOURS = {"NET": "#3b6ea5", "ENT": "#c4572f", "ABS": "#4c9a52", "PRI": "#8a5fb0"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
.card{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}
.focus{font-weight:600}
mark{background:#fff3a8}
blockquote{margin:.4rem 0 .4rem 1rem;padding-left:.6rem;border-left:3px solid #ddd;font-size:.92rem}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}.muted{color:#777;font-size:.85rem}
"""


def bar_chart(profile: Profile) -> str:
    """Coverage (full bar) and strength (inner bar) per code, as inline SVG."""
    width, row = 360, 26
    parts = [f'<svg role="img" aria-label="profile of {escape(profile.company)}" width="{width + 230}" '
             f'height="{row * len(CODES) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, code in enumerate(CODES):
        cp = profile.codes[code]
        y = 5 + i * row
        cov = max(cp.coverage, 0.0) * width
        strength = max(-1.0, min(cp.strength, 1.0)) * width  # sqrt-normalised strength can pass 1
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{code}</text>')
        parts.append(f'<rect x="40" y="{y}" width="{cov:.1f}" height="18" fill="{COLOURS[code]}" opacity="0.35"/>')
        # negative strength (a lacking or reactive capability) is drawn grey, same direction
        fill = COLOURS[code] if strength >= 0 else "#888"
        parts.append(f'<rect x="40" y="{y + 5}" width="{abs(strength):.1f}" height="8" fill="{fill}"/>')
        parts.append(f'<text x="{width + 50}" y="{y + 15}" font-size="11">cov {cp.coverage:.2f} · str {cp.strength:+.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def highlighted(coding: Coding, code: str) -> str:
    """The passage text, escaped, with the code's evidence sentence marked when known."""
    text, p = coding.passage.text, coding.passage
    span = coding.evidence.get(code)
    if not span or not (p.start <= span[0] < span[1] <= p.end):
        return escape(text)
    a, b = span[0] - p.start, span[1] - p.start
    return f"{escape(text[:a])}<mark>{escape(text[a:b])}</mark>{escape(text[b:])}"


def summary_table(profiles: list[Profile]) -> str:
    head = "".join(f"<th>{c} cov</th><th>{c} str</th>" for c in CODES)
    rows = "".join(
        f'<tr><td><a href="#{escape(anchor(p.company))}">{escape(p.company)}</a></td><td>{p.n_passages}</td>'
        f"<td>{escape(p.primary_focus.replace('_', ' '))}</td>"
        + "".join(f"<td>{p.codes[c].coverage:.2f}</td><td>{p.codes[c].strength:+.2f}</td>" for c in CODES) + "</tr>"
        for p in profiles
    )
    return f"<table><tr><th>company</th><th>passages</th><th>primary focus</th>{head}</tr>{rows}</table>"


def anchor(company: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() else "-" for ch in company.lower())


def company_card(profile: Profile, by_id: dict[str, Coding]) -> str:
    rows = "".join(
        f"<tr><td>{CODE_NAMES[c]}</td><td>{cp.count}</td><td>{cp.positive}</td><td>{cp.negative}</td>"
        f"<td>{cp.neutral}</td><td>{cp.coverage:.2f}</td><td>{cp.strength:+.2f}</td></tr>"
        for c, cp in profile.codes.items()
    )
    quotes = []
    for code, cp in profile.codes.items():
        for pid in cp.evidence:
            coding = by_id.get(pid)
            if coding is None:
                continue
            score = coding.codes[code]
            quotes.append(f'<blockquote><b>{code} {escape(score.valence)}</b> <span class="muted">p={score.p:.2f} · '
                          f'{escape(pid)}</span><br>{highlighted(coding, code)}</blockquote>')
    return (
        f'<section class="card" id="{escape(anchor(profile.company))}"><h2>{escape(profile.company)}</h2>'
        f'<p>Primary focus: <span class="focus">{escape(profile.primary_focus.replace("_", " "))}</span> · '
        f'{profile.n_passages} coded passages</p>{bar_chart(profile)}'
        f"<table><tr><th>code</th><th>passages</th><th>+</th><th>−</th><th>0</th><th>coverage</th><th>strength</th></tr>"
        f"{rows}</table><h3>Evidence</h3>{''.join(quotes) or '<p class=muted>none</p>'}</section>"
    )


def render_report(profiles: list[Profile], codings: list[Coding], *, title: str = "intcap report",
                  model_version: str = "", extra_sections: list[str] = (), n_passages: int | None = None) -> str:
    """``codings`` need only hold the evidence passages when ``n_passages`` gives the total."""
    by_id = {c.passage.id: c for c in codings}
    n_passages = len(by_id) if n_passages is None else n_passages
    cards = "".join(company_card(p, by_id) for p in profiles)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f'<p class="muted">{len(profiles)} companies · {n_passages} coded passages · model {escape(model_version)}. '
        "Bars: coverage (light) and valence-weighted strength (dark; grey when negative) per code.</p>"
        f"{summary_table(profiles)}{''.join(extra_sections)}{cards}</body></html>"
    )


def write_report(path: Path, html: str) -> None:
    with atomic_open(path, encoding="utf-8") as fh:
        fh.write(html)
