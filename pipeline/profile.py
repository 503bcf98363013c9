"""Aggregate codings into per-company capacity profiles.

Per code: coverage (share of the company's coded passages carrying it), strength
(valence- and confidence-weighted: each assigned passage adds p * (P(+) - P(-)),
divided by a normaliser of the company's passage count n: ``sqrt(n)`` by default,
between a share (/n, which penalises firms that were simply interviewed at length)
and a raw count (/1, which rewards them); see ``STRENGTH_NORMS``), counts by valence,
and the top evidence.
The primary focus follows the thesis's P7 grouping: the component a firm relies on
most, relative to how common that component is in the training corpus, or
``balanced`` when networks, entrepreneurship and absorptive capacity stand level.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.records import CODES, CodeProfile, Coding, Profile

FOCUS_OF = {"NET": "network", "ABS": "absorptive_capacity", "ENT": "entrepreneurship"}

#: how a company's summed evidence is normalised by its passage count n
STRENGTH_NORMS = {
    "share": lambda n: n,
    "sqrt": lambda n: math.sqrt(n),
    "count": lambda n: 1.0,
}


@dataclass
class ProfileSettings:
    """How profiles are summarised.

    base_rates: share of training passages carrying each code; a code's weight in the
        focus decision is its positive coverage divided by this (rare codes count more).
    balance_ratio: if the runner-up component reaches this share of the leader's relative
        score (and at least two components are present), the firm is "balanced".
    top_evidence: evidence passages kept per code.
    strength_norm: key of STRENGTH_NORMS (chosen on the training firms' gold codings;
        ``intcap evaluate`` re-selects it inside its leave-one-company-out loop).
    """

    base_rates: dict[str, float] = field(default_factory=lambda: {c: 0.25 for c in CODES})
    balance_ratio: float = 0.8
    top_evidence: int = 3
    strength_norm: str = "sqrt"

    @classmethod
    def from_manifest(cls, manifest: dict) -> "ProfileSettings":
        """Defaults, with the base rates of the model's training data when its manifest has them."""
        settings = cls()
        if manifest.get("base_rates"):
            settings.base_rates = dict(manifest["base_rates"])
        return settings


def code_profile(codings: list[Coding], code: str, top: int, norm: str = "sqrt") -> CodeProfile:
    n = max(len(codings), 1)
    with_code = [c for c in codings if code in c.assigned]
    by_valence = defaultdict(int)
    strength = 0.0
    for c in with_code:
        score = c.codes[code]
        by_valence[score.valence] += 1
        strength += score.p * (score.valence_p.get("+", 0.0) - score.valence_p.get("-", 0.0))
    evidence = sorted(with_code, key=lambda c: -c.codes[code].p)[:top]
    return CodeProfile(
        coverage=round(len(with_code) / n, 4), strength=round(strength / STRENGTH_NORMS[norm](n), 4), count=len(with_code),
        positive=by_valence["+"], negative=by_valence["-"], neutral=by_valence["0"],
        evidence=[c.passage.id for c in evidence],
    )


def primary_focus(codes: dict[str, CodeProfile], settings: ProfileSettings) -> str:
    """The P7 grouping: the dominant component, or balanced when the top two are level."""
    relative = {
        c: max(cp.positive, 0) / max(sum((cp.positive, cp.negative, cp.neutral)), 1) * cp.coverage
        / max(settings.base_rates.get(c, 0.25), 1e-6)
        for c, cp in codes.items() if c in FOCUS_OF
    }
    ranked = sorted(relative, key=relative.get, reverse=True)
    top, second = relative[ranked[0]], relative[ranked[1]]
    if top > 0 and second >= settings.balance_ratio * top:
        return "balanced"
    return FOCUS_OF[ranked[0]]


def build_profiles(codings: Iterable[Coding], settings: ProfileSettings | None = None) -> list[Profile]:
    """One Profile per company, in order of first appearance."""
    settings = settings or ProfileSettings()
    by_company: dict[str, list[Coding]] = defaultdict(list)
    for coding in codings:
        by_company[coding.passage.company].append(coding)
    profiles = []
    for company, items in by_company.items():
        codes = {code: code_profile(items, code, settings.top_evidence, settings.strength_norm) for code in CODES}
        profiles.append(Profile(company, len(items), codes, primary_focus(codes, settings)))
    return profiles
