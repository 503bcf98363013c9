"""A self-contained HTML report: heat map, overview, reading notes, and one card per company.

Nothing is fetched: charts are inline SVG or coloured table cells, styles and the one
small script (sorting and filtering, pipeline/report_assets.py) are inline, and every
piece of transcript text is HTML-escaped.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from pipeline import paths
from pipeline.outputs import atomic_open
from pipeline.records import CODES, Coding, Profile
from pipeline.report_assets import SCRIPT, STYLE
from pipeline.report_evidence import evidence_list, filter_bar
from pipeline.report_heatmap import heat_map, strength_scale
from pipeline.report_notes import (EVALUATION, STRENGTH_DEFINITION, agreement_section, code_definitions,
                                   codebook_section, read_codebook, read_evaluation, repo_path)

CODE_NAMES = {"NET": "Networks", "ENT": "Entrepreneurship", "ABS": "Absorptive capacity", "PRI": "Prior knowledge"}
COLOURS = {"NET": "#3b6ea5", "ENT": "#c4572f", "ABS": "#4c9a52", "PRI": "#8a5fb0"}
FOCI = ("network", "entrepreneurship", "absorptive_capacity", "balanced")

#: bar chart geometry (px): coverage runs 0..1 over COV_W; strength runs -S..+S over 2 * STR_HALF
LABEL_W, COV_W, GAP, STR_HALF, ROW = 48, 260, 56, 170, 30


def bar_chart(profile: Profile, scale: float) -> str:
    """Coverage bars (0 to 1) and strength bars (from 0, left when negative) per code, as inline SVG.

    ``scale`` is the largest |strength| in the report, so no bar is clipped and bars compare across cards.
    """
    centre = LABEL_W + COV_W + GAP + STR_HALF
    width, top = centre + STR_HALF + 56, 18
    height = top + ROW * len(CODES) + 18
    parts = [f'<svg class="bars" role="img" aria-label="profile of {escape(profile.company)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{LABEL_W}" y="12" font-size="12" fill="#555">coverage (share of passages)</text>',
             f'<text x="{centre}" y="12" font-size="12" fill="#555" text-anchor="middle">strength</text>',
             f'<line x1="{centre}" x2="{centre}" y1="{top - 2}" y2="{height - 16}" stroke="#999"/>']
    for i, code in enumerate(CODES):
        cp, y = profile.codes[code], top + i * ROW
        cov = max(cp.coverage, 0.0) * COV_W
        strength = abs(cp.strength) / scale * STR_HALF
        x = centre if cp.strength >= 0 else centre - strength
        parts += [
            f'<text x="0" y="{y + 15}" font-size="13">{code}</text>',
            f'<rect x="{LABEL_W}" y="{y}" width="{COV_W}" height="20" fill="#f2f2f2"/>',
            f'<rect class="bar-cov" data-code="{code}" data-value="{cp.coverage:.4f}" x="{LABEL_W}" y="{y}" '
            f'width="{cov:.2f}" height="20" fill="{COLOURS[code]}" opacity="0.55"/>',
            f'<text x="{LABEL_W + cov + 4:.1f}" y="{y + 15}" font-size="12">{cp.coverage:.2f}</text>',
            f'<rect class="bar-str" data-code="{code}" data-value="{cp.strength:.4f}" x="{x:.2f}" y="{y + 2}" '
            f'width="{strength:.2f}" height="16" fill="{COLOURS[code]}"/>',
            f'<text x="{centre + STR_HALF + 8}" y="{y + 15}" font-size="12">{cp.strength:+.2f}</text>',
        ]
    axis = height - 4
    parts += [f'<text x="{LABEL_W}" y="{axis}" font-size="11" fill="#555">0</text>',
              f'<text x="{LABEL_W + COV_W}" y="{axis}" font-size="11" fill="#555" text-anchor="end">1</text>',
              f'<text x="{centre - STR_HALF}" y="{axis}" font-size="11" fill="#555">{-scale:+.1f}</text>',
              f'<text x="{centre}" y="{axis}" font-size="11" fill="#555" text-anchor="middle">0</text>',
              f'<text x="{centre + STR_HALF}" y="{axis}" font-size="11" fill="#555" text-anchor="end">{scale:+.1f}</text>',
              "</svg>"]
    return "".join(parts)


def anchor(company: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() else "-" for ch in company.lower())


def code_head(code: str, titles: dict[str, str], suffix: str = "") -> str:
    return f'<abbr title="{escape(titles.get(code, CODE_NAMES[code]))}">{code}</abbr>{suffix}'


def summary_table(profiles: list[Profile], titles: dict[str, str]) -> str:
    """The overview: sortable by any column (script), filterable by name and focus."""
    def head(label: str, kind: str) -> str:
        return f'<th scope="col" data-type="{kind}"><button type="button">{label}</button></th>'

    heads = [head("company", "text"), head("passages", "num"), head("primary focus", "text")]
    heads += [head(code_head(c, titles, f" {m}"), "num") for c in CODES for m in ("cov", "str")]
    rows = "".join(
        f'<tr data-company="{escape(p.company.lower())}" data-focus="{escape(p.primary_focus)}">'
        f'<td><a href="#{escape(anchor(p.company))}">{escape(p.company)}</a></td>'
        f'<td data-v="{p.n_passages}">{p.n_passages}</td><td>{escape(p.primary_focus.replace("_", " "))}</td>'
        + "".join(f'<td data-v="{p.codes[c].coverage:.4f}">{p.codes[c].coverage:.2f}</td>'
                  f'<td data-v="{p.codes[c].strength:.4f}">{p.codes[c].strength:+.2f}</td>' for c in CODES) + "</tr>"
        for p in profiles
    )
    foci = "".join(f'<option value="{f}">{f.replace("_", " ")}</option>' for f in FOCI)
    controls = ('<form class="controls" id="overview-filter" hidden onsubmit="return false">'
                '<label>company <input id="firm-filter" type="search" autocomplete="off"></label> '
                f'<label>primary focus <select id="focus-filter"><option value="">any</option>{foci}</select></label> '
                '<span id="firm-count" class="muted" aria-live="polite"></span></form>')
    return (f'{controls}<div class="tablewrap"><table id="overview"><thead><tr>{"".join(heads)}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def company_card(profile: Profile, by_id: dict[str, Coding], scale: float, titles: dict[str, str]) -> str:
    rows = "".join(
        f'<tr><td>{code_head(c, titles, " " + escape(CODE_NAMES[c]))}</td><td>{cp.count}</td><td>{cp.positive}</td>'
        f"<td>{cp.negative}</td><td>{cp.neutral}</td><td>{cp.coverage:.2f}</td><td>{cp.strength:+.2f}</td></tr>"
        for c, cp in profile.codes.items()
    )
    return (
        f'<section class="card" id="{escape(anchor(profile.company))}"><h2>{escape(profile.company)}</h2>'
        f'<p>Primary focus: <span class="focus">{escape(profile.primary_focus.replace("_", " "))}</span> · '
        f'{profile.n_passages} coded passages</p>{bar_chart(profile, scale)}'
        f'<div class="tablewrap"><table><tr><th>code</th><th>passages</th><th>+</th><th>−</th><th>0</th>'
        f"<th>coverage</th><th>strength</th></tr>{rows}</table></div>"
        f"<h3>Evidence</h3>{evidence_list(profile, by_id, COLOURS)}</section>"
    )


def render_report(profiles: list[Profile], codings: list[Coding], *, title: str = "intcap report",
                  model_version: str = "", extra_sections: list[str] = (), n_passages: int | None = None,
                  codebook: Path = paths.CODEBOOK, evaluation: Path | None = EVALUATION) -> str:
    """``codings`` need only hold the evidence passages when ``n_passages`` gives the total.

    ``codebook`` and ``evaluation`` are read now, so the report carries the definitions and the
    agreement figures of the day it was built (a missing evaluation file is said as such).
    """
    by_id = {c.passage.id: c for c in codings}
    n_passages = len(by_id) if n_passages is None else n_passages
    book = read_codebook(codebook)
    titles = {c: f"{d['name']}: {d['definition']}" for c, d in code_definitions(book).items()}
    scale = strength_scale(profiles)
    cards = "".join(company_card(p, by_id, scale, titles) for p in profiles)
    nav = ('<nav><a href="#heat">Heat map</a><a href="#overview-section">Overview</a>'
           '<a href="#agreement">How far to trust the codes</a><a href="#codebook">Codebook</a>'
           '<a href="#firms">Firms</a></nav>')
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f'<p class="muted">{len(profiles)} companies · {n_passages} coded passages · model {escape(model_version)}.</p>'
        f"{nav}"
        f'<section class="panel" id="heat"><h2>Heat map: firms × codes</h2>'
        f"<p>Coverage is the share of a firm's coded passages that carry the code. {escape(STRENGTH_DEFINITION)}</p>"
        f"{heat_map(profiles, titles, anchor)}</section>"
        f'<section class="panel" id="overview-section"><h2>Overview</h2>{summary_table(profiles, titles)}</section>'
        f"{agreement_section(read_evaluation(evaluation), evaluation, model_version)}"
        f"{codebook_section(book, COLOURS, CODE_NAMES, repo_path(codebook))}"
        f"{''.join(extra_sections)}"
        f'<h2 id="firms">Firms</h2><p class="muted">Bars: coverage from 0 to 1 (left) and strength from 0 '
        f"(right; to the left of the line when negative), strength on one scale for every firm "
        f"(±{scale:.1f}, the largest in this report). Each evidence passage is shown once with all its codes "
        f"(valence and confidence).</p>{filter_bar()}{cards}"
        f"<script>{SCRIPT}</script></body></html>"
    )


def write_report(path: Path, html: str) -> None:
    """Atomically, with the usual permissions (atomic_open applies outputs.usual_permissions)."""
    with atomic_open(path, encoding="utf-8") as fh:
        fh.write(html)
