"""Import a REFI-QDA project (.qdpx) as hand-coded examples in our training JSONL format.

One example per coded span and coder: ``{"id", "company", "text", "codes": {"NET": "+"},
"label_source": "refi-qda", "source", "start", "end", "coder", "machine", "their_codes"}``.
Codings by an intcap model's user are left out unless asked for (``include_machine``): training
on the model's own output teaches it nothing. Everything is read and checked before anything
is returned, so a bad project imports nothing.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from pipeline.errors import ImportExportError
from pipeline.records import CODES
from pipeline.refi.mapping import CodeNode, Resolution, load_mapping, resolve_codes, unused_keys
from pipeline.refi.project import (COMPANY_VARIABLE, cases, children, open_qdpx, project_codes, text_value, users,
                                   variable_names)
from pipeline.refi.provenance import is_machine_user
from pipeline.refi.sources import OFFSET_MODES, OffsetMap, SourceFiles, origin_counts_utf16, source_text
from pipeline.refi.xmlutil import GUID_NAMESPACE, local, norm_guid, parse_xml

_OTHER_SOURCES = {"PictureSource": "picture", "PDFSource": "PDF", "AudioSource": "audio", "VideoSource": "video"}
_SELECTIONS = ("PictureSelection", "PDFSelection", "AudioSelection", "VideoSelection", "TranscriptSelection")


@dataclass
class ImportResult:
    """Examples in our JSONL format, plus what was left out and why."""

    examples: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    origin: str = ""
    offsets: str = "codepoints"
    n_text_sources: int = 0
    n_selections: int = 0
    n_codings: int = 0
    n_mapped_codings: int = 0
    #: codings whose code maps onto none of ours (their code path -> count)
    unmapped: dict[str, int] = field(default_factory=dict)
    #: machine codings left out (their user's name -> count); empty with include_machine
    machine_skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n_machine_skipped(self) -> int:
        return sum(self.machine_skipped.values())

    def summary(self) -> str:
        machine = (f"; skipped {self.n_machine_skipped} machine coding(s) by intcap model users "
                   "(--include-machine imports them)" if self.machine_skipped else "")
        return (f"{len(self.examples)} examples from {self.n_mapped_codings} of {self.n_codings} codings "
                f"on {self.n_selections} text selections in {self.n_text_sources} text sources "
                f"({self.origin or 'unknown origin'}, offsets as {self.offsets}){machine}; "
                f"{len(self.skipped)} skipped item(s), {len(self.warnings)} warning(s)")


def offset_mode(origin: str, offsets: str) -> str:
    """'codepoints' (the standard) or 'utf16' (NVivo's .NET string positions)."""
    if offsets not in OFFSET_MODES:
        raise ImportExportError(f"positions: expected one of {OFFSET_MODES}, found {offsets!r}")
    if offsets != "auto":
        return offsets
    return "utf16" if origin_counts_utf16(origin) else "codepoints"


def import_qdpx(path: Path | str, mapping: Path | str | dict[str, Any] | None = None, *,
                offsets: str = "auto", validate: bool = True, sources_dir: Path | None = None,
                include_machine: bool = False) -> ImportResult:
    """Read every coding on a text selection of ``path`` and map it onto NET/ENT/ABS/PRI.

    ``mapping``: CSV/JSON file or dict ``their code -> "NET +"`` (None: map by code name).
    ``offsets``: "auto" (UTF-16 units for NVivo and for intcap exports that say so, code points
    otherwise), "codepoints", "utf16".
    ``sources_dir``: the only folder outside the archive that sources may be read from.
    ``include_machine``: also import codings by intcap model users (skipped and counted otherwise).
    Raises ImportExportError, naming the file and the problem, for anything unreadable.
    """
    path = Path(path)
    table = load_mapping(mapping)
    zf, qde = open_qdpx(path)
    with zf:
        root = parse_xml(qde, f"{path}: project.qde", "Project.xsd", validate).getroot()
        if local(root) != "Project":
            raise ImportExportError(f"{path}: project.qde: expected root element Project, found {local(root)}")
        origin = root.get("origin") or ""
        result = ImportResult(examples=[], origin=origin, offsets=offset_mode(origin, offsets))
        nodes = project_codes(root)
        resolved = resolve_codes(nodes, table)
        result.warnings += [f"mapping entry {k!r} names no code in this project" for k in unused_keys(table, nodes)]
        reader = _Reader(path, SourceFiles(zf, path, root.get("basePath") or "", sources_dir), nodes, resolved,
                         users(root), *cases(root), result, variable_names=variable_names(root),
                         include_machine=include_machine)
        sources_el = [c for c in root if local(c) == "Sources"]
        for src in (list(sources_el[0]) if sources_el else []):
            reader.source(src)
        reader.finish()
    return result


class _Reader:
    def __init__(self, path: Path, files: SourceFiles, nodes: dict[str, CodeNode],
                 resolved: dict[str, Resolution], user_names: dict[str, str],
                 case_of_source: dict[str, str], case_of_selection: dict[str, str], result: ImportResult, *,
                 variable_names: dict[str, str], include_machine: bool):
        self.path, self.files, self.nodes, self.resolved = path, files, nodes, resolved
        self.user_names, self.case_of_source, self.case_of_selection = user_names, case_of_source, case_of_selection
        self.result = result
        self.groups: dict[tuple[str, int, int, str], dict[str, Any]] = {}
        self.unmapped: Counter[str] = Counter()
        self.machine: Counter[str] = Counter()
        self.variable_names, self.include_machine = variable_names, include_machine

    def source(self, src: etree._Element) -> None:
        kind = local(src)
        name = src.get("name") or norm_guid(src.get("guid"))
        if kind in _OTHER_SOURCES:
            n = sum(len(children(sel, "Coding")) for sel in src.iter() if local(sel) in _SELECTIONS)
            n += len(children(src, "Coding"))
            self.result.skipped.append((f"{_OTHER_SOURCES[kind]} source '{name}'",
                                        f"only text sources are imported ({n} coding(s) on it left out)"))
            return
        if kind != "TextSource":
            return
        self.result.n_text_sources += 1
        whole = children(src, "Coding")
        if whole:
            self.result.skipped.append((f"text source '{name}'",
                                        f"{len(whole)} coding(s) of the whole source, not of a passage"))
        selections = children(src, "PlainTextSelection")
        if not any(children(sel, "Coding") for sel in selections):
            return
        what = f"text source '{name}'"
        text = source_text(src, self.files, what)
        omap = OffsetMap(text, self.result.offsets)
        src_guid = norm_guid(src.get("guid"))
        # case membership first; then the source variable (kept by tools that drop case links)
        company = (self.case_of_source.get(src_guid) or text_value(src, self.variable_names, COMPANY_VARIABLE)
                   or PurePosixPath(name).stem)
        for sel in selections:
            self.selection(sel, src_guid, name, company, text, omap)

    def selection(self, sel: etree._Element, src_guid: str, src_name: str, src_company: str, text: str,
                  omap: OffsetMap) -> None:
        codings = children(sel, "Coding")
        if not codings:
            return
        self.result.n_selections += 1
        try:
            a, b = int(sel.get("startPosition", "")), int(sel.get("endPosition", ""))
        except ValueError:
            raise ImportExportError(
                f"{self.path}: selection {sel.get('guid')} of text source '{src_name}': expected integer "
                f"startPosition/endPosition, found {sel.get('startPosition')!r}/{sel.get('endPosition')!r}"
            ) from None
        start, end = omap.to_index(a), omap.to_index(b)
        if start is None or end is None or start > end:
            unit = "UTF-16 units" if omap.mode == "utf16" else "characters"
            raise ImportExportError(
                f"{self.path}: selection {sel.get('guid')} [{a}, {b}) of text source '{src_name}' lies outside "
                f"its text ({omap.units} {unit}) or splits a character; expected 0 <= start <= end <= "
                f"{omap.units} - the project's offsets do not fit its stored text (re-export it, or pass "
                "--positions utf16 or --positions codepoints if the tool counts differently)"
            )
        company = self.case_of_selection.get(norm_guid(sel.get("guid"))) or src_company
        for coding in codings:
            self.result.n_codings += 1
            self.coding(coding, sel, src_guid, src_name, company, text, start, end)

    def coder(self, coding: etree._Element, sel: etree._Element) -> tuple[str, bool]:
        """Who coded it and whether that is an intcap model. A human's hand anywhere on the coding
        makes it human: its own creatingUser (a human recoded it, or coded a span the model had
        coded), else a human who modified the selection (moved its ends)."""
        creator = norm_guid(coding.get("creatingUser") or sel.get("creatingUser"))
        name = self.user_names.get(creator, creator or "unknown")
        if not is_machine_user(name):
            return name, False
        modifier = norm_guid(sel.get("modifyingUser"))
        other = self.user_names.get(modifier, modifier) if modifier else ""
        if other and not is_machine_user(other):
            return other, False
        return name, True

    def coding(self, coding: etree._Element, sel: etree._Element, src_guid: str, src_name: str,
               company: str, text: str, start: int, end: int) -> None:
        coder, machine = self.coder(coding, sel)
        if machine and not self.include_machine:
            self.machine[coder] += 1
            return
        ref = children(coding, "CodeRef")
        guid = norm_guid(ref[0].get("targetGUID")) if ref else ""
        node = self.nodes.get(guid)
        if node is None:
            self.result.skipped.append((f"coding {coding.get('guid')} in '{src_name}'",
                                        f"refers to code {guid or '(none)'} that the codebook lacks"))
            return
        res = self.resolved[guid]
        label = "/".join(node.path)
        if res.code is None:
            self.unmapped[f"{label}" + (" (ignored by mapping)" if res.how.startswith("ignored") else "")] += 1
            return
        if start == end:
            self.result.skipped.append((f"coding {coding.get('guid')} in '{src_name}'", "empty selection"))
            return
        key = (src_guid, start, end, coder)
        ex = self.groups.get(key)
        if ex is None:
            ex = self.groups[key] = {
                "id": "refi-" + uuid.uuid5(GUID_NAMESPACE, "\x1f".join(map(str, key))).hex[:16],
                "company": company, "text": text[start:end], "codes": {}, "label_source": "refi-qda",
                "source": src_name, "start": start, "end": end, "coder": coder, "machine": machine,
                "their_codes": [],
            }
        self.result.n_mapped_codings += 1
        if label not in ex["their_codes"]:
            ex["their_codes"].append(label)
        old = ex["codes"].get(res.code)
        if old is None:
            ex["codes"][res.code] = res.valence
        elif old != res.valence:
            self.result.skipped.append((
                f"{res.code} {res.valence} from '{label}' on '{src_name}' [{start}, {end}) by {coder}",
                f"same coder already gave {res.code} {old} to this span; kept {old}"))

    def finish(self) -> None:
        self.result.unmapped = dict(sorted(self.unmapped.items()))
        self.result.machine_skipped = dict(sorted(self.machine.items()))
        for user, n in sorted(self.machine.items()):
            self.result.skipped.append((f"{n} coding(s) by '{user}'",
                                        "machine codings of an intcap model; --include-machine imports them"))
        for label, n in sorted(self.unmapped.items()):
            self.result.skipped.append((f"code '{label}' ({n} coding(s))",
                                        "no mapping to NET/ENT/ABS/PRI (add it to the mapping file)"))
        order = {g: i for i, g in enumerate(dict.fromkeys(k[0] for k in self.groups))}
        for ex in self.groups.values():
            ex["codes"] = {c: ex["codes"][c] for c in CODES if c in ex["codes"]}
        keys = sorted(self.groups, key=lambda k: (order[k[0]], k[1], k[2], k[3]))
        self.result.examples = [self.groups[k] for k in keys]
