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


_FIRST_PERSON = [
    (r"\b[Tt]he company's\b", "our"), (r"\b[Tt]he company(?= (?:has|is|was|have|are|had|does|did|will|can|"
                                         r"could|would|should|must|also|not|only|now|still|\w+ed|\w+s)\b)", "we"),
    (r"\b[Tt]he company\b", "us"),
    (r"\bthey\b", "we"), (r"\bThey\b", "We"), (r"\btheir\b", "our"), (r"\bTheir\b", "Our"),
    (r"\bthemselves\b", "ourselves"), (r"\bitself\b", "ourselves"),
    (r"\b[Ww]e (has|is|was|does)\b", None),
]
_AGREE = {"has": "have", "is": "are", "was": "were", "does": "do"}


def first_person(text: str, company: str | None) -> str:
    """A crude first-person rendering of a third-person summary ("<Company> has its
    partners in ..." -> "we have our partners in ..."): register augmentation for training."""
    out = mask_company(text, company)
    for pat, rep in _FIRST_PERSON:
        if rep is None:
            out = re.sub(pat, lambda m: m.group(0)[0] + "e " + _AGREE[m.group(1)], out)
        else:
            out = re.sub(pat, rep, out)
    out = re.sub(r"(^|[.!?:\"“]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)
    return out
