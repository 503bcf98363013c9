"""Shared helpers for REFI-QDA (QDA-XML 1.0): namespaces, GUIDs, schema checks, atomic writes."""
from __future__ import annotations

import os
import re
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path

from lxml import etree

from pipeline.outputs import usual_permissions
from pipeline.errors import ImportExportError
from pipeline.paths import REFI_SCHEMAS

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
#: root of every GUID intcap derives (uuid5), so a re-export yields the same GUIDs
GUID_NAMESPACE = uuid.UUID("5d0c5f3e-2b4e-5a43-9c57-7a1e0b6d2f11")

_GUID_RE = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)


# characters XML 1.0 cannot hold (C0 controls but tab, newline, CR; lone surrogates; U+FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` with each character XML cannot hold replaced by U+FFFD: a transcript may carry a
    stray control byte (a NUL from an export tool); the source file itself keeps it, and
    positions index that file, so only names and descriptions change."""
    return _NOT_XML.sub("\ufffd", text)


def make_guid(*parts: str) -> str:
    """Deterministic GUID (uuid5) for the named thing, bare form as the schema allows."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(parts)))


def norm_guid(value: str | None) -> str:
    """Canonical key for a GUID: braces dropped, lower case ("{ABC-..}" == "abc-..")."""
    if not value:
        return ""
    value = value.strip()
    m = _GUID_RE.match(value)
    return (m.group(1) if m else value.strip("{}")).lower()


def q(tag: str, ns: str = PROJECT_NS) -> str:
    """Clark-notation tag name, e.g. ``q("Code")`` -> ``{urn:QDA-XML:project:1.0}Code``."""
    return f"{{{ns}}}{tag}"


def local(el: etree._Element) -> str:
    """Element name without namespace ('' for comments and processing instructions)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


@lru_cache(maxsize=2)
def schema(name: str) -> etree.XMLSchema:
    """The bundled schema ``Project.xsd`` or ``Codebook.xsd``."""
    path = REFI_SCHEMAS / name
    try:
        return etree.XMLSchema(etree.parse(str(path)))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise ImportExportError(
            f"{path}: the REFI-QDA schema could not be loaded ({exc}); "
            "restore corpus/refi-qda/ from the repository"
        ) from exc


def schema_errors(doc: etree._ElementTree | etree._Element, name: str, limit: int = 5) -> list[str]:
    """Validation errors of ``doc`` against schema ``name`` ("line N: message"), [] when valid."""
    xsd = schema(name)
    if xsd.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:limit]]


def parse_xml(data: bytes, what: str, schema_name: str, validate: bool = True) -> etree._ElementTree:
    """Parse ``data`` safely (no entities, no network); check it against ``schema_name``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ImportExportError(
            f"{what}: not well-formed XML ({exc}); expected a QDA-XML 1.0 document - "
            "re-export it from the QDA program"
        ) from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        # QDA-XML never declares a DTD; entities in one are how XXE and entity bombs arrive
        raise ImportExportError(f"{what}: declares a DTD (<!DOCTYPE ...>), which QDA-XML documents never do; "
                                "refusing it (entity declarations can read local files) - re-export it")
    if validate:
        try:
            errors = schema_errors(tree, schema_name)
        except etree.XMLSchemaValidateError as exc:
            raise ImportExportError(f"{what}: could not be checked against {schema_name} ({exc})") from None
        if errors:
            raise ImportExportError(
                f"{what}: not valid against {schema_name} (REFI-QDA 1.0): " + "; ".join(errors)
                + " - re-export it from the QDA program, or fix the named lines"
            )
    return tree


def to_bytes(root: etree._Element) -> bytes:
    """Serialise with the XML declaration, UTF-8, indented for people who read it."""
    etree.indent(root, space=" ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    usual_permissions(fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
