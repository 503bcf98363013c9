"""REFI-QDA export/import (pipeline/refi): schema validity, round trip, real NVivo files, provenance,
fixtures, bad input."""
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
from pipeline.refi.xmlutil import make_guid

NS = {"q": "urn:QDA-XML:project:1.0", "c": "urn:QDA-XML:codebook:1.0"}
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "refi"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"  # ../shared/samples; absent for users
NVIVO = SAMPLES / "nvivo12_export.qdpx"
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
    assert [u.get("name") for u in root.findall("q:Users/q:User", NS)] == [f"intcap model {MODEL}"]
    assert "all-MiniLM-L6-v2" in root.find("q:Description", NS).text
    desc = root.find(".//q:PlainTextSelection/q:Description", NS).text
    assert "p=0." in desc and MODEL in desc
    case = root.find("q:Cases/q:Case", NS)
    assert len(case.findall("q:VariableValue", NS)) == 2 + 4 * 6 and case.findall("q:SourceRef", NS)
    assert all(s.find("q:VariableValue/q:TextValue", NS) is not None  # the company, also as a source variable
               for s in root.findall("q:Sources/q:TextSource", NS))
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
    assert import_qdpx(thesis["qdpx"]).examples == []  # every coding is the model's
    result = import_qdpx(thesis["qdpx"], include_machine=True)
    want = {(r["source"], r["start"], r["end"], r["text"],
             tuple(sorted((c, r["codes"][c]["valence"]) for c in r["assigned"])))
            for r in thesis["rows"] if r["assigned"]}
    assert {key(e) for e in result.examples} == want
    assert len(result.examples) == len(want) and not result.skipped
    by_span = {(r["source"], r["start"]): r["company"] for r in thesis["rows"]}
    assert all(by_span[(e["source"], e["start"])] == e["company"] for e in result.examples)
    assert {e["coder"] for e in result.examples} == {f"intcap model {MODEL}"}
    assert all(e["machine"] for e in result.examples) and result.n_machine_skipped == 0


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
    got = import_qdpx(qdpx, include_machine=True).examples
    assert [(e["text"], e["codes"]) for e in got] == [(r["text"], r["codes"]) for r in rows]
    assert all(texts[e["source"]][1][e["start"]:e["end"]] == e["text"] for e in got)


