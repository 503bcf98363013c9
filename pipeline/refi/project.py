"""Opening a .qdpx and reading its users, code tree and cases."""
from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from pipeline.archive import QDPX_LIMITS, ArchiveError, check_zip, read_member
from pipeline.errors import ImportExportError
from pipeline.refi.mapping import CodeNode
from pipeline.refi.xmlutil import local, norm_guid

#: the source variable that names a source's company. intcap exports write it next to the case
#: membership, because tools that drop a Case's SourceRefs (QualCoder) keep source variables
COMPANY_VARIABLE = "company"


def open_qdpx(path: Path) -> tuple[zipfile.ZipFile, bytes]:
    """The open zip and the bytes of its ``project.qde``; clear errors for anything else."""
    if not path.is_file():
        raise ImportExportError(f"{path}: file not found; expected a .qdpx project exported from a QDA program")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportExportError(
            f"{path}: not a zip archive ({exc}); a .qdpx is a zip holding project.qde and sources/ - "
            "export the project again with 'REFI-QDA project (.qdpx)'"
        ) from exc
    try:
        check_zip(zf, QDPX_LIMITS)
    except ArchiveError as exc:
        zf.close()
        raise ImportExportError(f"{path}: refused: {exc}") from None
    names = [n for n in zf.namelist() if not n.endswith("/")]
    qde = [n for n in names if n.casefold() == "project.qde"]
    if not qde:
        qde = [n for n in names if "/" not in n and n.casefold().endswith(".qde")]
    if len(qde) != 1:
        zf.close()
        found = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "") or "nothing"
        raise ImportExportError(
            f"{path}: expected one project.qde at the top of the zip, found {found}; "
            "this is not a REFI-QDA project export - export it again as .qdpx"
        )
    try:
        return zf, read_member(zf, qde[0], QDPX_LIMITS)
    except ArchiveError as exc:
        zf.close()
        raise ImportExportError(f"{path}: project.qde: {exc}") from None


def children(el: etree._Element, name: str) -> list[etree._Element]:
    """Direct children named ``name`` (any namespace)."""
    return [c for c in el if local(c) == name]


def child(el: etree._Element, name: str) -> etree._Element | None:
    found = children(el, name)
    return found[0] if found else None


def code_nodes(codes_el: etree._Element | None) -> dict[str, CodeNode]:
    """Every Code under ``<Codes>``, depth-first, keyed by normalised GUID."""
    out: dict[str, CodeNode] = {}

    def walk(el: etree._Element, parent: str | None, path: tuple[str, ...]) -> None:
        for c in children(el, "Code"):
            guid = norm_guid(c.get("guid"))
            name = c.get("name") or ""
            node = CodeNode(guid, name, parent, path + (name,), c.get("isCodable", "true") in ("true", "1"))
            out[guid] = node
            walk(c, guid, node.path)

    if codes_el is not None:
        walk(codes_el, None, ())
    return out


def project_codes(root: etree._Element) -> dict[str, CodeNode]:
    book = child(root, "CodeBook")
    return code_nodes(child(book, "Codes") if book is not None else None)


def users(root: etree._Element) -> dict[str, str]:
    """User GUID -> display name (name, else id, else the GUID)."""
    out: dict[str, str] = {}
    users_el = child(root, "Users")
    for u in children(users_el, "User") if users_el is not None else []:
        out[norm_guid(u.get("guid"))] = u.get("name") or u.get("id") or u.get("guid") or ""
    return out


def cases(root: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    """(source GUID -> case name, selection GUID -> case name); the first case wins."""
    by_source: dict[str, str] = {}
    by_selection: dict[str, str] = {}
    cases_el = child(root, "Cases")
    for case in children(cases_el, "Case") if cases_el is not None else []:
        name = case.get("name") or norm_guid(case.get("guid"))
        for ref in children(case, "SourceRef"):
            by_source.setdefault(norm_guid(ref.get("targetGUID")), name)
        for ref in children(case, "SelectionRef"):
            by_selection.setdefault(norm_guid(ref.get("targetGUID")), name)
    return by_source, by_selection


def variable_names(root: etree._Element) -> dict[str, str]:
    """Variable GUID -> name, for reading VariableValues of cases and sources."""
    vars_el = child(root, "Variables")
    return {norm_guid(v.get("guid")): v.get("name") or "" for v in (children(vars_el, "Variable")
                                                                     if vars_el is not None else [])}


def text_value(owner: etree._Element, names: dict[str, str], wanted: str) -> str | None:
    """The TextValue of the variable named ``wanted`` (any case) on ``owner``, else None."""
    for vv in children(owner, "VariableValue"):
        ref = child(vv, "VariableRef")
        value = child(vv, "TextValue")
        if (ref is not None and value is not None and (value.text or "").strip()
                and names.get(norm_guid(ref.get("targetGUID")), "").strip().casefold() == wanted.casefold()):
            return value.text.strip()
    return None
