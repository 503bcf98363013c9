"""The written training and development corpora (``corpus/train/``, ``corpus/dev/``).

Each row is a passage written for this project, in the hand-coded format plus its
provenance: ``language``, ``register``, ``country``, ``industry``, ``label_source`` and
``passes``, the independent codings it got (the writer's intent and two blind passes,
each ``{"coder": NAME, "codes": {CODE: valence}}``). ``codes`` is the adjudicated coding.

This module loads and validates the rows, adjudicates passes, measures agreement
between the blind passes, and summarises a corpus; ``Example`` is what training sees.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import paths, safejson
from pipeline.classify import kappa
from pipeline.errors import IntcapError
from pipeline.examples import Example
from pipeline.records import CODES, VALENCES

TRAIN_DIR = paths.CORPUS / "train"
DEV_DIR = paths.CORPUS / "dev"
LANGUAGES = ("en", "da", "sv", "no", "de")
REGISTERS = ("interview-answer", "qa-turn", "otter-turns", "zoom-turns", "podcast",
             "case-study", "trade-press", "founder-blog", "oral-history")
#: registers that are spoken interview answers
SPOKEN = frozenset(REGISTERS[:5])
REQUIRED = ("id", "company", "text", "codes", "language", "register", "country", "industry",
            "label_source", "passes")
#: who counts as a blind coder (every pass whose coder name does not start with "writer")
WRITER_PREFIX = "writer"


@dataclass(frozen=True)
class CorpusRow:
    id: str
    company: str
    text: str
    codes: dict[str, str]
    language: str
    register: str
    country: str
    industry: str
    label_source: str
    passes: tuple[tuple[str, dict[str, str]], ...]
    batch: str = ""
    lookalike: bool = False
    pair: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def example(self) -> Example:
        return Example(self.id, self.company, self.text, dict(self.codes), self.label_source, self.language,
                       written=True)

    @property
    def blind_passes(self) -> list[tuple[str, dict[str, str]]]:
        return [p for p in self.passes if not p[0].startswith(WRITER_PREFIX)]


def _codes(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object like {{\"NET\": \"+\"}}")
    codes = {str(c): str(v) for c, v in value.items()}
    bad = {c: v for c, v in codes.items() if c not in CODES or v not in VALENCES}
    if bad:
        raise ValueError(f"{where} must map {'/'.join(CODES)} to one of {' '.join(VALENCES)}, found {bad}")
    return codes


def parse_row(row: dict, batch: str = "") -> CorpusRow:
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    if row["language"] not in LANGUAGES:
        raise ValueError(f"language {row['language']!r} is not one of {LANGUAGES}")
    if row["register"] not in REGISTERS:
        raise ValueError(f"register {row['register']!r} is not one of {REGISTERS}")
    if not isinstance(row["passes"], list) or not row["passes"]:
        raise ValueError("passes must be a non-empty list of {\"coder\", \"codes\"}")
    passes = tuple((str(p["coder"]), _codes(p["codes"], f"passes[{k}].codes")) for k, p in enumerate(row["passes"]))
    text = str(row["text"])
    if not text.strip():
        raise ValueError("text is empty")
    known = set(REQUIRED) | {"lookalike", "pair", "batch"}
    return CorpusRow(str(row["id"]), str(row["company"]), text, _codes(row["codes"], "codes"),
                     row["language"], row["register"], str(row["country"]), str(row["industry"]),
                     str(row["label_source"]), passes, str(row.get("batch", batch)), bool(row.get("lookalike")),
                     str(row.get("pair") or ""), {k: v for k, v in row.items() if k not in known})


def load_rows(path: str | Path) -> list[CorpusRow]:
    """One corpus file, naming the file and line of any problem."""
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(parse_row(safejson.loads(line), path.stem))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntcapError(f"{path}:{n}: not a corpus row ({exc})") from exc
    return rows


def load_corpus(directory: str | Path) -> list[CorpusRow]:
    """Every ``*.jsonl`` batch file of a corpus folder, in name order."""
    directory = Path(directory)
    files = sorted(directory.glob("*.jsonl"))
    return [row for f in files for row in load_rows(f)]


def training_rows() -> list[CorpusRow]:
    return load_corpus(TRAIN_DIR) if TRAIN_DIR.is_dir() else []


def dev_rows() -> list[CorpusRow]:
    return load_corpus(DEV_DIR) if DEV_DIR.is_dir() else []


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def validate(train: Sequence[CorpusRow], dev: Sequence[CorpusRow], reserved_firms: Iterable[str] = ()) -> list[str]:
    """Problems that make a corpus unusable: duplicate ids or texts (across both sets), a firm
    in both sets or among ``reserved_firms`` (the thesis firms), a pair partner that is missing."""
    problems = []
    ids, texts = Counter(), Counter()
    for r in [*train, *dev]:
        ids[r.id] += 1
        texts[_normal(r.text)] += 1
    problems += [f"duplicate id {i!r} ({n}x)" for i, n in ids.items() if n > 1]
    problems += [f"duplicate text ({n}x): {t[:60]!r}" for t, n in texts.items() if n > 1]
    both = {r.company for r in train} & {r.company for r in dev}
    problems += [f"firm {c!r} is in both train and dev" for c in sorted(both)]
    reserved = {c.lower() for c in reserved_firms}
    problems += [f"firm {c!r} is a thesis firm" for c in sorted({r.company for r in [*train, *dev]})
                 if c.lower() in reserved]
    known = set(ids)
    problems += [f"{r.id}: pair {r.pair!r} not in the corpus" for r in [*train, *dev] if r.pair and r.pair not in known]
    return problems


def adjudicate(opinions: Sequence[dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Majority coding of several opinions, and the codes it could not settle.

    A code is present when more than half of the opinions give it. Its valence is the one most
    of those opinions give; a tie between valences is returned as unsettled (the first tied
    valence in +, -, 0 order stands in until an adjudicator decides).
    """
    codes, unsettled = {}, []
    for code in CODES:
        given = [o[code] for o in opinions if code in o]
        if 2 * len(given) <= len(opinions):
            continue
        counts = Counter(given)
        top = max(counts.values())
        tied = [v for v in VALENCES if counts.get(v) == top]
        codes[code] = tied[0]
        if len(tied) > 1:
            unsettled.append(code)
    return codes, unsettled


