"""Two codings from files, matched unit by unit, for ``intcap agree``.

A coding set is read from a results folder (passages.jsonl), a hand-coded JSONL file, a label
export or one coder of a REFI-QDA project; units are matched by passage id, else by
(source, start, end); ``compare`` then gives the statistics of ``pipeline.agreement``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import safejson
from pipeline.agreement import presence_agreement, valence_agreement, character_agreement, disagreements
from pipeline.errors import IntcapError
from pipeline.examples import load_examples
from pipeline.records import CODES, Coding


@dataclass(frozen=True)
class Unit:
    """One coded unit as a file gives it: ``codes`` maps a code to its valence ({} = no code)."""

    id: str
    company: str
    text: str
    codes: dict[str, str]
    source: str = ""
    start: int | None = None
    end: int | None = None

    @property
    def span(self) -> tuple[str, int, int] | None:
        return (self.source, self.start, self.end) if self.source and self.start is not None and self.end is not None \
            else None


@dataclass
class CodingSet:
    """One coder's coding of some units, read from one file."""

    label: str
    units: list[Unit]
    #: only coded spans are recorded (a REFI-QDA project or its import): a unit of the other
    #: coding that is missing here, in a source this coder coded, was not coded
    spans_only: bool = False
    #: source -> stored text, where the file carries it (character agreement uses its length)
    texts: dict[str, str] = field(default_factory=dict)


MODEL_CODER = "model"


def read_coding_sets(paths: Sequence[Path], coders: Sequence[str] = (), *, mapping: Path | None = None,
                     sources_dir: Path | None = None) -> tuple[CodingSet, CodingSet]:
    """The two codings to compare: two files (each one coding, or ``coders[i]`` of file i), or
    one file holding several coders (``coders`` names two; "model" picks intcap's own codings)."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        if len(coders) != 2:
            raise IntcapError(f"{paths[0]}: one file is compared with itself only as two of its coders; "
                              "expected --coders NAME1 NAME2")
        found = _read_any(paths[0], mapping, sources_dir)
        return _pick(found, coders[0], paths[0]), _pick(found, coders[1], paths[0])
    if len(paths) != 2:
        raise IntcapError(f"agree: expected two codings (A B) or one project with --coders, found {len(paths)} files")
    if coders and len(coders) != 2:
        raise IntcapError(f"agree: --coders names one coder per file (two), found {len(coders)}")
    sets = []
    for i, path in enumerate(paths):
        found = _read_any(path, mapping, sources_dir)
        if coders:
            sets.append(_pick(found, coders[i], path))
        elif len(found) > 1:
            raise IntcapError(f"{path}: holds the codings of {len(found)} coders ({', '.join(sorted(found))}); "
                              "name the one to compare with --coders NAME1 NAME2 (one per file)")
        else:
            sets.append(next(iter(found.values())))
    return sets[0], sets[1]


def _pick(found: dict[str, CodingSet], wanted: str, path: Path) -> CodingSet:
    if wanted in found:
        return found[wanted]
    if wanted == MODEL_CODER:
        from pipeline.refi.provenance import is_machine_user

        models = [name for name in found if is_machine_user(name) or name == MODEL_CODER]
        if len(models) == 1:
            return found[models[0]]
    raise IntcapError(f"{path}: no coder {wanted!r}; the file holds {', '.join(map(repr, sorted(found))) or 'none'}"
                      + ("" if wanted == MODEL_CODER else " (or say 'model' for intcap's own codings)"))


def _read_any(path: Path, mapping: Path | None, sources_dir: Path | None) -> dict[str, CodingSet]:
    """Coder name -> coding: a results folder, its passages.jsonl, a .qdpx or hand-coded JSONL."""
    if path.is_dir():
        return {MODEL_CODER: _read_results(path / "passages.jsonl", f"intcap results {path}")}
    if not path.is_file():
        raise IntcapError(f"{path}: not found; expected a results folder, a passages.jsonl, hand-coded JSONL "
                          "or a .qdpx project")
    if path.suffix.casefold() == ".qdpx":
        return _read_qdpx(path, mapping, sources_dir)
    first = _first_row(path)
    if isinstance(first, dict) and "assigned" in first:
        return {MODEL_CODER: _read_results(path, f"intcap results {path}")}
    return _read_hand_coded(path)


def _first_row(path: Path):
    for n, line in enumerate(_lines(path), 1):
        if line.strip():
            try:
                return safejson.loads(line)
            except ValueError as exc:
                raise IntcapError(f"{path}:{n}: {exc}; expected one JSON object per line") from None
    raise IntcapError(f"{path}: no units (the file is empty)")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise IntcapError(f"{path}: not UTF-8 text; expected JSON lines") from None
    except OSError as exc:
        raise IntcapError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_results(path: Path, label: str) -> CodingSet:
    """intcap's own codings (``intcap code --out DIR``): assigned codes with their valence."""
    if not path.is_file():
        raise IntcapError(f"{path.parent}: no passages.jsonl; expected a results folder of `intcap code --out DIR`")
    units = []
    for n, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            c = Coding.from_dict(safejson.loads(line))
            codes = {code: c.codes[code].valence for code in CODES if code in c.assigned}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntcapError(f"{path}:{n}: not an intcap passage ({exc!r}); expected a line of passages.jsonl") \
                from None
        p = c.passage
        units.append(Unit(p.id, p.company, p.text, codes, p.source, p.start, p.end))
    from pipeline.refi.export import read_source

    texts = {}
    for source in dict.fromkeys(u.source for u in units):
        try:
            texts[source] = read_source(path.parent, source)
        except IntcapError:
            pass  # no stored text: character agreement infers the length from the offsets
    return CodingSet(label, units, texts=texts)