def test_stray_control_characters_export_valid_and_reimport_exactly(tmp_path):
    """A transcript may carry a NUL or another control byte (XML cannot hold them): the source file
    keeps them, names and descriptions show U+FFFD, and the spans come back exactly."""
    text = "Q: Start?\nA: Our agent in Lyon\x01 brought us to Spain.\x00\nA: We had no one abroad.\n"
    rows = [{"id": "c-1", "company": "Ctrl\x02 ApS", "source": "ctrl.txt", "codes": {"NET": "+"},
             "text": "Our agent in Lyon\x01 brought us to Spain.\x00"},
            {"id": "c-2", "company": "Ctrl\x02 ApS", "source": "ctrl.txt", "codes": {"PRI": "-"},
             "text": "We had no one abroad."}]
    out = write_out_dir(tmp_path / "OUT", {"ctrl.txt": ("Ctrl\x02 ApS", text)}, rows)
    lines = [json.loads(x) for x in (out / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    lines[0]["evidence"] = {"NET": [lines[0]["start"], lines[0]["end"]]}  # the evidence quotes the control bytes
    (out / "passages.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    qdpx = export_qdpx(out, tmp_path / "ctrl.qdpx").path
    root = qde_of(qdpx)
    schema = etree.XMLSchema(etree.parse(str(REFI_SCHEMAS / "Project.xsd")))
    assert schema.validate(root), schema.error_log
    assert root.find("q:Cases/q:Case", NS).get("name") == "Ctrl\ufffd ApS"
    assert 'Lyon\ufffd brought us to Spain.\ufffd"' in root.find(".//q:PlainTextSelection/q:Description", NS).text
    with zipfile.ZipFile(qdpx) as zf:
        assert text.encode() in [zf.read(n) for n in zf.namelist() if n.startswith("sources/")]
    got = import_qdpx(qdpx, include_machine=True).examples
    assert [(e["text"], e["codes"]) for e in got] == [(r["text"], r["codes"]) for r in rows]


# ---------------------------------------------------------------- provenance: machine, human, reviewed
INTCAP_OUT = FIXTURES / "intcap_out"
FIXTURE_MODEL = "c6e9bd043ed7"


def fixture_rows() -> list[dict]:
    return [json.loads(x) for x in (INTCAP_OUT / "passages.jsonl").read_text(encoding="utf-8").splitlines()]


def selections_of(root: etree._Element) -> list[etree._Element]:
    return root.findall("q:Sources/q:TextSource/q:PlainTextSelection", NS)


def test_exported_codings_carry_model_coder_and_evidence(tmp_path):
    root = qde_of(export_qdpx(INTCAP_OUT, tmp_path / "p.qdpx").path)
    assert [u.get("name") for u in root.findall("q:Users/q:User", NS)] == [f"intcap model {FIXTURE_MODEL}"]
    user = root.find("q:Users/q:User", NS).get("guid")
    rows = {r["id"]: r for r in fixture_rows()}
    sels = selections_of(root)
    assert len(sels) == sum(len(r["assigned"]) for r in rows.values()) == 8
    for sel in sels:
        row = rows[sel.get("name")]
        code = sel.find("q:Description", NS).text.split()[0]
        a, b = row["evidence"][code]
        sentence = (INTCAP_OUT / "sources" / row["source"]).read_bytes().decode("utf-8")[a:b]
        desc = sel.find("q:Description", NS).text
        assert f"model {FIXTURE_MODEL}" in desc and f"{row['coder']} coder, language {row['language']}" in desc
        assert desc.endswith(f'evidence: "{sentence}"') and sentence == row["evidence_text"][code]
        assert sel.get("creatingUser") == sel.find("q:Coding", NS).get("creatingUser") == user
    assert {rows[s.get("name")]["coder"] for s in sels} == {"english", "multilingual"}


def test_intcap_export_reimported_gives_no_examples_by_default(tmp_path):
    qdpx = export_qdpx(INTCAP_OUT, tmp_path / "p.qdpx").path
    out = tmp_path / "examples.jsonl"
    summary = run_import(qdpx, None, None, out)
    assert out.read_text(encoding="utf-8") == ""
    assert "0 examples from 0 of 8 codings" in summary
    assert "skipped 8 machine coding(s) by intcap model users (--include-machine imports them)" in summary
    result = import_qdpx(qdpx)
    assert result.machine_skipped == {f"intcap model {FIXTURE_MODEL}": 8}
    assert ("8 coding(s) by 'intcap model c6e9bd043ed7'",
            "machine codings of an intcap model; --include-machine imports them") in result.skipped
    every = import_qdpx(qdpx, include_machine=True).examples
    assert len(every) == 6 and all(e["machine"] for e in every)  # six coded passages, n-04 has no code


def test_coding_changed_by_a_named_human_is_the_only_example(tmp_path):
    qdpx = zip_dir(FIXTURES / "human_edit", tmp_path / "edited.qdpx")
    result = import_qdpx(qdpx)
    n02 = next(r for r in fixture_rows() if r["id"] == "n-02")
    assert [(e["coder"], e["machine"], e["company"], e["text"], e["codes"], e["start"], e["end"])
            for e in result.examples] == [
        ("Karen Holm", False, "Northbeam Optics Ltd", n02["text"], {"PRI": "0"}, n02["start"], n02["end"])]
    assert result.n_machine_skipped == 7 and result.n_codings == 8
    both = import_qdpx(qdpx, include_machine=True).examples
    assert len(both) == 6 and [e["coder"] for e in both if not e["machine"]] == ["Karen Holm"]
    assert not any(e["start"] == n02["start"] and e["machine"] for e in both)  # her coding replaced the model's


def _add_human(root: etree._Element, name: str) -> str:
    guid = "00000000-0000-4000-8000-00000000beef"
    etree.SubElement(root.find("q:Users", NS), "{%s}User" % NS["q"], guid=guid, name=name)
    return guid


def _rezip(qdpx: Path, root: etree._Element, dest: Path) -> Path:
    with zipfile.ZipFile(qdpx) as src, zipfile.ZipFile(dest, "w") as zf:
        for name in src.namelist():
            zf.writestr(name, etree.tostring(root, xml_declaration=True, encoding="UTF-8")
                        if name == "project.qde" else src.read(name))
    return dest


def test_a_human_coding_over_the_models_span_counts_as_human(tmp_path):
    qdpx = export_qdpx(INTCAP_OUT, tmp_path / "p.qdpx").path
    root = qde_of(qdpx)
    ole = _add_human(root, "Ole")
    machine_sel = root.find(".//q:PlainTextSelection[@name='h-03']", NS)
    mine = etree.fromstring(etree.tostring(machine_sel))  # Ole codes the same span, with another code
    mine.set("guid", "00000000-0000-4000-8000-0000000000a1")
    mine.set("creatingUser", ole)
    coding = mine.find("q:Coding", NS)
    coding.set("guid", "00000000-0000-4000-8000-0000000000a2")
    coding.set("creatingUser", ole)
    coding.find("q:CodeRef", NS).set("targetGUID", make_guid("code", "NET", "+"))
    machine_sel.addnext(mine)
    moved = root.find(".//q:PlainTextSelection[@name='n-03']", NS)
    moved.set("modifyingUser", ole)  # Ole moved the ends of the model's selection: it is his now
    got = import_qdpx(_rezip(qdpx, root, tmp_path / "ole.qdpx"))
    h03 = next(r for r in fixture_rows() if r["id"] == "h-03")
    assert sorted((e["coder"], e["text"], e["codes"]) for e in got.examples) == sorted([
        ("Ole", h03["text"], {"NET": "+"}),
        ("Ole", "Now we read every tender 📄 and keep a log of what each market demands, so the second "
                "product went through in six weeks.", {"ABS": "+"})])
    assert got.n_machine_skipped == 7  # the model's own ENT + on h-03 stays a machine coding


def test_reviewed_codings_are_exported_under_their_reviewer(tmp_path):
    from pipeline.outputs import read_codings
    from pipeline.review.store import LabelStore

    out = tmp_path / "OUT"
    shutil.copytree(INTCAP_OUT, out)
    codings = {c.passage.id: c for c in read_codings(out)}
    store = LabelStore.open(out)
    try:
        store.record("OUT", codings["n-01"], {"NET": "+", "ENT": "-"}, "Karen Holm")
        store.record("OUT", codings["h-02"], {"PRI": "-", "ABS": "+"}, "Jonas Brink")
        store.record("OUT", codings["n-04"], {}, "Jonas Brink")  # no code applies: nothing to code in QDA
        store.record("OUT", codings["h-01"], {"NET": "0"}, "Karen Holm")
        store.undo_last("OUT", "Karen Holm")  # undone: not exported
    finally:
        store.close()
    summary = export_qdpx(out, tmp_path / "r.qdpx")
    assert (summary.n_selections, summary.n_reviewed, summary.n_reviewers, summary.reviews_left_out) == (12, 4, 2, 1)
    assert "12 coded selections (one coding each, 4 of them by 2 reviewer(s))" in summary.line()
    root = qde_of(summary.path)
    assert [u.get("name") for u in root.findall("q:Users/q:User", NS)] == [
        f"intcap model {FIXTURE_MODEL}", "Jonas Brink", "Karen Holm"]
    result = import_qdpx(summary.path)  # machine codings skipped: the reviewers' remain
    got = sorted((e["coder"], e["start"], e["codes"], e["company"]) for e in result.examples)
    assert got == [("Jonas Brink", codings["h-02"].passage.start, {"ABS": "+", "PRI": "-"}, "Hvidsand Keramik ApS"),
                   ("Karen Holm", codings["n-01"].passage.start, {"NET": "+", "ENT": "-"}, "Northbeam Optics Ltd")]
    assert result.n_machine_skipped == 8
    desc = root.find(".//q:PlainTextSelection[@name='n-01'][@creatingUser='%s']/q:Description"
                     % make_guid("user", "reviewer", "Karen Holm"), NS).text
    assert "reviewed by Karen Holm" in desc and f"changes the suggestion of model {FIXTURE_MODEL}" in desc
    with pytest.raises(ImportExportError, match="no such label database"):
        export_qdpx(out, tmp_path / "typo.qdpx", db=str(tmp_path / "lables.sqlite"))
    assert not (tmp_path / "lables.sqlite").exists() and not (tmp_path / "typo.qdpx").exists()


# ---------------------------------------------------------------- round trips: company, positions, CRLF
def test_company_survives_when_cases_lose_their_source_refs(tmp_path):
    qdpx = zip_dir(FIXTURES / "no_case_links", tmp_path / "qualcoder_like.qdpx")
    root = qde_of(qdpx)
    assert not root.findall("q:Cases/q:Case/q:SourceRef", NS) and root.findall("q:Cases/q:Case", NS)
    result = import_qdpx(qdpx, include_machine=True)
    companies = {r["id"]: r["company"] for r in fixture_rows()}
    by_start = {(r["source"], r["start"]): r["company"] for r in fixture_rows()}
    assert len(result.examples) == 6
    assert all(e["company"] == by_start[(e["source"], e["start"])] for e in result.examples)
    assert {e["company"] for e in result.examples} == set(companies.values())
    # the source variable is what carried it: without it, the file name is all that is left
    for vv in root.iter("{%s}VariableValue" % NS["q"]):
        if vv.getparent().tag.endswith("TextSource"):
            vv.getparent().remove(vv)
    bare = import_qdpx(_rezip(qdpx, root, tmp_path / "bare.qdpx"), include_machine=True)
    assert {e["company"] for e in bare.examples} == {"hvidsand", "northbeam"}


def test_case_membership_wins_over_the_source_variable(tmp_path):
    qdpx = export_qdpx(INTCAP_OUT, tmp_path / "p.qdpx").path
    root = qde_of(qdpx)
    case = next(c for c in root.findall("q:Cases/q:Case", NS) if c.get("name") == "Northbeam Optics Ltd")
    case.set("name", "Northbeam (renamed in NVivo)")
    got = import_qdpx(_rezip(qdpx, root, tmp_path / "renamed.qdpx"), include_machine=True)
    assert {e["company"] for e in got.examples if e["source"] == "northbeam.txt"} == {"Northbeam (renamed in NVivo)"}


def _utf16_units(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def test_positions_utf16_export_reimports_exactly_with_emoji(tmp_path):
    from intcap.cli import main

    qdpx = tmp_path / "nvivo.qdpx"
    assert main(["export", "--from", str(INTCAP_OUT), "--qdpx", str(qdpx), "--positions", "utf16"]) == 0
    root = qde_of(qdpx)
    assert "UTF-16" in root.get("origin")
    rows = {r["id"]: r for r in fixture_rows()}
    texts = {n: (INTCAP_OUT / "sources" / n).read_bytes().decode("utf-8") for n in ("hvidsand.txt", "northbeam.txt")}
    drift = 0
    for sel in selections_of(root):
        r = rows[sel.get("name")]
        assert int(sel.get("startPosition")) == _utf16_units(texts[r["source"]], r["start"])
        assert int(sel.get("endPosition")) == _utf16_units(texts[r["source"]], r["end"])
        drift += int(sel.get("startPosition")) != r["start"]
    assert drift >= 4  # emoji before these passages: the two countings differ there
    want = sorted((r["source"], r["start"], r["end"], r["text"]) for r in rows.values() if r["assigned"])
    for forced in ([], ["--positions", "utf16"]):  # detected from the origin, or forced
        out = tmp_path / "ex.jsonl"
        assert main(["import", "--qdpx", str(qdpx), "--include-machine", "--out", str(out)] + forced) == 0
        got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert sorted((e["source"], e["start"], e["end"], e["text"]) for e in got) == want
    with pytest.raises(ImportExportError, match="lies outside its text"):  # read as code points, it drifts off
        import_qdpx(qdpx, offsets="codepoints", include_machine=True)


@pytest.mark.parametrize("positions", ["codepoints", "utf16"])
def test_crlf_source_round_trips_with_exact_spans(tmp_path, positions):
    stored = (INTCAP_OUT / "sources" / "hvidsand.txt").read_bytes()
    assert stored.count(b"\r\n") == stored.count(b"\n") == 7
    qdpx = export_qdpx(INTCAP_OUT, tmp_path / "p.qdpx", positions=positions).path
    root = qde_of(qdpx)
    guid = next(s.get("guid") for s in root.findall("q:Sources/q:TextSource", NS) if s.get("name") == "hvidsand.txt")
    with zipfile.ZipFile(qdpx) as zf:
        assert zf.read(f"sources/{guid}.txt") == stored  # line endings kept byte for byte
    text = stored.decode("utf-8")
    got = [e for e in import_qdpx(qdpx, include_machine=True).examples if e["source"] == "hvidsand.txt"]
    want = [r for r in fixture_rows() if r["source"] == "hvidsand.txt"]
    assert [(e["start"], e["end"], e["text"]) for e in got] == [(r["start"], r["end"], r["text"]) for r in want]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in got)
    assert "\r\n" in got[1]["text"]  # h-02 spans a line break


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


#: the two pristine NVivo 12 exports in ../shared/samples (SOURCES.md): file, codings, origin
PRISTINE_NVIVO = [("nvivo12_win_export.qdpx", 303, "NVivo for Windows 12.6"),
                  ("nvivo12_mac_export.qdpx", 297, "NVivo for Mac 12.7.0")]


def _on_word_boundaries(text: str, start: int, end: int) -> bool:
    return (0 <= start < end <= len(text)
            and (start == 0 or not (text[start - 1].isalnum() and text[start].isalnum()))
            and (end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())))


@pytest.mark.parametrize("name, n_codings, origin", PRISTINE_NVIVO)
def test_pristine_nvivo_exports_import_every_coding_on_word_boundaries(name, n_codings, origin):
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"../shared/samples/{name} not present")
    root = qde_of(path)
    assert len(root.findall("q:Sources/q:TextSource/q:PlainTextSelection/q:Coding", NS)) == n_codings
    result = import_qdpx(path)
    assert (result.origin, result.offsets, result.n_text_sources) == (origin, "utf16", 2)
    assert result.n_codings == n_codings and result.n_machine_skipped == 0  # NVivo users are people
    assert result.n_mapped_codings == 0 and sum(result.unmapped.values()) == n_codings  # a Hungarian codebook
    # map every top-level code onto NET, so that every selection becomes (part of) an example
    top = {c.get("name"): "NET" for c in root.findall("q:CodeBook/q:Codes/q:Code", NS)}
    every = import_qdpx(path, top)
    assert every.n_mapped_codings == n_codings and not every.warnings
    with zipfile.ZipFile(path) as zf:
        members = {m.casefold(): m for m in zf.namelist()}
        texts = {s.get("name"): zf.read(members["sources/" + s.get("plainTextPath").split("://")[1].casefold()])
                 .decode("utf-8-sig") for s in root.findall("q:Sources/q:TextSource", NS)}
    # independently: each selection read as UTF-16 units of the BOM-less text
    want = set()
    for src in root.findall("q:Sources/q:TextSource", NS):
        u16 = texts[src.get("name")].encode("utf-16-le")
        for sel in src.findall("q:PlainTextSelection", NS):
            a, b = int(sel.get("startPosition")), int(sel.get("endPosition"))
            want.add((src.get("name"), u16[2 * a:2 * b].decode("utf-16-le")))
    assert {(e["source"], e["text"]) for e in every.examples} == want
    assert all(texts[e["source"]][e["start"]:e["end"]] == e["text"] and e["text"].strip() for e in every.examples)
    on_words = sum(_on_word_boundaries(texts[e["source"]], e["start"], e["end"]) for e in every.examples)
    assert on_words >= 0.98 * len(every.examples)  # 185 of 188 spans (Windows), 184 of 187 (Mac)
    read_as_code_points = import_qdpx(path, top, offsets="codepoints").examples
    assert sum(_on_word_boundaries(texts[e["source"]], e["start"], e["end"])
               for e in read_as_code_points) < 0.3 * len(read_as_code_points)
    # with the mapping of some codes: the examples counted from the XML independently
    assert len(import_qdpx(path, NVIVO_MAP).examples) == len(_nvivo_expected(root, NVIVO_MAP)) > 50


# ---------------------------------------------------------------- fixtures in the style of ATLAS.ti and MAXQDA
@pytest.fixture()
def atlas_qdpx(tmp_path) -> Path:
    return zip_dir(FIXTURES / "atlas", tmp_path / "atlas.qdpx")


@pytest.fixture()
def maxqda_qdpx(tmp_path) -> Path:
    shutil.copy(FIXTURES / "maxqda_external" / "interview_d.txt", tmp_path / "interview_d.txt")
    return zip_dir(FIXTURES / "maxqda", tmp_path / "maxqda.qdpx")


def test_atlas_style_project(atlas_qdpx):
    r = import_qdpx(atlas_qdpx)
    assert r.offsets == "codepoints" and r.n_codings == 8 and r.n_text_sources == 2
    got = [(e["company"], e["coder"], e["text"], e["codes"]) for e in r.examples]
    oslo = "Through Søren 🙂, an old friend from the embassy in Oslo."
    assert got == [
        ("Fjordfisk ApS", "Anna", oslo, {"NET": "+"}),  # nested "Networks" > "positive"
        ("Fjordfisk ApS", "Bo", oslo, {"NET": "+", "ENT": "0"}),  # second coder kept apart; child via parent
        ("Fjordfisk ApS", "Bo", "He introduced us to our Norwegian distributor.\r\n\r\nQ: Did you plan the entry?",
         {"NET": "0"}),  # parent coded itself; CRLF kept inside the span
        ("Fjordfisk ApS", "Anna", "we only reacted when Ærø Trading called us.", {"ENT": "-"}),
        ("Fjordfisk ApS", "Anna", "We have no experience with export.", {"PRI": "-"}),
        ("Ærø Mølle A/S", "Anna", "Our German agent opened doors for us in Hamburg 🇩🇪.", {"NET": "+"}),
    ]
    assert r.unmapped == {"Misc": 1}
    assert [w for w, _ in r.skipped if "picture" in w] == ["picture source 'factory.jpg'"]
    # ATLAS.ti names a quotation by its first characters: the name matches our slice
    spans = {(e["start"], e["end"]): e["text"] for e in r.examples}
    sels = list(qde_of(atlas_qdpx).iter("{%s}PlainTextSelection" % NS["q"]))
    checked = [s for s in sels if (int(s.get("startPosition")), int(s.get("endPosition"))) in spans]
    assert len(checked) == len(sels) == 7
    assert all(spans[int(s.get("startPosition")), int(s.get("endPosition"))].startswith(s.get("name"))
               for s in checked)


def test_maxqda_style_project(maxqda_qdpx):
    r = import_qdpx(maxqda_qdpx, sources_dir=maxqda_qdpx.parent)
    assert r.n_text_sources == 3 and r.n_codings == 7
    got = [(e["company"], e["source"], e["coder"], e["text"], e["codes"]) for e in r.examples]
    assert got == [
        ("Vitus_Jens", "Vitus_Jens.txt", "Jens Koder",  # two selections of one span merged
         "Vi brugte Vitus-programmet til en markedsanalyse 📊 af Sverige.", {"ENT": "0", "ABS": "+"}),
        ("Vitus_Jens", "Vitus_Jens.txt", "Mia", "Før det havde vi ingen erfaring med eksport", {"PRI": "-"}),
        ("Vitus_Jens", "Vitus_Jens.txt", "Mia", "vores direktør havde arbejdet i Malmø", {"PRI": "+"}),
        ("Nordlys", "Nordlys.docx", "Mia", "We opened an office in Singapore 🦁 last year.", {"ENT": "0"}),
    ]
    whats = [w for w, _ in r.skipped]
    assert "PDF source 'brochure.pdf'" in whats and "text source 'Vitus_Jens.txt'" in whats
    assert r.unmapped == {"Tema: økonomi": 2}  # the relative:// source's only coding is unmapped


def test_maxqda_with_csv_mapping(maxqda_qdpx, tmp_path):
    m = tmp_path / "map.csv"
    m.write_text("their code;ours\nTema: økonomi;NET +\nENT;\n", encoding="utf-8")
    r = import_qdpx(maxqda_qdpx, m, sources_dir=maxqda_qdpx.parent)
    texts = {e["text"]: (e["company"], e["codes"]) for e in r.examples}
    assert texts["Our Danish bank introduced us to importers in Texas."] == ("Lone Star Foods", {"NET": "+"})
    assert texts["vores direktør havde arbejdet i Malmø"] == ("Vitus_Jens", {"NET": "+", "PRI": "+"})
    assert "We opened an office in Singapore 🦁 last year." not in texts  # ENT ignored by the mapping
    assert texts["Vi brugte Vitus-programmet til en markedsanalyse 📊 af Sverige."][1] == {"ABS": "+"}
    j = tmp_path / "map.json"
    j.write_text(json.dumps({"Tema: økonomi": "ENT -", "Nope": "PRI"}), encoding="utf-8")
    r2 = import_qdpx(maxqda_qdpx, j, sources_dir=maxqda_qdpx.parent)
    got = {e["text"]: e["codes"] for e in r2.examples}
    assert got["vores direktør havde arbejdet i Malmø"] == {"ENT": "-", "PRI": "+"}  # mapped + by name
    assert got["Our Danish bank introduced us to importers in Texas."] == {"ENT": "-"}
    assert r2.warnings == ["mapping entry 'Nope' names no code in this project"]


def test_mapping_and_names():
    assert match_name("NET +") == ("NET", "+") and match_name("ENT: negative") == ("ENT", "-")
    assert match_name("Prior knowledge \u2212") == ("PRI", "-") and match_name("Networks") == ("NET", None)
    assert match_name("Netværk") is None and match_name("ABSENT") is None
    assert load_mapping({"a": "net 0", "b": None}) == {"a": ("NET", "0"), "b": None}
    with pytest.raises(ImportExportError, match="'NETT \\+' is not understood.*expected one of NET"):
        load_mapping({"a": "NETT +"})


def test_offset_map_counts_code_points_and_utf16_units():
    text = "a😀b\r\næ"
    assert [OffsetMap(text, "codepoints").to_index(i) for i in range(6)] == [0, 1, 2, 3, 4, 5]
    u = OffsetMap(text, "utf16")
    assert [u.to_index(i) for i in range(8)] == [0, 1, None, 2, 3, 4, 5, 6] and u.to_index(9) is None


# ---------------------------------------------------------------- bad projects
def _bad(kind: str, tmp: Path) -> Path:
    p = tmp / f"{kind}.qdpx"
    if kind == "not_a_zip":
        p.write_bytes(b"<Project/> but not zipped")
        return p
    files = {f.relative_to(FIXTURES / "atlas").as_posix(): f.read_bytes()
             for f in (FIXTURES / "atlas").rglob("*") if f.is_file()}
    qde = files["project.qde"]
    if kind == "no_qde":
        del files["project.qde"]
    elif kind == "not_well_formed":
        files["project.qde"] = qde[: len(qde) // 2]
    elif kind == "not_valid":
        files["project.qde"] = qde.replace(b'name="Fjord study" ', b"").replace(b"<Users>", b"<Pictures/><Users>")
    elif kind == "outside":
        files["project.qde"] = qde.replace(b'endPosition="318"', b'endPosition="3180"')
    elif kind == "missing_source":
        files = {k: v for k, v in files.items() if not k.endswith(".txt")}
    with zipfile.ZipFile(p, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return p


@pytest.mark.parametrize("kind, message", [
    ("not_a_zip", "not a zip archive"),
    ("no_qde", "expected one project.qde"),
    ("not_well_formed", "not well-formed XML"),
    ("not_valid", "not valid against Project.xsd.*line"),
    ("outside", "selection .* lies outside its text"),
    ("missing_source", "file 'internal://.*' not found"),
])
def test_bad_projects_raise_and_write_nothing(kind, message, tmp_path):
    bad = _bad(kind, tmp_path)
    out = tmp_path / "examples.jsonl"
    out.write_text("previous run\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ImportExportError, match=message) as err:
        run_import(bad, None, None, out)
    assert bad.name in str(err.value)
    assert out.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temp file left behind


def test_bad_qdc_and_export_input(tmp_path):
    bad = tmp_path / "bad.qdc"
    bad.write_text('<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>', encoding="utf-8")
    with pytest.raises(ImportExportError, match="bad.qdc: not valid against Codebook.xsd"):
        import_qdc(bad)
    with pytest.raises(ImportExportError, match="passages.jsonl: not found"):
        run_export(tmp_path, tmp_path / "x.qdpx", None)
    assert not (tmp_path / "x.qdpx").exists()


# ---------------------------------------------------------------- the CLI's entry points
def test_run_export_and_run_import(thesis, tmp_path):
    line = run_export(thesis["out"], tmp_path / "r.qdpx", tmp_path / "r.qdc")
    assert "14 cases" in line and "281 coded selections" in line and (tmp_path / "r.qdc").is_file()
    out = tmp_path / "ex.jsonl"
    summary = run_import(tmp_path / "r.qdpx", None, None, out)
    assert summary.startswith(f"wrote {out}: 0 examples from 0 of 281 codings") and out.read_text() == ""
    assert "skipped 281 machine coding(s) by intcap model users (--include-machine imports them)" in summary
    summary = run_import(tmp_path / "r.qdpx", None, None, out, include_machine=True)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert summary.startswith(f"wrote {out}: {len(rows)} examples from 281 of 281 codings")
    assert {"id", "company", "text", "codes", "label_source", "source", "start", "end", "coder"} <= set(rows[0])
    report = run_import(None, FIXTURES.parent.parent.parent / "corpus" / "refi-qda" / "example_codebook.qdc",
                        None, None)
    assert "6 codes" in report and "0 map onto ours" in report


def test_sources_outside_the_archive_need_sources_dir(maxqda_qdpx, tmp_path):
    with pytest.raises(ImportExportError, match="not inside the project archive.*--sources-dir"):
        import_qdpx(maxqda_qdpx)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ImportExportError, match="not a file inside --sources-dir"):
        import_qdpx(maxqda_qdpx, sources_dir=elsewhere)


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "relative://../../../../etc/passwd", "/etc/passwd",
                                 "internal://../../etc/passwd", "relative://..%2F..%2Fetc%2Fpasswd"])
def test_untrusted_source_paths_never_read_local_files(tmp_path, ref):
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p" origin="probe">
 <Users><User guid="00000000-0000-0000-0000-000000000001" name="u"/></Users>
 <CodeBook><Codes><Code guid="00000000-0000-0000-0000-0000000000c1" name="NET" isCodable="true"/></Codes></CodeBook>
 <Sources><TextSource guid="00000000-0000-0000-0000-0000000000a1" name="s" plainTextPath="{ref}">
  <PlainTextSelection guid="00000000-0000-0000-0000-0000000000b1" startPosition="0" endPosition="400">
   <Coding guid="00000000-0000-0000-0000-0000000000d1" creatingUser="00000000-0000-0000-0000-000000000001">
    <CodeRef targetGUID="00000000-0000-0000-0000-0000000000c1"/></Coding></PlainTextSelection>
 </TextSource></Sources></Project>"""
    path = tmp_path / "probe.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
    sandbox = tmp_path / "sources"
    sandbox.mkdir()
    for kw in ({}, {"sources_dir": sandbox}):
        with pytest.raises(ImportExportError) as err:
            import_qdpx(path, validate=False, **kw)
        assert "root:" not in str(err.value)


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE Project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])
def test_xml_with_entities_is_a_clear_error(tmp_path, doctype):
    qde = f"""<?xml version="1.0" encoding="utf-8"?>{doctype}
<Project xmlns="urn:QDA-XML:project:1.0" name="&{'xxe' if 'xxe' in doctype else 'b'};" origin="probe"/>"""
    path = tmp_path / "xxe.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
    with pytest.raises(ImportExportError, match="DTD|external entity") as err:
        import_qdpx(path)
    assert "root:" not in str(err.value)
