"""Rebuild corpus/thesis/ from the thesis sources (run once by maintainers).

Usage: python scripts/build_thesis_corpus.py [SHARED_THESIS_DIR]

Writes one Markdown transcript per firm of the thesis appendix, whose paragraphs
are, in order, the hand-coded passages (so passage ``<stem>-NN`` of the coded
file is paragraph NN of ``interviews/<stem>.md``), a manifest, and the
machine-readable codebook. Every paragraph is checked against the thesis text.
"""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "corpus" / "thesis"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def appendix_headers(thesis: str) -> dict[str, str]:
    """Map lower-case first word of each firm to its header line ("Names, Firm")."""
    appendix = thesis[thesis.rindex("Appendix (Interview summaries)"):]
    headers = {}
    for line in appendix.splitlines():
        m = re.match(r"^([A-ZÆØÅ][^.]{0,80}), ([A-Za-z][\w æøåÆØÅ]{1,30})$", line.strip())
        if m:
            headers[m.group(2).split()[0].lower()] = line.strip()
    return headers


def parse_codebook(md: str) -> dict:
    codes = []
    for m in re.finditer(r"^(NET|ENT|ABS|PRI)\s+(\w[\w ]*?)\. (.*?)(?=^\S|\Z)", md, re.M | re.S):
        codes.append({"id": m.group(1), "name": m.group(2).strip(),
                      "definition": " ".join(m.group(3).split())})
    valence = []
    for m in re.finditer(r"^([+\-0])\s+(.+)$", md, re.M):
        valence.append({"value": m.group(1), "meaning": m.group(2).strip()})
    rules = [" ".join(r.split()) for r in re.findall(r"^\d+\. (.*?)(?=^\d+\. |\Z)", md, re.M | re.S)]
    return {"name": "Internationalization capacity (Havn & Juell-Sundbye, CBS 2012)",
            "codes": codes, "valence": valence, "rules": rules}


def main(src: Path) -> None:
    thesis = (src / "thesis.txt").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (src / "coded_passages.jsonl").read_text(encoding="utf-8").splitlines()]
    headers = appendix_headers(thesis)
    flat = squash(thesis)
    by_stem: dict[str, list[dict]] = {}
    for row in rows:
        if squash(row["text"]) not in flat:
            raise SystemExit(f"passage {row['id']} not found in thesis text")
        by_stem.setdefault(row["id"].rsplit("-", 1)[0], []).append(row)
    interviews = OUT / "interviews"
    interviews.mkdir(parents=True, exist_ok=True)
    manifest = []
    for stem, items in by_stem.items():
        items.sort(key=lambda r: int(r["id"].rsplit("-", 1)[1]))
        company = items[0]["company"]
        header = headers.get(stem, company)
        interviewee = header.rsplit(",", 1)[0] if "," in header else ""
        body = "\n\n".join(r["text"] for r in items)
        (interviews / f"{stem}.md").write_text(f"# {header}\n\n{body}\n", encoding="utf-8")
        manifest.append({"file": f"{stem}.md", "company": company, "interviewee": interviewee,
                         "date": "2012", "language": "en"})
    with (interviews / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "company", "interviewee", "date", "language"])
        writer.writeheader()
        writer.writerows(manifest)
    codebook = parse_codebook((src / "CODEBOOK.md").read_text(encoding="utf-8"))
    assert [c["id"] for c in codebook["codes"]] == ["NET", "ENT", "ABS", "PRI"], codebook
    (OUT / "codebook.json").write_text(json.dumps(codebook, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} interviews, {len(rows)} paragraphs")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "thesis")