def _read_hand_coded(path: Path) -> dict[str, CodingSet]:
    """Hand-coded JSONL (the thesis file, `intcap labels export`, `intcap import --out`),
    validated by ``load_examples``; optional "source", "start", "end" and "coder" fields."""
    examples = load_examples(path)
    rows = [safejson.loads(line) for line in _lines(path) if line.strip()]
    by_coder: dict[str, list[Unit]] = {}
    spans_only = True
    for n, (ex, row) in enumerate(zip(examples, rows), 1):
        start, end = row.get("start"), row.get("end")
        if (start is None) != (end is None) or any(x is not None and (type(x) is not int or x < 0)
                                                   for x in (start, end)):
            raise IntcapError(f"{path}: unit {ex.id}: start/end must both be whole numbers >= 0, found "
                              f"{start!r}/{end!r}")
        spans_only &= ex.label_source == "refi-qda"
        by_coder.setdefault(str(row.get("coder") or ""), []).append(
            Unit(ex.id, ex.company, ex.text, dict(ex.codes), str(row.get("source") or ""), start, end))
    named = len(by_coder) > 1 or "" not in by_coder
    return {coder: CodingSet(f"{coder} in {path}" if named else f"hand coding {path}", units, spans_only=spans_only)
            for coder, units in by_coder.items()}


def _read_qdpx(path: Path, mapping: Path | None, sources_dir: Path | None) -> dict[str, CodingSet]:
    """Every coder of a REFI-QDA project (the REFI user of a coding is its coder), read by the import path."""
    from pipeline.refi import import_qdpx

    # the model's own codings are a coding to compare here (training leaves them out)
    result = import_qdpx(path, mapping, sources_dir=sources_dir, include_machine=True)
    texts = qdpx_texts(path, {e["source"] for e in result.examples}, sources_dir)
    by_coder: dict[str, list[Unit]] = {}
    for e in result.examples:
        by_coder.setdefault(e["coder"], []).append(
            Unit(e["id"], e["company"], e["text"], dict(e["codes"]), e["source"], e["start"], e["end"]))
    if not by_coder:
        raise IntcapError(f"{path}: no coding maps onto {'/'.join(CODES)} ({result.summary()}); give --map")
    return {coder: CodingSet(f"{coder} in {path}", units, spans_only=True, texts=texts)
            for coder, units in by_coder.items()}


def qdpx_texts(path: Path, names: set[str], sources_dir: Path | None = None) -> dict[str, str]:
    """The plain text of the named text sources, as the importer reads it (offsets index it)."""
    from pipeline.refi.project import open_qdpx
    from pipeline.refi.sources import SourceFiles, source_text
    from pipeline.refi.xmlutil import local, parse_xml

    zf, qde = open_qdpx(path)
    with zf:
        root = parse_xml(qde, f"{path}: project.qde", "Project.xsd", False).getroot()
        files = SourceFiles(zf, path, root.get("basePath") or "", sources_dir)
        texts = {}
        for src in (s for el in root if local(el) == "Sources" for s in el):
            name = src.get("name") or ""
            if local(src) == "TextSource" and name in names:
                texts[name] = source_text(src, files, f"text source '{name}'")
    return texts


@dataclass
class Matching:
    """Pairs of units (a or b None: that coder has no such unit and counts as not coding it)."""

    pairs: list[tuple[Unit | None, Unit | None]]
    by_id: int = 0
    by_span: int = 0
    only_a: int = 0
    only_b: int = 0
    #: ids of units left out: no counterpart, and the other coding records every unit it coded
    unmatched_a: list[str] = field(default_factory=list)
    unmatched_b: list[str] = field(default_factory=list)