def presence_matrix(codings: Sequence[dict[str, str]]) -> np.ndarray:
    return np.array([[int(c in codes) for c in CODES] for codes in codings], dtype=int).reshape(-1, len(CODES))


def pass_agreement(rows: Sequence[CorpusRow]) -> dict:
    """Cohen's κ of code presence between the first two blind passes, per code and mean, and
    the share of codes both gave with the same valence (over rows with two blind passes)."""
    pairs = [(r.blind_passes[0][1], r.blind_passes[1][1]) for r in rows if len(r.blind_passes) >= 2]
    if not pairs:
        return {"n": 0}
    a, b = presence_matrix([p[0] for p in pairs]), presence_matrix([p[1] for p in pairs])
    per_code = {c: round(float(kappa(a[:, j], b[:, j])), 4) for j, c in enumerate(CODES)}
    both = [(x[c], y[c]) for x, y in pairs for c in CODES if c in x and c in y]
    return {"n": len(pairs), "kappa": per_code, "mean_kappa": round(float(np.mean(list(per_code.values()))), 4),
            "valence_agreement": round(sum(u == v for u, v in both) / max(len(both), 1), 4)}


def statistics(rows: Sequence[CorpusRow]) -> dict:
    """Counts a corpus is specified by: firms, countries, industries, registers, languages,
    positives per code and valence, passages with no code and look-alikes, near-pairs."""
    n = len(rows)
    per_code = {}
    for code in CODES:
        v = Counter(r.codes[code] for r in rows if code in r.codes)
        per_code[code] = {"positives": sum(v.values()), **{val: v.get(val, 0) for val in VALENCES}}
    none = [r for r in rows if not r.codes]
    return {
        "passages": n,
        "firms": len({r.company for r in rows}),
        "countries": len({r.country for r in rows}),
        "industries": len({r.industry.lower() for r in rows}),
        "languages": dict(Counter(r.language for r in rows).most_common()),
        "registers": dict(Counter(r.register for r in rows).most_common()),
        "spoken_share": round(sum(r.register in SPOKEN for r in rows) / max(n, 1), 4),
        "danish_share": round(sum(r.language == "da" for r in rows) / max(n, 1), 4),
        "codes": per_code,
        "no_code": len(none), "no_code_share": round(len(none) / max(n, 1), 4),
        "lookalikes": sum(r.lookalike for r in none),
        "near_pairs": sum(bool(r.pair) for r in rows) // 2,
        "label_sources": dict(Counter(r.label_source for r in rows).most_common()),
        "pass_agreement": pass_agreement(rows),
        "pass_agreement_by_batch": {b: pass_agreement([r for r in rows if r.batch == b])
                                    for b in sorted({r.batch for r in rows})},
    }


def examples(rows: Sequence[CorpusRow]) -> list[Example]:
    return [r.example() for r in rows]
