"""The report's firms x codes heat map (coverage and strength) and its colour scales.

Cells are plain table cells with a background colour and the value written in them, so
the map prints, reads without colour and needs no script.
"""
from __future__ import annotations

import math
from html import escape

from pipeline.records import CODES, Profile

#: sequential (coverage) and diverging (strength; brown lacking, teal shown) ramps, colour-blind safe
COVERAGE_RAMP = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]
STRENGTH_RAMP = ["#8c510a", "#d8b365", "#f5f5f5", "#5ab4ac", "#01665e"]


def nice_ceiling(value: float, floor: float = 0.1) -> float:
    """The value rounded up to one decimal (at least ``floor``): the end of a scale that clips nothing."""
    return max(floor, math.ceil(round(value, 6) * 10) / 10)


def strength_scale(profiles: list[Profile]) -> float:
    """The largest |strength| of any firm and code, rounded up: strength bars and colours share it."""
    return nice_ceiling(max((abs(cp.strength) for p in profiles for cp in p.codes.values()), default=0.0))


def coverage_scale(profiles: list[Profile]) -> float:
    return min(1.0, nice_ceiling(max((cp.coverage for p in profiles for cp in p.codes.values()), default=0.0)))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def ramp_colour(ramp: list[str], t: float) -> str:
    """The colour at ``t`` in [0, 1] along ``ramp``, interpolated in RGB."""
    t = min(max(t, 0.0), 1.0) * (len(ramp) - 1)
    i = min(int(t), len(ramp) - 2)
    a, b = _rgb(ramp[i]), _rgb(ramp[i + 1])
    mix = [round(x + (y - x) * (t - i)) for x, y in zip(a, b)]
    return "#" + "".join(f"{v:02x}" for v in mix)


def ink_on(background: str) -> str:
    """Black or white text, whichever reads on ``background``."""
    r, g, b = (v / 255 for v in _rgb(background))
    return "#fff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5 else "#111"


def _cell(value: float, colour: str, text: str, label: str) -> str:
    return (f'<td class="heat-cell" data-v="{value:.4f}" title="{escape(label)}" '
            f'style="background:{colour};color:{ink_on(colour)}">{text}</td>')


def legend(title: str, ramp: list[str], lo: float, hi: float) -> str:
    """A colour strip from ``lo`` to ``hi`` (a diverging scale is labelled with signs and its 0)."""
    fmt = "{:+.1f}" if lo < 0 else "{:.1f}"
    mid = '<span class="ramp-mid">0</span>' if lo < 0 else ""
    return (f'<div class="ramp-legend"><span class="ramp-title">{escape(title)}</span>'
            f'<span class="ramp-end">{fmt.format(lo)}</span>'
            f'<span class="ramp" style="background:linear-gradient(to right, {", ".join(ramp)})">{mid}</span>'
            f'<span class="ramp-end">{fmt.format(hi)}</span></div>')


def heat_map(profiles: list[Profile], code_titles: dict[str, str], anchor) -> str:
    """One row per firm: coverage of each code, then strength, coloured on scales that fit every value."""
    cov_max, str_max = coverage_scale(profiles), strength_scale(profiles)
    heads = "".join(f'<th scope="col" title="{escape(code_titles.get(c, c))}">{c}</th>' for c in CODES)
    rows = []
    for p in profiles:
        cells = [_cell(p.codes[c].coverage, ramp_colour(COVERAGE_RAMP, p.codes[c].coverage / cov_max),
                       f"{p.codes[c].coverage:.2f}", f"{p.company}: {c} coverage {p.codes[c].coverage:.2f}")
                 for c in CODES]
        cells += [_cell(p.codes[c].strength, ramp_colour(STRENGTH_RAMP, 0.5 + p.codes[c].strength / (2 * str_max)),
                        f"{p.codes[c].strength:+.2f}", f"{p.company}: {c} strength {p.codes[c].strength:+.2f}")
                  for c in CODES]
        rows.append(f'<tr><th scope="row"><a href="#{escape(anchor(p.company))}">{escape(p.company)}</a></th>'
                    f'{"".join(cells)}</tr>')
    return (
        '<div class="tablewrap"><table class="heat" id="heat-map">'
        '<thead><tr><th rowspan="2" scope="col">firm</th>'
        f'<th colspan="{len(CODES)}" scope="colgroup" class="group">coverage</th>'
        f'<th colspan="{len(CODES)}" scope="colgroup" class="group">strength</th></tr>'
        f"<tr>{heads}{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f'<div class="legends">{legend("coverage", COVERAGE_RAMP, 0.0, cov_max)}'
        f'{legend("strength", STRENGTH_RAMP, -str_max, str_max)}</div>'
    )
