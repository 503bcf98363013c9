"""Codebook knowledge as features: indicator phrases and definition prototypes.

Both are written from CODEBOOK.md / codebook.json alone (never from the coded
passages), so they carry the codebook's meaning to firms and registers the 198
training passages never saw:

* ``LEXICON``: per code, regular expressions for the codebook's indicators
  ("embassy", "Trade Council", "our network", "market analysis", "earlier job"...),
  English and Danish. ``lexicon_counts`` gives per-code hit counts (log1p).
* ``prototypes``: the clauses of each code's definition, to be embedded; a
  passage's cosine similarity to the closest clause of each code is a feature.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache

import numpy as np

from pipeline import paths
from pipeline.records import CODES

LEXICON: dict[str, list[str]] = {
    "NET": [
        r"network", r"netværk", r"relation", r"\bties?\b", r"contacts?\b", r"kontakt", r"partners?\b", r"partner",
        r"embass", r"ambassade", r"trade council", r"eksportråd", r"vitus", r"\bagents?\b", r"distribut",
        r"forhandler", r"reseller", r"linkedin", r"reference", r"lighthouse", r"\btrust", r"tillid",
        r"fairs?\b", r"messe", r"exhibition", r"conference", r"konference", r"introduc", r"door", r"brok",
        r"key customer", r"global customer", r"nøglekunde", r"follow(?:ed|s|ing)? (?:the |their |our )?customers?",
        r"personal", r"personlig", r"acquaint", r"knows? (?:a|the|many|people)", r"outsider", r"insider",
        r"recommend", r"anbefal", r"word of mouth", r"collaborat", r"samarbejd", r"alliance",
    ],
    "ENT": [
        r"opportunit", r"mulighed", r"\bentr(?:y|ies|ed|ering)\b", r"\benter", r"establish", r"etabler",
        r"subsidiar", r"datterselskab", r"office in", r"kontor i", r"joint venture", r"\brisk", r"risiko",
        r"campaign", r"kampagne", r"lead generation", r"\bleads?\b", r"strateg", r"expan", r"ekspan", r"udvid",
        r"growth", r"vækst", r"new markets?", r"nye markeder", r"nyt marked", r"proactive", r"proaktiv",
        r"reactive", r"reaktiv", r"opportunis", r"serendip", r"tilfældig", r"by chance", r"coincidence",
        r"ambitio", r"ambition", r"target(?:ed|ing)?", r"launch", r"lancer", r"pursu", r"go(?:ing)? abroad",
        r"first mover", r"regulat", r"lovgivning", r"gap in the market", r"competition", r"konkurren",
    ],
    "ABS": [
        r"analy", r"market research", r"markedsundersøg", r"research", r"data", r"knowledge shar",
        r"videndel", r"share(?:s|d)? (?:the |their |this )?(?:knowledge|experience|information)", r"intranet",
        r"stor(?:e|ed|ing) (?:the )?(?:knowledge|experience)", r"learn", r"lær", r"mentalit", r"whole organi",
        r"hele organisation", r"organi[sz]ation", r"hired?\b", r"hiring", r"ansat", r"ansætte", r"recruit",
        r"rekrutt", r"competenc", r"kompetenc", r"adapt", r"tilpas", r"feedback", r"written plan", r"plans?\b",
        r"routine", r"rutine", r"process", r"proces", r"consultant", r"konsulent", r"transfer", r"overfør",
        r"train(?:ing|ed)\b", r"uddann", r"internali", r"knowledge", r"viden", r"information",
    ],
    "PRI": [
        r"experience", r"erfaring", r"previous", r"tidligere", r"earlier", r"former", r"background", r"baggrund",
        r"history", r"historisk", r"prior", r"years? ago", r"år siden", r"has worked", r"had worked",
        r"worked (?:for|at|in|with|abroad)", r"arbejdede", r"has been working", r"career", r"karriere",
        r"languages?\b", r"sprog", r"cultur", r"kultur", r"familiar", r"maconomy", r"exported? since",
        r"has exported", r"traditionally", r"traditionelt", r"always", r"altid", r"lack(?:s|ed|ing)? (?:of )?experience",
        r"no experience", r"ingen erfaring", r"failure", r"fiasko", r"lesson", r"veteran", r"serial",
    ],
}

_COMPILED = {c: [re.compile(p, re.IGNORECASE) for p in pats] for c, pats in LEXICON.items()}


def lexicon_counts(texts: list[str]) -> np.ndarray:
    """(n, 4) log1p of the number of indicator hits per code."""
    out = np.zeros((len(texts), len(CODES)))
    for i, t in enumerate(texts):
        for j, c in enumerate(CODES):
            out[i, j] = sum(len(p.findall(t)) for p in _COMPILED[c])
    return np.log1p(out)


@lru_cache(maxsize=1)
def prototypes() -> dict[str, list[str]]:
    """Definition clauses per code, from codebook.json (falls back to the code's name)."""
    book = json.loads(paths.CODEBOOK.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for entry in book["codes"]:
        definition = entry.get("definition", entry.get("name", entry["id"]))
        head, _, rest = definition.partition(":")
        clauses = [head.strip()]
        depth, cur = 0, ""
        for ch in rest:  # split on commas/semicolons outside parentheses
            depth += ch == "("
            depth -= ch == ")"
            if ch in ",;" and depth == 0:
                clauses.append(cur.strip())
                cur = ""
            else:
                cur += ch
        clauses.append(cur.strip())
        clauses = [re.sub(r"\s+", " ", c.replace("*", "")).strip(" .") for c in clauses]
        out[entry["id"]] = [f"{entry['name']}: {c}" for c in clauses if len(c) > 6]
    return out


def prototype_similarity(X: np.ndarray, proto_vecs: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 4): cosine similarity of each row to its closest definition clause, per code."""
    return np.column_stack([(X @ proto_vecs[c].T).max(axis=1) for c in CODES])


#: cues that a capability is lacking, unused, blocked or only reactive (the codebook's valence "-")
NEGATION = [
    r"\bnot\b", r"n't\b", r"\bno\b", r"\bnever\b", r"\black", r"\bwithout\b", r"\bonly\b", r"\blimited\b",
    r"reactive", r"opportunistic", r"\bdifficult", r"\bproblem", r"\bfail", r"\bstopp?ed\b", r"abandon",
    r"\bhard\b", r"\bunable\b", r"\bcannot\b", r"\brather than\b", r"\binstead\b", r"\bneither\b", r"\bnor\b",
    r"\bikke\b", r"\bingen\b", r"\baldrig\b", r"mangl", r"\bkun\b", r"\bsvært\b", r"\buden\b",
]
_NEG = [re.compile(p, re.IGNORECASE) for p in NEGATION]


def negation_counts(texts: list[str]) -> np.ndarray:
    """(n, 1) log1p of the number of lack/negation cues."""
    return np.log1p(np.array([[sum(len(p.findall(t)) for p in _NEG)] for t in texts], dtype=float)).reshape(-1, 1)


def codebook_features(texts: list[str]) -> np.ndarray:
    """(n, 5): indicator counts per code, then negation cues."""
    return np.hstack([lexicon_counts(texts), negation_counts(texts)])
