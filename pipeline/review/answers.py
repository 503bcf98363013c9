"""What a reviewer answers and what the model suggested: plain values, parsing, validation.

An answer is a mapping ``{code: valence}`` over the four codes (``{}`` = none of
them applies). Terminal input like ``"NET+ ABS0"`` and JSON bodies from the review
page are both turned into that mapping here, with errors that say what was expected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.errors import IntcapError
from pipeline.records import CODES, VALENCES, Coding

#: the longest reviewer name accepted (names are stored with every answer)
MAX_REVIEWER = 80

_TOKEN = re.compile(r"^(NET|ENT|ABS|PRI)([+\-0])?$", re.IGNORECASE)
_NONE = {"none", "no", "nothing", "-"}


class ReviewError(IntcapError):
    """A review request or answer is invalid; the message says what was expected."""


@dataclass(frozen=True)
class Suggestion:
    """What the model proposed for a passage when it was shown.

    ``codes`` keeps every code's probability and valence distribution;
    ``assigned`` maps the codes over threshold to their most likely valence.
    """

    model_version: str
    codes: dict[str, dict] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_coding(cls, coding: Coding) -> "Suggestion":
        codes = {c: {"p": s.p, "valence": s.valence, "valence_p": dict(s.valence_p)} for c, s in coding.codes.items()}
        assigned = {c: coding.codes[c].valence if c in coding.codes else "0" for c in coding.assigned}
        return cls(coding.model_version, codes, assigned)

    def valence_for(self, code: str) -> str:
        """The valence to preselect when a reviewer adds ``code``."""
        if code in self.assigned:
            return self.assigned[code]
        return self.codes.get(code, {}).get("valence", "0") or "0"


def validate_codes(codes: object) -> dict[str, str]:
    """Check a ``{code: valence}`` mapping, returning it in canonical code order."""
    if not isinstance(codes, dict):
        raise ReviewError(f"codes must be an object mapping {'/'.join(CODES)} to one of {' '.join(VALENCES)}; "
                          f"found {type(codes).__name__}")
    bad = {k: v for k, v in codes.items() if k not in CODES or v not in VALENCES}
    if bad:
        raise ReviewError(f"codes must map {'/'.join(CODES)} to one of {' '.join(VALENCES)}; found {bad}. "
                          'Example: {"NET": "+", "ABS": "0"}')
    return {c: str(codes[c]) for c in CODES if c in codes}


def validate_reviewer(name: object) -> str:
    """A reviewer name: 1-80 printable characters."""
    text = str(name or "").strip()
    if not text or len(text) > MAX_REVIEWER or not text.isprintable():
        raise ReviewError(f"reviewer must be 1-{MAX_REVIEWER} printable characters; found {str(name)[:100]!r}. "
                          "Pass --reviewer NAME or fill in the reviewer field.")
    return text


def parse_answer(line: str, suggestion: Suggestion) -> dict[str, str]:
    """Parse terminal input such as ``"NET+ ABS0"`` (``"ENT"`` takes the suggested valence; ``none`` = no code)."""
    text = line.strip()
    if text.lower() in _NONE:
        return {}
    codes: dict[str, str] = {}
    for token in text.replace(",", " ").split():
        match = _TOKEN.match(token)
        if not match:
            raise ReviewError(f"cannot read {token!r}: expected a code {'/'.join(CODES)} followed by a valence "
                              f"{' '.join(VALENCES)}, e.g. 'NET+ ABS0', or 'none'")
        code = match.group(1).upper()
        codes[code] = match.group(2) or suggestion.valence_for(code)
    return validate_codes(codes)


def format_codes(codes: dict[str, str]) -> str:
    """``{"NET": "+", "ABS": "0"}`` -> ``"NET+ ABS0"`` (``"none"`` for no code)."""
    return " ".join(f"{c}{codes[c]}" for c in CODES if c in codes) or "none"
