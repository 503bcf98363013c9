"""Export a results folder (passages.jsonl, profiles.json, sources/, run.json) as a .qdpx project."""
from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.records import CODES, Coding
from pipeline.refi.codebook import CodebookLike, add_codes, our_codes
from pipeline.refi.xmlutil import PROJECT_NS, atomic_write, make_guid, q, schema_errors, to_bytes

#: case variables per code, from Profile.codes[code] (name suffix, CodeProfile field, type)
CODE_VARIABLES: tuple[tuple[str, str], ...] = (
    ("coverage", "Float"), ("strength", "Float"), ("count", "Integer"),
    ("positive", "Integer"), ("negative", "Integer"), ("neutral", "Integer"),
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a re-export is byte-identical


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    n_sources: int
    n_cases: int
    n_selections: int

    def line(self) -> str:
        return (f"wrote {self.path}: {self.n_sources} text sources, {self.n_cases} cases, "
                f"{self.n_selections} coded selections (one coding each)")


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
    """Declare the case variables; returns name -> (guid, type)."""
    specs = [("n_passages", "Integer", "passages coded for the company"),
             ("primary_focus", "Text", "network, absorptive_capacity, entrepreneurship or balanced")]
    specs += [(f"{c} {n}", t, f"{c} {n} (intcap profile)") for c in CODES for n, t in CODE_VARIABLES]
    el = etree.SubElement(root, q("Variables"))
    out = {}
    for name, typ, desc in specs:
        guid = make_guid("variable", name)
        v = etree.SubElement(el, q("Variable"), guid=guid, name=name, typeOfVariable=typ)
        etree.SubElement(v, q("Description")).text = desc
        out[name] = (guid, typ)
    return out


def _value(case: etree._Element, var: tuple[str, str], value: Any) -> None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    guid, typ = var
    vv = etree.SubElement(case, q("VariableValue"))
    etree.SubElement(vv, q("VariableRef"), targetGUID=guid)
    text = _decimal(float(value)) if typ == "Float" else str(int(value)) if typ == "Integer" else str(value)
    etree.SubElement(vv, q(f"{typ}Value")).text = text


def build_project(out_dir: Path, codebook: CodebookLike = None) -> tuple[bytes, dict[str, str], ExportSummary]:
    """project.qde bytes, the source files (guid -> text) and counts, for ``out_dir``."""
    codings = read_codings(out_dir)
    run = _read_json(out_dir / "run.json", required=False) or {}
    profiles = {p["company"]: p for p in (_read_json(out_dir / "profiles.json", required=False) or [])}
    src_dir = out_dir / "sources"
    names = sorted({p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*") if p.is_file()}
                   if src_dir.is_dir() else set())
    names += sorted({c.passage.source for c in codings} - set(names))
    texts = {name: read_source(out_dir, name) for name in names}
    codes = {c.id: c for c in our_codes(codebook)}

    versions = sorted({c.model_version or run.get("model_version") or "unknown" for c in codings}) or ["unknown"]
    encoder = run.get("encoder")
    user_of = {v: make_guid("user", v) for v in versions}
    root = etree.Element(q("Project"), nsmap={None: PROJECT_NS}, name=f"intcap results {out_dir.name}",
                         origin="intcap (REFI-QDA 1.0 export)", creatingUserGUID=user_of[versions[0]])
    users = etree.SubElement(root, q("Users"))
    for v in versions:
        etree.SubElement(users, q("User"), guid=user_of[v], id=f"intcap-{v}",
                         name=f"intcap model {v}" + (f" (encoder {encoder})" if encoder else ""))
    add_codes(etree.SubElement(root, q("CodeBook")), list(codes.values()), PROJECT_NS)
    variables = _variables(root)

    companies: dict[str, set[str]] = {}
    for c in codings:
        companies.setdefault(c.passage.company, set()).add(c.passage.source)
    for company in profiles:
        companies.setdefault(company, set())
    cases_el = etree.SubElement(root, q("Cases")) if companies else None
    for company, srcs in companies.items():
        case = etree.SubElement(cases_el, q("Case"), guid=make_guid("case", company), name=company)
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
    files: dict[str, str] = {}
    n_sel = 0
    sources_el = etree.SubElement(root, q("Sources")) if names else None
    for name in names:
        guid = make_guid("source", name)
        text = texts[name]
        files[guid] = text
        company = next((c.passage.company for c in by_source.get(name, [])), "")
        src = etree.SubElement(sources_el, q("TextSource"), guid=guid, name=name,
                               plainTextPath=f"internal://{guid}.txt")
        etree.SubElement(src, q("Description")).text = f"Company: {company}" if company else "intcap source"
        for c in sorted(by_source.get(name, []), key=lambda c: (c.passage.start, c.passage.end, c.passage.id)):
            n_sel += _selections(src, c, text, codes, user_of[c.model_version or run.get("model_version") or "unknown"])
    errors = schema_errors(root, "Project.xsd")
    if errors:  # a bug here, or a codebook that breaks the schema
        raise ImportExportError(f"{out_dir}: generated project.qde is not valid against Project.xsd: {errors}")
    return to_bytes(root), files, ExportSummary(Path(), len(names), len(companies), n_sel)


def _selections(src: etree._Element, c: Coding, text: str, codes: dict, user: str) -> int:
    p = c.passage
    if not (0 <= p.start <= p.end <= len(text)) or text[p.start:p.end] != p.text:
        raise ImportExportError(
            f"passages.jsonl: passage {p.id}: text[{p.start}:{p.end}] of sources/{p.source} does not equal "
            "the passage text; expected offsets into the stored text - re-run the pipeline on this folder"
        )
    n = 0
    for code in sorted(c.assigned, key=lambda k: CODES.index(k) if k in CODES else 99):
        score = c.codes.get(code)
        if code not in codes or score is None or score.valence not in codes[code].sub_guids:
            raise ImportExportError(f"passages.jsonl: passage {p.id}: assigned code {code!r} has no score "
                                    f"with valence +/-/0 (found {score}); expected one of {CODES}")
        sel = etree.SubElement(src, q("PlainTextSelection"), guid=make_guid("selection", p.id, code),
                               name=p.id, startPosition=str(p.start), endPosition=str(p.end), creatingUser=user)
        vp = ", ".join(f"{k}={v:.3f}" for k, v in score.valence_p.items())
        etree.SubElement(sel, q("Description")).text = (
            f"{code} {score.valence}: p={score.p:.3f}; valence p: {vp}; model {c.model_version or 'unknown'}")
        coding = etree.SubElement(sel, q("Coding"), guid=make_guid("coding", p.id, code), creatingUser=user)
        etree.SubElement(coding, q("CodeRef"), targetGUID=codes[code].sub_guids[score.valence])
        n += 1
    return n


def export_qdpx(out_dir: Path | str, qdpx_path: Path | str, *, codebook: CodebookLike = None) -> ExportSummary:
    """Write ``out_dir``'s results as a REFI-QDA project (zip: project.qde + sources/<guid>.txt)."""
    out_dir, qdpx_path = Path(out_dir), Path(qdpx_path)
    qde, files, summary = build_project(out_dir, codebook)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("project.qde", _ZIP_TIME), qde, zipfile.ZIP_DEFLATED)
        for guid, text in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(f"sources/{guid}.txt", _ZIP_TIME), text.encode("utf-8"),
                        zipfile.ZIP_DEFLATED)
    atomic_write(qdpx_path, buf.getvalue())
    return ExportSummary(qdpx_path, summary.n_sources, summary.n_cases, summary.n_selections)
