"""Hand-coded examples: the training format (``coded_passages.jsonl``) and its matrices."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import safejson
from pipeline.errors import IntcapError
from pipeline.records import CODES, VALENCES


@dataclass(frozen=True)
class Example:
    """One hand-coded passage: ``codes`` maps a code to its valence; ``{}`` = no code."""

    id: str
    company: str
    text: str
    codes: dict[str, str] = field(default_factory=dict)
    label_source: str = ""
    #: the declared language ("" = unknown: the detector decides where it is routed)
    language: str = ""
    #: written for the project's training corpus (corpus/train/), not coded from a real interview;
    #: ``CoderSettings.written_weight`` weighs these against real coded text
    written: bool = False


def load_examples(path: str | Path) -> list[Example]:
    """Read a hand-coded JSONL file, naming the file and line of any problem."""
    path = Path(path)
    examples = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = safejson.loads(line)
            codes = {str(c): str(v) for c, v in (row.get("codes") or {}).items()}
            bad = {c: v for c, v in codes.items() if c not in CODES or v not in VALENCES}
            if bad:
                raise ValueError(f"codes must map {'/'.join(CODES)} to one of {' '.join(VALENCES)}, found {bad}")
            examples.append(Example(str(row["id"]), str(row["company"]), str(row["text"]), codes,
                                    str(row.get("label_source", "")), str(row.get("language") or "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntcapError(f"{path}:{n}: not a hand-coded example ({exc}); expected "
                              '{"id", "company", "text", "codes": {"NET": "+", ...}}') from exc
    return examples


def merge_examples(*sets: list[Example]) -> list[Example]:
    """Later sets override earlier ones with the same id (a reviewer's answer beats the original)."""
    merged: dict[str, Example] = {}
    for examples in sets:
        for ex in examples:
            merged[ex.id] = ex
    return list(merged.values())


def label_matrices(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """presence (n, 4) of 0/1 and valence (n, 4) of "+", "-", "0" or ""."""
    presence = np.array([[int(c in ex.codes) for c in CODES] for ex in examples], dtype=int).reshape(-1, len(CODES))
    valence = np.array([[ex.codes.get(c, "") for c in CODES] for ex in examples], dtype=object).reshape(-1, len(CODES))
    return presence, valence


def base_rates(examples: list[Example]) -> dict[str, float]:
    """Share of examples carrying each code (profiles weigh rare codes up by it)."""
    return {c: round(sum(c in e.codes for e in examples) / max(len(examples), 1), 4) for c in CODES}
