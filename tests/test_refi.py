"""REFI-QDA export/import (pipeline/refi): schema validity, round trip, real NVivo file, fixtures, bad input."""
from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.paths import CODED_PASSAGES, INTERVIEWS, REFI_SCHEMAS
from pipeline.records import CODES
from pipeline.refi import export_qdc, export_qdpx, import_qdc, import_qdpx, run_export, run_import
from pipeline.refi.mapping import load_mapping, match_name
from pipeline.refi.sources import OffsetMap

NS = {"q": "urn:QDA-XML:project:1.0", "c": "urn:QDA-XML:codebook:1.0"}
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "refi"
NVIVO = Path(__file__).resolve().parents[2] / "shared" / "samples" / "nvivo12_export.qdpx"
MODEL = "thesis-test-1.0"


# ---------------------------------------------------------------- helpers
def _score(code: str, valence: str | None, pid: str) -> dict:
    if valence is None:
        return {"p": 0.05, "valence": "0", "valence_p": {"+": 0.2, "-": 0.2, "0": 0.6}}
    p = 0.55 + (sum(map(ord, pid + code)) % 40) / 100
    vp = {v: (0.8 if v == valence else 0.1) for v in ("+", "-", "0")}
    return {"p": round(p, 3), "valence": valence, "valence_p": vp}


