"""Profile aggregation on hand-made codings with known answers."""
from __future__ import annotations

import math

import pytest

from pipeline.profile import ProfileSettings, build_profiles
from pipeline.records import CodeScore, Coding, Passage


def coding(pid, company, assigned, valence=None, p=1.0):
    valence = valence or {}
    codes = {}
    for c in ("NET", "ENT", "ABS", "PRI"):
        v = valence.get(c, "+")
        codes[c] = CodeScore(p if c in assigned else 0.1, v, {s: float(s == v) for s in "+-0"})
    return Coding(Passage(pid, company, "s", 0, 1, "x"), codes, list(assigned))


def make():
    return [
        coding("a1", "A", ["NET"]), coding("a2", "A", ["NET", "ENT"], {"ENT": "-"}),
        coding("a3", "A", ["NET"], {"NET": "0"}), coding("a4", "A", []),
        coding("b1", "B", ["ENT"]), coding("b2", "B", ["ENT", "ABS"]),
        coding("c1", "C", ["ABS"]), coding("c2", "C", ["ABS", "NET"]), coding("c3", "C", ["ENT"]),
        coding("c4", "C", ["NET"]),
    ]


def test_coverage_strength_counts():
    prof = {p.company: p for p in build_profiles(make(), ProfileSettings(strength_norm="share"))}
    a = prof["A"]
    assert a.n_passages == 4
    net = a.codes["NET"]
    assert (net.count, net.positive, net.negative, net.neutral) == (3, 2, 0, 1)
    assert net.coverage == pytest.approx(0.75)
    assert net.strength == pytest.approx(2 / 4)  # two + passages at p=1, the neutral adds 0
    ent = a.codes["ENT"]
    assert (ent.count, ent.negative, ent.strength) == (1, 1, pytest.approx(-1 / 4))
    assert a.codes["PRI"].count == 0 and a.codes["PRI"].strength == 0
    assert net.evidence[0] in {"a1", "a2", "a3"} and len(net.evidence) == 3
    sqrt = {p.company: p for p in build_profiles(make())}["A"]  # default normaliser: sqrt(n)
    assert sqrt.codes["NET"].strength == pytest.approx(2 / math.sqrt(4))


def test_primary_focus():
    rates = {"NET": 0.25, "ENT": 0.25, "ABS": 0.25, "PRI": 0.25}
    prof = {p.company: p.primary_focus for p in build_profiles(make(), ProfileSettings(base_rates=rates))}
    assert prof["A"] == "network"            # NET dominates, ENT only negative
    assert prof["B"] == "entrepreneurship"   # ENT on 2/2, ABS on 1/2 (< 0.8 of ENT)
    assert prof["C"] == "balanced"           # NET and ABS level (2/4 each)
    # a rare code weighs more: with ABS rarer in training, C leans to absorptive capacity
    rare = dict(rates, ABS=0.1)
    assert {p.company: p.primary_focus for p in build_profiles(make(), ProfileSettings(base_rates=rare))}["C"] \
        == "absorptive_capacity"
