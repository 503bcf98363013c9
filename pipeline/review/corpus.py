"""A coded corpus as the review tools see it: codings, their neighbours, thresholds, evidence.

Reads ``OUT_DIR/passages.jsonl`` (written by ``intcap code``) once. Context is the
previous/next coded passage of the same source, in passages.jsonl order; evidence
spans are turned from source offsets into offsets within the passage text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.outputs import read_codings
from pipeline.records import CODES, Coding


def infer_thresholds(codings: list[Coding]) -> np.ndarray:
    """Each code's decision threshold, recovered from which probabilities were assigned.

    The threshold lies between the highest unassigned and the lowest assigned
    probability; where a code was always or never assigned, 0.5 bounds it.
    """
    thresholds = np.full(len(CODES), 0.5)
    for j, code in enumerate(CODES):
        on = [c.codes[code].p for c in codings if code in c.assigned and code in c.codes]
        off = [c.codes[code].p for c in codings if code not in c.assigned and code in c.codes]
        lo, hi = (max(off) if off else None), (min(on) if on else None)
        if lo is not None and hi is not None and lo < hi:
            thresholds[j] = (lo + hi) / 2
        elif hi is not None and lo is None:
            thresholds[j] = min(0.5, hi)
        elif lo is not None and hi is None:
            thresholds[j] = max(0.5, min(lo + 1e-6, 0.999))
    return thresholds


@dataclass
class ReviewCorpus:
    """The passages of one results folder, indexed for review."""

    name: str
    codings: list[Coding]
    thresholds: np.ndarray
    out_dir: Path | None = None
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {c.passage.id: i for i, c in enumerate(self.codings)}

    @classmethod
    def load(cls, out_dir: Path, name: str | None = None) -> "ReviewCorpus":
        out_dir = Path(out_dir)
        codings = read_codings(out_dir)
        return cls(name or corpus_name(out_dir), codings, infer_thresholds(codings), out_dir)

    def __len__(self) -> int:
        return len(self.codings)

    @property
    def ids(self) -> list[str]:
        return [c.passage.id for c in self.codings]

    def get(self, passage_id: str) -> Coding | None:
        i = self.index.get(passage_id)
        return None if i is None else self.codings[i]

    def presence(self) -> np.ndarray:
        return np.array([[c.codes[code].p if code in c.codes else 0.0 for code in CODES] for c in self.codings],
                        dtype=float).reshape(-1, len(CODES))

    def neighbours(self, i: int) -> tuple[Coding | None, Coding | None]:
        """The previous and next passage of the same source (passages.jsonl keeps source order)."""
        source = self.codings[i].passage.source
        prev = self.codings[i - 1] if i > 0 and self.codings[i - 1].passage.source == source else None
        nxt = (self.codings[i + 1] if i + 1 < len(self.codings) and self.codings[i + 1].passage.source == source
               else None)
        return prev, nxt

    def evidence_spans(self, i: int) -> list[dict]:
        """Evidence sentences as offsets into the passage text (source offsets shifted; outside ones dropped)."""
        coding = self.codings[i]
        p = coding.passage
        spans = []
        for code, (start, end) in sorted(coding.evidence.items()):
            a, b = start - p.start, end - p.start
            if 0 <= a < b <= len(p.text):
                spans.append({"code": code, "start": a, "end": b})
        return spans


def corpus_name(out_dir: Path) -> str:
    """The name answers are filed under by default: the results folder's name."""
    return Path(out_dir).resolve().name
