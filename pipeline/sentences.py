"""Sentence spans inside a passage, for sentence-level (multi-instance) scoring.

A passage is a bag of sentences; a code is present when at least one sentence
carries it. ``split_sentences`` returns (start, end) offsets into the passage text,
so evidence can be pointed at exactly (``passage.start + start``).
"""
from __future__ import annotations

import re

# a sentence ends at . ! ? (optionally followed by a closing quote/bracket) before
# whitespace and an upper-case letter, digit, quote or dash; common abbreviations are kept whole
_END = re.compile(r"""[.!?]["'”’)\]]?\s+(?=["'“‘(\[]?[A-ZÆØÅ0-9\-–])""")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|Inc|Ltd|Co|St|approx|ca|no|fx|bl\.a|f\.eks|dvs|mv)|\b[A-Z])\.$")
_MIN_CHARS = 25


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``; very short pieces join their neighbour."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.start() + len(m.group(0).rstrip())
        if _ABBREV.search(text[start:m.start() + 1]):
            continue
        spans.append((start, end))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    spans = [(a + len(text[a:b]) - len(text[a:b].lstrip()), b - (len(text[a:b]) - len(text[a:b].rstrip())))
             for a, b in spans]
    spans = [(a, b) for a, b in spans if b > a]
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and (b - a < _MIN_CHARS or merged[-1][1] - merged[-1][0] < _MIN_CHARS):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged or [(0, len(text))]