def write_out_dir(out: Path, texts: dict[str, tuple[str, str]], rows: list[dict]) -> Path:
    """An OUT_DIR as the pipeline writes it. texts: source -> (company, stored text);
    rows: {"id","company","text","codes"} located in their source with str.find."""
    (out / "sources").mkdir(parents=True)
    for src, (_, text) in texts.items():
        (out / "sources" / src).parent.mkdir(parents=True, exist_ok=True)
        (out / "sources" / src).write_bytes(text.encode("utf-8"))
    cursor: dict[str, int] = {}
    lines, per_company = [], {}
    for r in rows:
        src = r["source"]
        start = texts[src][1].find(r["text"], cursor.get(src, 0))
        assert start >= 0, r["id"]
        cursor[src] = start + len(r["text"])
        codes = {c: _score(c, r["codes"].get(c), r["id"]) for c in CODES}
        lines.append({"id": r["id"], "company": r["company"], "source": src, "speaker": None,
                      "start": start, "end": start + len(r["text"]), "text": r["text"], "codes": codes,
                      "assigned": [c for c in CODES if c in r["codes"]], "evidence": {}, "model_version": MODEL})
        per_company.setdefault(r["company"], []).append(r["codes"])
    (out / "passages.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                                        encoding="utf-8")
    profiles = []
    for company, coded in per_company.items():
        cps = {}
        for c in CODES:
            vals = [x[c] for x in coded if c in x]
            cps[c] = {"coverage": len(vals) / len(coded), "strength": 0.5, "count": len(vals),
                      "positive": vals.count("+"), "negative": vals.count("-"), "neutral": vals.count("0"),
                      "evidence": []}
        profiles.append({"company": company, "n_passages": len(coded), "primary_focus": "balanced", "codes": cps})
    (out / "profiles.json").write_text(json.dumps(profiles, ensure_ascii=False), encoding="utf-8")
    (out / "run.json").write_text(json.dumps({"model_version": MODEL, "encoder": "all-MiniLM-L6-v2"}))
    return out


def thesis_out_dir(out: Path) -> Path:
    with open(INTERVIEWS / "manifest.csv", encoding="utf-8") as fh:
        manifest = {r["company"]: r["file"] for r in csv.DictReader(fh)}
    texts = {f: (c, (INTERVIEWS / f).read_bytes().decode("utf-8")) for c, f in manifest.items()}
    rows = [json.loads(line) for line in CODED_PASSAGES.read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        r["source"] = manifest[r["company"]]
    return write_out_dir(out, texts, rows)


def zip_dir(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return dest


def qde_of(qdpx: Path) -> etree._Element:
    with zipfile.ZipFile(qdpx) as zf:
        return etree.fromstring(zf.read("project.qde"))


def key(e: dict) -> tuple:
    return (e["source"], e["start"], e["end"], e["text"], tuple(sorted(e["codes"].items())))


@pytest.fixture(scope="module")
def thesis(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("thesis")
    out = thesis_out_dir(base / "OUT")
    summary = export_qdpx(out, base / "thesis.qdpx")
    export_qdc(base / "thesis.qdc")
    rows = [json.loads(x) for x in (out / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"out": out, "qdpx": base / "thesis.qdpx", "qdc": base / "thesis.qdc", "rows": rows, "summary": summary}


# ---------------------------------------------------------------- export
def test_export_thesis_valid_against_schema(thesis):
    root = qde_of(thesis["qdpx"])
    schema = etree.XMLSchema(etree.parse(str(REFI_SCHEMAS / "Project.xsd")))
    assert schema.validate(root), schema.error_log
    assert len(root.findall("q:Cases/q:Case", NS)) == 14
    n_assigned = sum(len(r["assigned"]) for r in thesis["rows"])
    assert n_assigned == 281
    assert len(root.findall(".//q:PlainTextSelection/q:Coding", NS)) == n_assigned
    assert thesis["summary"].n_selections == n_assigned and thesis["summary"].n_cases == 14
    with zipfile.ZipFile(thesis["qdpx"]) as zf:
        for src in root.findall("q:Sources/q:TextSource", NS):
            guid = src.get("guid")
            assert src.get("plainTextPath") == f"internal://{guid}.txt"
            stored = zf.read(f"sources/{guid}.txt")
            assert stored == (thesis["out"] / "sources" / src.get("name")).read_bytes()
    user = root.find("q:Users/q:User", NS).get("name")
    assert MODEL in user and "all-MiniLM-L6-v2" in user
    desc = root.find(".//q:PlainTextSelection/q:Description", NS).text
    assert "p=0." in desc and MODEL in desc
    case = root.find("q:Cases/q:Case", NS)
    assert len(case.findall("q:VariableValue", NS)) == 2 + 4 * 6 and case.findall("q:SourceRef", NS)
    # codebook: four non-codable parents, each with three valence sub-codes
    parents = root.findall("q:CodeBook/q:Codes/q:Code", NS)
    assert [p.get("name").split()[0] for p in parents] == list(CODES)
    assert [c.get("name") for c in parents[0].findall("q:Code", NS)] == ["NET +", "NET -", "NET 0"]


def test_export_is_deterministic(thesis, tmp_path):
    again = export_qdpx(thesis["out"], tmp_path / "again.qdpx").path
    assert again.read_bytes() == thesis["qdpx"].read_bytes()


def test_qdc_valid_against_schema(thesis):
    root = etree.parse(str(thesis["qdc"]))
    schema = etree.XMLSchema(etree.parse(str(REFI_SCHEMAS / "Codebook.xsd")))
    assert schema.validate(root), schema.error_log
    assert len(root.findall(".//c:Code", NS)) == 16
    report = import_qdc(thesis["qdc"])
    assert {m.path.split("/")[-1]: m.target for m in report.codes}["ABS -"] == "ABS -"
    assert report.counts() == {c: 4 for c in CODES}


# ---------------------------------------------------------------- round trip
def test_round_trip_thesis(thesis):
    result = import_qdpx(thesis["qdpx"])
    want = {(r["source"], r["start"], r["end"], r["text"],
             tuple(sorted((c, r["codes"][c]["valence"]) for c in r["assigned"])))
            for r in thesis["rows"] if r["assigned"]}
    assert {key(e) for e in result.examples} == want
    assert len(result.examples) == len(want) and not result.skipped
    by_span = {(r["source"], r["start"]): r["company"] for r in thesis["rows"]}
    assert all(by_span[(e["source"], e["start"])] == e["company"] for e in result.examples)
    assert {e["coder"] for e in result.examples} == {f"intcap model {MODEL} (encoder all-MiniLM-L6-v2)"}


def test_round_trip_crlf_lf_non_ascii_and_astral(tmp_path):
    crlf = "Q: Hvem?\r\nA: Vores partner i Århus 🚀🚀 åbnede døre.\r\nA: Æble-eksport til Norge 😀 fejlede.\r\n"
    lf = "Q: Who?\nA: 🙂 Our agent Øystein found buyers.\n"
    texts = {"crlf/one.txt": ("Ærø ApS", crlf), "two.txt": ("Ærø ApS", lf)}
    rows = [
        {"id": "x-1", "company": "Ærø ApS", "source": "crlf/one.txt", "codes": {"NET": "+", "ENT": "0"},
         "text": "Vores partner i Århus 🚀🚀 åbnede døre.\r\nA: Æble-eksport"},
        {"id": "x-2", "company": "Ærø ApS", "source": "crlf/one.txt", "codes": {"PRI": "-"},
         "text": "Norge 😀 fejlede."},
        {"id": "x-3", "company": "Ærø ApS", "source": "two.txt", "codes": {"ABS": "0"},
         "text": "Our agent Øystein found buyers."},
    ]
    out = write_out_dir(tmp_path / "OUT", texts, rows)
    qdpx = export_qdpx(out, tmp_path / "x.qdpx").path
    sel = qde_of(qdpx).findall(".//q:PlainTextSelection", NS)
    starts = {s.get("name"): int(s.get("startPosition")) for s in sel}
    assert starts["x-2"] == crlf.index("Norge")  # code points, CRLF counted as two
    assert starts["x-3"] == lf.index("Our")
    got = import_qdpx(qdpx).examples
    assert [(e["text"], e["codes"]) for e in got] == [(r["text"], r["codes"]) for r in rows]
    assert all(texts[e["source"]][1][e["start"]:e["end"]] == e["text"] for e in got)


# ---------------------------------------------------------------- real NVivo 12 export
NVIVO_MAP = {
    "2. Distrust": "NET -",  # parent: its sub-codes follow it
    "+Government": "NET +",  # a sub-code's own mapping wins over its parent's
    "Untrustworthy data": "",  # ignored although its parent is mapped
    "911. Reactance": "ENT",  # no valence -> 0
    "HBM 4. Perceived Barriers – Észlelt akadályok": "PRI -",
    "piros": "ABS -", "sárga": "ABS 0", "zöld": "ABS +",
}


def _nvivo_expected(root: etree._Element, mapping: dict[str, str]) -> dict[tuple, dict[str, str]]:
    """Independent count: nearest mapped ancestor-or-self code; group by span and coder."""
    code_el = {c.get("guid"): c for c in root.iter("{%s}Code" % NS["q"])}
    groups: dict[tuple, dict[str, str]] = {}
    for src in root.findall("q:Sources/q:TextSource", NS):
        for sel in src.findall("q:PlainTextSelection", NS):
            for coding in sel.findall("q:Coding", NS):
                el = code_el[coding.find("q:CodeRef", NS).get("targetGUID")]
                while el is not None and el.tag.endswith("Code") and el.get("name") not in mapping:
                    el = el.getparent()
                target = mapping.get(el.get("name")) if el is not None and el.tag.endswith("Code") else None
                if not target:
                    continue
                code, _, val = target.partition(" ")
                g = groups.setdefault((src.get("guid"), sel.get("startPosition"), sel.get("endPosition"),
                                       coding.get("creatingUser")), {})
                g.setdefault(code, val or "0")
    return groups


@pytest.mark.skipif(not NVIVO.is_file(), reason="../shared/samples/nvivo12_export.qdpx not present")
def test_nvivo12_sample_every_coding_read_offsets_right():
    root = qde_of(NVIVO)
    n_codings = len(root.findall("q:Sources/q:TextSource/q:PlainTextSelection/q:Coding", NS))
    result = import_qdpx(NVIVO)
    assert result.n_text_sources == 2 and result.offsets == "utf16"
    assert result.n_codings == n_codings == 330  # the sample holds 330 codings (SOURCES.md says 607)
    assert result.n_mapped_codings == 0 and sum(result.unmapped.values()) == n_codings
    # offsets: recompute every slice independently as UTF-16 units of the BOM-less text
    with zipfile.ZipFile(NVIVO) as zf:
        texts = {s.get("guid"): zf.read(f"Sources/{s.get('guid')}.txt").decode("utf-8-sig")
                 for s in root.findall("q:Sources/q:TextSource", NS)}
    unit_slices, boundary_ok, differs = [], 0, 0
    for src in root.findall("q:Sources/q:TextSource", NS):
        text = texts[src.get("guid")]
        u16 = text.encode("utf-16-le")
        for sel in src.findall("q:PlainTextSelection", NS):
            a, b = int(sel.get("startPosition")), int(sel.get("endPosition"))
            piece = u16[2 * a:2 * b].decode("utf-16-le")
            assert piece.strip(), (a, b)
            unit_slices.append(piece)
            start = text.index(piece, max(0, a - 2000))
            ok_a = start == 0 or not (text[start - 1].isalnum() and piece[0].isalnum())
            ok_b = not (piece[-1].isalnum() and text[start + len(piece)].isalnum())
            boundary_ok += ok_a and ok_b
            differs += text[a:b] != piece
    assert boundary_ok >= 0.98 * n_codings  # selections start and end on word boundaries
    assert differs > 100  # emoji earlier in the text: code-point reading would drift
    assert unit_slices[0].startswith("Senkit nem lehet kötelezni oltásra") and unit_slices[0].endswith("élhet.")
    # with a mapping of some codes: the examples counted from the XML independently
    mapped = import_qdpx(NVIVO, NVIVO_MAP)
    expected = _nvivo_expected(root, NVIVO_MAP)
    assert len(mapped.examples) == len(expected) > 50
    users = {u.get("guid"): u.get("name") for u in root.iter("{%s}User" % NS["q"])}
    sel_text = dict(zip(((s.getparent().get("guid"), s.get("startPosition"), s.get("endPosition"))
                         for s in root.iter("{%s}PlainTextSelection" % NS["q"])), unit_slices))
    want = sorted((sel_text[k[:3]], users[k[3]], tuple(sorted(v.items()))) for k, v in expected.items())
    got = sorted((e["text"], e["coder"], tuple(sorted(e["codes"].items()))) for e in mapped.examples)
    assert got == want
    assert {c for e in mapped.examples for c in e["codes"]} == {"NET", "ENT", "PRI", "ABS"}
    assert not mapped.warnings