def match_units(a: CodingSet, b: CodingSet) -> Matching:
    """Pair units by passage id, else by (source, start, end). A unit with no counterpart
    counts as not coded by the other coder when that coding records only coded spans (a
    REFI-QDA project) and coded something in the same source; otherwise it is left out."""
    b_by_id = {u.id: u for u in b.units}
    b_by_span = {}
    for u in b.units:
        if u.span is not None:
            b_by_span.setdefault(u.span, u)
    m = Matching([])
    used: set[int] = set()
    left_a = []
    for u in a.units:
        other = b_by_id.get(u.id)
        how = "by_id"
        if other is None or id(other) in used:
            other, how = b_by_span.get(u.span) if u.span is not None else None, "by_span"
        if other is None or id(other) in used:
            left_a.append(u)
            continue
        used.add(id(other))
        setattr(m, how, getattr(m, how) + 1)
        m.pairs.append((u, other))
    left_b = [u for u in b.units if id(u) not in used]
    for left, other_set, side in ((left_a, b, "a"), (left_b, a, "b")):
        coded_sources = {u.source for u in other_set.units}
        for u in left:
            if other_set.spans_only and u.source in coded_sources:
                m.pairs.append((u, None) if side == "a" else (None, u))
                setattr(m, f"only_{side}", getattr(m, f"only_{side}") + 1)
            else:
                getattr(m, f"unmatched_{side}").append(u.id)
    return m


def compare(a: CodingSet, b: CodingSet, *, top: int = 10, n_boot: int = 1000, seed: int = 0) -> dict:
    """Everything ``intcap agree`` reports: matching, unit and character agreement, valence,
    and the ``top`` units that disagree most."""
    m = match_units(a, b)
    if not m.pairs:
        raise IntcapError(f"{b.label}: no unit matches one of {a.label} by passage id or by (source, start, end); "
                          "expected codings of the same passages")
    a_codes = [u.codes if u else {} for u, _ in m.pairs]
    b_codes = [u.codes if u else {} for _, u in m.pairs]
    groups = [(ua or ub).company for ua, ub in m.pairs]
    presence = [np.array([[int(c in codes) for c in CODES] for codes in side]) for side in (a_codes, b_codes)]
    valence = [np.array([[codes.get(c, "") for c in CODES] for codes in side], dtype=object)
               for side in (a_codes, b_codes)]
    report = {
        "a": a.label, "b": b.label,
        "matching": {"units": len(m.pairs), "by_id": m.by_id, "by_span": m.by_span,
                     "only_in_a": m.only_a, "only_in_b": m.only_b,
                     "unmatched_a": m.unmatched_a, "unmatched_b": m.unmatched_b},
        "units": presence_agreement(presence[0], presence[1], groups, n_boot=n_boot, seed=seed),
        "valence": valence_agreement(valence[0], valence[1]),
        "characters": _characters(a, b, n_boot=n_boot, seed=seed),
    }
    report["disagreements"] = [
        {"id": (ua or ub).id, "company": (ua or ub).company, "span": list((ua or ub).span or ()), "score": score,
         "a": a_codes[i], "b": b_codes[i], "text": (ua or ub).text}
        for i, score in disagreements(a_codes, b_codes)[:top] for ua, ub in [m.pairs[i]]]
    return report


def _characters(a: CodingSet, b: CodingSet, **bootstrap) -> dict:
    """Character agreement over the sources both codings cover, or why it was not computed."""
    spans = [[(u.source, u.start, u.end, c) for u in s.units if u.span is not None for c in u.codes] for s in (a, b)]
    sources = [{u.source for u in s.units if u.span is not None} for s in (a, b)]
    if not sources[0] or not sources[1]:
        which = " and ".join(s.label for s, found in zip((a, b), sources) if not found)
        return {"skipped": f"{which}: no source offsets (start/end), so characters cannot be compared"}
    shared = sources[0] & sources[1]
    lengths, inferred, conflicting = {}, [], []
    for s in sorted(shared):
        known = {len(t.texts[s]) for t in (a, b) if s in t.texts}
        if len({t.texts[s] for t in (a, b) if s in t.texts}) > 1:
            conflicting.append(s)
            continue
        if not known:
            inferred.append(s)
        lengths[s] = known.pop() if known else max(e for sp in spans for src, _, e, _ in sp if src == s)
    if not lengths:
        return {"skipped": "the two codings share no source with the same text"}
    company_of = {}
    for u in (*a.units, *b.units):
        company_of.setdefault(u.source, u.company)
    out = character_agreement(spans[0], spans[1], lengths, company_of, **bootstrap)
    out["not_shared"] = sorted(sources[0] ^ sources[1])
    out["different_text"] = conflicting
    out["length_inferred"] = inferred
    return out
