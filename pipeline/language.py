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
_DE = frozenset("""und der die das ist nicht ich wir sie es ein eine mit auf für von zu den dem im auch
sich aber wie war sind haben hat wenn noch nach bei aus dann oder schon sehr einen unsere""".split())
_WORD = re.compile(r"[a-zæøåäöü]+")


def detect_language(text: str) -> str | None:
    """"da" (also Swedish and Norwegian, whose function words it shares), "de", "en", or None
    (fewer than 4 words, no function words, or a tie)."""
    words = _WORD.findall(text.lower())
    if len(words) < 4:
        return None
    scores = {"da": sum(w in _DA or any(ch in "æøå" for ch in w) for w in words),
              "en": sum(w in _EN for w in words),
              "de": sum(w in _DE or any(ch in "äöüß" for ch in w) for w in words)}
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] == 0 or ranked[0] == ranked[1]:
        return None
    return max(scores, key=scores.get)


#: languages the multilingual companion (registered under "da") codes
COMPANION_LANGUAGES = frozenset({"da", "sv", "no", "nb", "nn", "de"})


def companion_key(language: str, companions) -> str:
    """The companion that codes ``language`` ("" = the main coder): its own, else the
    multilingual one for the Nordic languages and German."""
    if language in companions:
        return language
    return "da" if language in COMPANION_LANGUAGES and "da" in companions else ""


_NAMES = {"danish": "da", "dansk": "da", "swedish": "sv", "svenska": "sv", "norwegian": "no", "norsk": "no",
          "bokmål": "no", "german": "de", "deutsch": "de", "english": "en"}


def passage_language(declared: str | None, text: str) -> str:
    """The routing language of a passage: its declared language ("da", "da-DK", "Danish" -> "da")
    when set, else the detector's verdict, else "en"."""
    if declared:
        d = declared.strip().lower()
        return _NAMES.get(d, d.split("-")[0].split("_")[0][:2] or "en")
    return detect_language(text) or "en"
