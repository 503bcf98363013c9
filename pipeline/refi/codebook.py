"""Our codebook as REFI-QDA codes, and its export as a ``.qdc`` file.

Each of the four codes becomes a non-codable parent ("NET Networks") holding one codable
sub-code per valence ("NET +", "NET -", "NET 0"); every coding points at a sub-code.
docs/REFI-QDA.md says why this shape opens best in NVivo, ATLAS.ti, MAXQDA and QualCoder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.paths import CODEBOOK
from pipeline.records import CODES, VALENCES
from pipeline.refi.xmlutil import CODEBOOK_NS, atomic_write, make_guid, schema_errors, to_bytes

#: code colours (one hue per code family; sub-codes share their parent's colour)
COLOURS: dict[str, str] = {"NET": "#1F77B4", "ENT": "#FF7F0E", "ABS": "#2CA02C", "PRI": "#9467BD"}
VALENCE_WORDS: dict[str, str] = {"+": "positive", "-": "negative", "0": "neutral"}

CodebookLike = Path | str | dict[str, Any] | None


@dataclass(frozen=True)
class OurCode:
    """One of the four codes with the GUIDs of its parent and valence sub-codes."""

    id: str
    name: str
    definition: str
    guid: str
    sub_guids: dict[str, str]
    meanings: dict[str, str]

    @property
    def parent_name(self) -> str:
        return f"{self.id} {self.name}"

    def sub_name(self, valence: str) -> str:
        return f"{self.id} {valence}"


def load_codebook(codebook: CodebookLike = None) -> dict[str, Any]:
    """The codebook JSON (path or already-loaded dict; default: the bundled thesis codebook)."""
    if isinstance(codebook, dict):
        data = codebook
    else:
        path = Path(codebook) if codebook is not None else CODEBOOK
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ImportExportError(
                f"{path}: codebook could not be read ({exc}); expected JSON like "
                "corpus/thesis/codebook.json - pass a valid codebook file"
            ) from exc
    ids = [c.get("id") for c in data.get("codes", [])]
    if sorted(i for i in ids if i) != sorted(CODES) or len(ids) != len(CODES):
        raise ImportExportError(
            f"codebook: expected the codes {', '.join(CODES)} (each once), found {ids}; "
            "fix the codebook's 'codes' list"
        )
    return data


def our_codes(codebook: CodebookLike = None) -> list[OurCode]:
    """The four codes in codebook order, with deterministic GUIDs."""
    data = load_codebook(codebook)
    meanings = {v["value"]: v.get("meaning", "") for v in data.get("valence", [])}
    out = []
    for c in data["codes"]:
        out.append(OurCode(
            id=c["id"], name=c.get("name", c["id"]), definition=c.get("definition", ""),
            guid=make_guid("code", c["id"]),
            sub_guids={v: make_guid("code", c["id"], v) for v in VALENCES},
            meanings={v: meanings.get(v, VALENCE_WORDS[v]) for v in VALENCES},
        ))
    return out


def add_codes(parent: etree._Element, codes: list[OurCode], ns: str) -> None:
    """Append ``<Codes>`` with the code tree to ``parent`` (a project CodeBook or a .qdc root)."""
    codes_el = etree.SubElement(parent, f"{{{ns}}}Codes")
    for c in codes:
        el = etree.SubElement(codes_el, f"{{{ns}}}Code", guid=c.guid, name=c.parent_name,
                              isCodable="false", color=COLOURS.get(c.id, "#808080"))
        etree.SubElement(el, f"{{{ns}}}Description").text = f"{c.name} ({c.id}): {c.definition}"
        for v in VALENCES:
            sub = etree.SubElement(el, f"{{{ns}}}Code", guid=c.sub_guids[v], name=c.sub_name(v),
                                   isCodable="true", color=COLOURS.get(c.id, "#808080"))
            etree.SubElement(sub, f"{{{ns}}}Description").text = (
                f"{c.name}, valence {v} ({VALENCE_WORDS[v]}): {c.meanings[v]}"
            )


def qdc_bytes(codebook: CodebookLike = None) -> bytes:
    """The codebook as a QDA-XML codebook document, checked against Codebook.xsd."""
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS}, origin="intcap")
    add_codes(root, our_codes(codebook), CODEBOOK_NS)
    errors = schema_errors(root, "Codebook.xsd")
    if errors:  # a bug in this module, not in the user's data
        raise ImportExportError(f"codebook export: generated XML is not valid against Codebook.xsd: {errors}")
    return to_bytes(root)


def export_qdc(qdc_path: Path | str, codebook: CodebookLike = None) -> Path:
    """Write the codebook as a REFI-QDA ``.qdc`` file (atomically); returns the path."""
    path = Path(qdc_path)
    atomic_write(path, qdc_bytes(codebook))
    return path
