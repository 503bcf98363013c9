"""Export a results folder (passages.jsonl, profiles.json, sources/, run.json, labels.sqlite) as a .qdpx project.

Machine codings belong to a user per model version, reviewed codings (the label store's latest
live answer per passage and reviewer) to their reviewer; see docs/REFI.md.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.records import CODES, Coding
from pipeline.refi.codebook import CodebookLike, add_codes, our_codes
from pipeline.refi.project import COMPANY_VARIABLE
from pipeline.refi.provenance import machine_user_name, reviewed_answers
from pipeline.refi.selections import machine_selections, reviewed_selections
from pipeline.refi.sources import UTF16_ORIGIN_MARK, OffsetMap
from pipeline.refi.xmlutil import PROJECT_NS, atomic_write, make_guid, q, schema_errors, to_bytes, xml_safe

if TYPE_CHECKING:
    from pipeline.review.store import Answer

#: case variables per code, from Profile.codes[code] (name suffix, CodeProfile field, type)
CODE_VARIABLES: tuple[tuple[str, str], ...] = (
    ("coverage", "Float"), ("strength", "Float"), ("count", "Integer"),
    ("positive", "Integer"), ("negative", "Integer"), ("neutral", "Integer"),
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a re-export is byte-identical


POSITIONS = ("codepoints", "utf16")


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    n_sources: int
    n_cases: int
    n_selections: int
    #: of ``n_selections``: those by reviewers, and the reviewers
    n_reviewed: int = 0
    n_reviewers: int = 0
    #: reviewers' answers that could not be written (no code applies, or the span is not in the stored text)
    reviews_left_out: int = 0
    positions: str = "codepoints"

    def line(self) -> str:
        reviewed = (f", {self.n_reviewed} of them by {self.n_reviewers} reviewer(s)" if self.n_reviewers else "")
        left = (f"; {self.reviews_left_out} reviewed answer(s) left out (no code applies, or the span is not in "
                "the stored text)" if self.reviews_left_out else "")
        unit = "UTF-16 code units" if self.positions == "utf16" else "code points"
        return (f"wrote {self.path}: {self.n_sources} text sources, {self.n_cases} cases, "
                f"{self.n_selections} coded selections (one coding each{reviewed}); positions in {unit}{left}")


def _read_json(path: Path, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise ImportExportError(f"{path}: not found; expected the results folder written by "
                                    "'intcap run' (passages.jsonl, profiles.json, sources/, run.json)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ImportExportError(f"{path}: not valid JSON ({exc}); re-run the pipeline to rewrite it") from exc


def read_codings(out_dir: Path) -> list[Coding]:
    """Every line of passages.jsonl as a Coding; errors name the line."""
    path = out_dir / "passages.jsonl"
    if not path.is_file():
        raise ImportExportError(f"{path}: not found; expected one Coding.to_dict() per line - "
                                "pass the results folder of a finished run (--from OUT_DIR)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Coding.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ImportExportError(f"{path} line {n}: not a coding record ({exc!r}); expected "
                                    "Coding.to_dict() JSON - re-run the pipeline") from exc
    return out


def read_source(out_dir: Path, source: str) -> str:
    """The stored text of ``source`` exactly as written (line endings kept, no BOM)."""
    path = out_dir / "sources" / source
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ImportExportError(f"{path}: stored source text missing ({exc}); expected sources/<source> "
                                "next to passages.jsonl - re-run the pipeline") from exc
    except UnicodeDecodeError as exc:
        raise ImportExportError(f"{path}: stored source text is not UTF-8 ({exc})") from exc


def _decimal(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _variables(root: etree._Element) -> dict[str, tuple[str, str]]:
    """Declare the case and source variables; returns name -> (guid, type)."""
    specs = [("n_passages", "Integer", "passages coded for the company"),
             ("primary_focus", "Text", "network, absorptive_capacity, entrepreneurship or balanced")]
    specs += [(f"{c} {n}", t, f"{c} {n} (intcap profile)") for c in CODES for n, t in CODE_VARIABLES]
    specs.append((COMPANY_VARIABLE, "Text", "the company a source is an interview with (source variable)"))
    el = etree.SubElement(root, q("Variables"))
    out = {}
    for name, typ, desc in specs:
        guid = make_guid("variable", name)
        v = etree.SubElement(el, q("Variable"), guid=guid, name=name, typeOfVariable=typ)
        etree.SubElement(v, q("Description")).text = desc
        out[name] = (guid, typ)
    return out


def _value(owner: etree._Element, var: tuple[str, str], value: Any) -> None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    guid, typ = var
    vv = etree.SubElement(owner, q("VariableValue"))
    etree.SubElement(vv, q("VariableRef"), targetGUID=guid)
    text = _decimal(float(value)) if typ == "Float" else str(int(value)) if typ == "Integer" else str(value)
    etree.SubElement(vv, q(f"{typ}Value")).text = xml_safe(text)


@dataclass
class _Users:
    """REFI users: one per model version (machine codings), one per reviewer (reviewed codings)."""

    machine: dict[str, str]
    reviewers: dict[str, str]

    @classmethod
    def of(cls, versions: list[str], reviewers: list[str]) -> "_Users":
        return cls({v: make_guid("user", v) for v in versions},
                   {r: make_guid("user", "reviewer", r) for r in reviewers})

    def add_to(self, root: etree._Element) -> None:
        users = etree.SubElement(root, q("Users"))
        for v, guid in self.machine.items():
            etree.SubElement(users, q("User"), guid=guid, id=f"intcap-model-{v}", name=machine_user_name(v))
        for r, guid in self.reviewers.items():
            etree.SubElement(users, q("User"), guid=guid, id=xml_safe(f"reviewer:{r}"), name=xml_safe(r))


def _reviewable(answers: list[Answer], texts: dict[str, str]) -> tuple[list[Answer], int]:
    """Answers that can be written as codings, and how many cannot (no code, or a stale span)."""
    ok = [a for a in answers if a.codes and a.source in texts and 0 <= a.start < a.end <= len(texts[a.source])
          and texts[a.source][a.start:a.end] == a.text]
    return ok, len(answers) - len(ok)


def build_project(out_dir: Path, codebook: CodebookLike = None, *, positions: str = "codepoints",
                  db: str | None = None, corpus: str | None = None) -> tuple[bytes, dict[str, str], ExportSummary]:
    """project.qde bytes, the source files (guid -> text) and counts, for ``out_dir``.

    ``positions``: "codepoints" (the standard) or "utf16" (what NVivo counts); ``db``/``corpus``:
    the label store and corpus whose reviewed answers to add (default: OUT_DIR/labels.sqlite, if any).
    """
    if positions not in POSITIONS:
        raise ImportExportError(f"export: positions must be one of {POSITIONS}, found {positions!r}")
    codings = read_codings(out_dir)
    run = _read_json(out_dir / "run.json", required=False) or {}
    profiles = {p["company"]: p for p in (_read_json(out_dir / "profiles.json", required=False) or [])}
    src_dir = out_dir / "sources"
    names = sorted({p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*") if p.is_file()}
                   if src_dir.is_dir() else set())
    names += sorted({c.passage.source for c in codings} - set(names))
    texts = {name: read_source(out_dir, name) for name in names}
    codes = {c.id: c for c in our_codes(codebook)}
    answers, left_out = _reviewable(reviewed_answers(out_dir, db, corpus), texts)

    def version(c: Coding) -> str:
        return c.model_version or run.get("model_version") or "unknown"

    users = _Users.of(sorted({version(c) for c in codings}) or [run.get("model_version") or "unknown"],
                      sorted({a.reviewer for a in answers}))
    origin = "intcap (REFI-QDA 1.0 export" + (f"; {UTF16_ORIGIN_MARK})" if positions == "utf16" else ")")
    root = etree.Element(q("Project"), nsmap={None: PROJECT_NS}, name=f"intcap results {out_dir.name}",
                         origin=origin, creatingUserGUID=next(iter(users.machine.values())))
    users.add_to(root)
    add_codes(etree.SubElement(root, q("CodeBook")), list(codes.values()), PROJECT_NS)
    variables = _variables(root)

    coded = [(c.passage.company, c.passage.source) for c in codings] + [(a.company, a.source) for a in answers]
    companies: dict[str, set[str]] = {}
    for company, src in coded:
        companies.setdefault(company, set()).add(src)
    of_source: dict[str, set[str]] = {}
    for company, srcs in companies.items():
        for src in srcs:
            of_source.setdefault(src, set()).add(company)
    # a source variable only where it is unambiguous (a JSONL source may hold several companies)
    company_of = {src: next(iter(cs)) for src, cs in of_source.items() if len(cs) == 1}
    for company in profiles:
        companies.setdefault(company, set())
    cases_el = etree.SubElement(root, q("Cases")) if companies else None
    for company, srcs in companies.items():
        case = etree.SubElement(cases_el, q("Case"), guid=make_guid("case", company), name=xml_safe(company))
        prof = profiles.get(company)
        if prof:
            _value(case, variables["n_passages"], prof.get("n_passages"))
            _value(case, variables["primary_focus"], prof.get("primary_focus"))
            for code in CODES:
                cp = prof.get("codes", {}).get(code, {})
                for n, _ in CODE_VARIABLES:
                    _value(case, variables[f"{code} {n}"], cp.get(n))
        for s in sorted(srcs):
            etree.SubElement(case, q("SourceRef"), targetGUID=make_guid("source", s))

    by_source: dict[str, list[Coding]] = {}
    for c in codings:
        by_source.setdefault(c.passage.source, []).append(c)
    reviews_of: dict[str, list[Answer]] = {}
    for a in answers:
        reviews_of.setdefault(a.source, []).append(a)
    files: dict[str, str] = {}
    n_sel = n_reviewed = 0
    sources_el = etree.SubElement(root, q("Sources")) if names else None
    for name in names:
        guid = make_guid("source", name)
        text = texts[name]
        files[guid] = text
        omap = OffsetMap(text, positions)
        company = company_of.get(name, "")
        src = etree.SubElement(sources_el, q("TextSource"), guid=guid, name=xml_safe(name),
                               plainTextPath=f"internal://{guid}.txt")
        etree.SubElement(src, q("Description")).text = xml_safe(f"Company: {company}" if company else "intcap source")
        for c in sorted(by_source.get(name, []), key=lambda c: (c.passage.start, c.passage.end, c.passage.id)):
            n_sel += machine_selections(src, c, text, codes, users.machine[version(c)], version(c), omap)
        for a in sorted(reviews_of.get(name, []), key=lambda a: (a.start, a.end, a.passage_id, a.reviewer)):
            n_reviewed += reviewed_selections(src, a, codes, users.reviewers[a.reviewer], omap)
        if company:
            _value(src, variables[COMPANY_VARIABLE], company)
    encoder = run.get("encoder")
    unit = "UTF-16 code units (as NVivo counts)" if positions == "utf16" else "Unicode code points (the standard)"
    etree.SubElement(root, q("Description")).text = (
        f"intcap results of {out_dir.name}: machine codings by "
        + ", ".join(machine_user_name(v) for v in users.machine) + (f" (encoder {encoder})" if encoder else "")
        + (f"; reviewed codings by {', '.join(users.reviewers)}" if users.reviewers else "")
        + f"; positions count {unit}")
    errors = schema_errors(root, "Project.xsd")
    if errors:  # a bug here, or a codebook that breaks the schema
        raise ImportExportError(f"{out_dir}: generated project.qde is not valid against Project.xsd: {errors}")
    summary = ExportSummary(Path(), len(names), len(companies), n_sel + n_reviewed, n_reviewed,
                            len(users.reviewers), left_out, positions)
    return to_bytes(root), files, summary


def export_qdpx(out_dir: Path | str, qdpx_path: Path | str, *, codebook: CodebookLike = None,
                positions: str = "codepoints", db: str | None = None, corpus: str | None = None) -> ExportSummary:
    """Write ``out_dir``'s results as a REFI-QDA project (zip: project.qde + sources/<guid>.txt)."""
    out_dir, qdpx_path = Path(out_dir), Path(qdpx_path)
    qde, files, summary = build_project(out_dir, codebook, positions=positions, db=db, corpus=corpus)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("project.qde", _ZIP_TIME), qde, zipfile.ZIP_DEFLATED)
        for guid, text in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(f"sources/{guid}.txt", _ZIP_TIME), text.encode("utf-8"),
                        zipfile.ZIP_DEFLATED)
    atomic_write(qdpx_path, buf.getvalue())
    return replace(summary, path=qdpx_path)
