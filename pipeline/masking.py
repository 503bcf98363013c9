"""Mask the company's own name so a model learns the codes, not the 14 firms' names.

The unseen texts are about other firms; a classifier that keys on "Ropox" or
"SafeCom" cannot transfer. Every mention of the passage's company (full name, its
first word, possessives) becomes "the company".
"""
from __future__ import annotations

import re
from functools import lru_cache

PLACEHOLDER = "the company"
_GENERIC = {"the", "group", "a/s", "as", "aps", "ltd", "inc", "gmbh", "company", "holding", "international"}


@lru_cache(maxsize=512)
def _pattern(company: str) -> re.Pattern | None:
    company = company.strip()
    if not company:
        return None
    names = {company}
    words = company.split()
    if len(words) > 1 and len(words[0]) >= 3 and words[0].lower() not in _GENERIC:
        names.add(words[0])
    alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"\b(?:{alts})\b(?:['’]s)?", re.IGNORECASE)


def mask_company(text: str, company: str | None) -> str:
    """``text`` with the company's name replaced by "the company" (possessive kept)."""
    pat = _pattern(company or "")
    if pat is None:
        return text
    def repl(m: re.Match) -> str:
        word = PLACEHOLDER
        before = text[:m.start()].rstrip()
        if not before or before[-1] in ".!?:\"“":
            word = word[0].upper() + word[1:]
        return word + ("'s" if m.group(0)[-2:].lower() in ("'s", "’s") else "")

    return pat.sub(repl, text)
