"""The coded selections of an export: one per assigned code of a machine coding, one per code of
a reviewer's answer, each under its own REFI user, positions counted as the export was asked to."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.records import CODES, Coding
from pipeline.refi.provenance import coder_label, evidence_sentence
from pipeline.refi.sources import OffsetMap
from pipeline.refi.xmlutil import make_guid, q, xml_safe

if TYPE_CHECKING:
    from pipeline.review.store import Answer


def _code_order(code: str) -> int:
    return CODES.index(code) if code in CODES else len(CODES)


def _selection(src: etree._Element, guid: str, name: str, start: int, end: int, omap: OffsetMap,
               user: str, description: str, code_guid: str, coding_guid: str, when: str | None) -> None:
    stamp = {"creationDateTime": when} if when else {}
    sel = etree.SubElement(src, q("PlainTextSelection"), guid=guid, name=xml_safe(name),
                           startPosition=str(omap.to_position(start)), endPosition=str(omap.to_position(end)),
                           creatingUser=user, **stamp)
    etree.SubElement(sel, q("Description")).text = xml_safe(description)
    coding = etree.SubElement(sel, q("Coding"), guid=coding_guid, creatingUser=user, **stamp)
    etree.SubElement(coding, q("CodeRef"), targetGUID=code_guid)


def machine_selections(src: etree._Element, c: Coding, text: str, codes: dict, user: str, version: str,
                       omap: OffsetMap) -> int:
    """One selection per assigned code; its Description says model, coder and evidence sentence."""
    p = c.passage
    if not (0 <= p.start <= p.end <= len(text)) or text[p.start:p.end] != p.text:
        raise ImportExportError(
            f"passages.jsonl: passage {p.id}: text[{p.start}:{p.end}] of sources/{p.source} does not equal "
            "the passage text; expected offsets into the stored text - re-run the pipeline on this folder"
        )
    n = 0
    for code in sorted(c.assigned, key=_code_order):
        score = c.codes.get(code)
        if code not in codes or score is None or score.valence not in codes[code].sub_guids:
            raise ImportExportError(f"passages.jsonl: passage {p.id}: assigned code {code!r} has no score "
                                    f"with valence +/-/0 (found {score}); expected one of {CODES}")
        vp = ", ".join(f"{k}={v:.3f}" for k, v in score.valence_p.items())
        sentence = evidence_sentence(c, code)
        description = (f"{code} {score.valence}: p={score.p:.3f}; valence p: {vp}; model {version}; "
                       f"{coder_label(c)}; evidence: " + (f'"{sentence}"' if sentence else "not known"))
        _selection(src, make_guid("selection", p.id, code), p.id, p.start, p.end, omap, user, description,
                   codes[code].sub_guids[score.valence], make_guid("coding", p.id, code), None)
        n += 1
    return n


def reviewed_selections(src: etree._Element, answer: Answer, codes: dict, user: str, omap: OffsetMap) -> int:
    """One selection per code of a reviewer's answer."""
    n = 0
    for code, valence in sorted(answer.codes.items(), key=lambda kv: _code_order(kv[0])):
        if code not in codes or valence not in codes[code].sub_guids:
            continue  # the label store validates codes; an unknown one cannot be coded here
        verdict = "agrees with" if answer.agrees else "changes"
        description = (f"{code} {valence}: reviewed by {answer.reviewer} ({answer.created}); the answer "
                       f"{verdict} the suggestion of model {answer.model_version or 'unknown'}")
        key = ("review", answer.passage_id, answer.reviewer, code)
        _selection(src, make_guid("selection", *key), answer.passage_id, answer.start, answer.end, omap, user,
                   description, codes[code].sub_guids[valence], make_guid("coding", *key), answer.created)
        n += 1
    return n
