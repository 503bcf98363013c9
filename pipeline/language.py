"""A cheap Danish/English detector: shares of each language's function words, plus æøå.

Used to route a passage whose language is unset (no manifest ``language``) to the
multilingual companion coder. Returns None when the text gives too little evidence.
"""
from __future__ import annotations

import re

_DA = frozenset("""og i at det er en som på til af med for ikke den de har vi jeg der var om men så kan
et fra blev også eller når skal vil hvor efter man ved meget være havde deres sig dem hun han nu
hvad mere hos andre vores mig min vores kunne bliver været alle over mod uden under selv""".split())
_EN = frozenset("""the and of to in is that it for on with as was are be by this at from have has an
not or but they we their which our were been will would can also there about more than into when
he she his her its who what you your all one had do does""".split())
_WORD = re.compile(r"[a-zæøåäöü]+")


def detect_language(text: str) -> str | None:
    """"da", "en" or None (fewer than 4 words, or no function words of either language)."""
    words = _WORD.findall(text.lower())
    if len(words) < 4:
        return None
    da = sum(w in _DA or any(ch in "æøå" for ch in w) for w in words)
    en = sum(w in _EN for w in words)
    if da == en == 0:
        return None
    if da > en:
        return "da"
    if en > da:
        return "en"
    return None


def passage_language(declared: str | None, text: str) -> str:
    """The routing language of a passage: its declared language ("da", "da-DK", "Danish" -> "da")
    when set, else the detector's verdict, else "en"."""
    if declared:
        d = declared.strip().lower()
        return "da" if d.startswith("da") or d in ("dansk", "danish") else d.split("-")[0][:2] or "en"
    return detect_language(text) or "en"
