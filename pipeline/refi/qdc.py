"""Import a REFI-QDA codebook (.qdc, or the codebook inside a .qdpx): how its codes map onto ours."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ImportExportError
from pipeline.records import CODES
from pipeline.refi.mapping import load_mapping, resolve_codes, unused_keys
from pipeline.refi.project import child, code_nodes, open_qdpx, project_codes
from pipeline.refi.xmlutil import local, parse_xml


@dataclass(frozen=True)
class CodeMapping:
    """One of their codes: its path in their tree and where it lands in ours."""

    path: str
    guid: str
    codable: bool
    code: str | None
    valence: str
    how: str

    @property
    def target(self) -> str:
        return f"{self.code} {self.valence}" if self.code else "-"


@dataclass
class CodebookReport:
    """How a codebook's codes map onto NET/ENT/ABS/PRI."""

    source: str
    origin: str
    codes: list[CodeMapping]
    warnings: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> list[CodeMapping]:
        return [c for c in self.codes if c.code]

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for c in self.mapped if c.code == k) for k in CODES}

    def summary(self) -> str:
        per = ", ".join(f"{k} {n}" for k, n in self.counts().items())
        return (f"{self.source}: {len(self.codes)} codes ({self.origin or 'unknown origin'}), "
                f"{len(self.mapped)} map onto ours ({per}), {len(self.codes) - len(self.mapped)} unmapped")

    def to_text(self) -> str:
        """The summary and one line per code: 'their/path -> NET + (by name)'."""
        width = min(60, max((len(c.path) for c in self.codes), default=10))
        lines = [self.summary()]
        lines += [f"  {c.path:<{width}}  ->  {c.target:<6} ({c.how})" for c in self.codes]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def import_qdc(path: Path | str, mapping: Path | str | dict[str, Any] | None = None, *,
               validate: bool = True) -> CodebookReport:
    """Report how the codes of ``path`` (.qdc codebook or .qdpx project) map onto ours."""
    path = Path(path)
    if not path.is_file():
        raise ImportExportError(f"{path}: file not found; expected a REFI-QDA codebook (.qdc)")
    if zipfile.is_zipfile(path):
        zf, qde = open_qdpx(path)
        zf.close()
        root = parse_xml(qde, f"{path}: project.qde", "Project.xsd", validate).getroot()
        nodes = project_codes(root)
    else:
        root = parse_xml(path.read_bytes(), str(path), "Codebook.xsd", validate).getroot()
        if local(root) != "CodeBook":
            raise ImportExportError(f"{path}: expected root element CodeBook (urn:QDA-XML:codebook:1.0), "
                                    f"found {local(root)}; pass a .qdc codebook file")
        nodes = code_nodes(child(root, "Codes"))
    table = load_mapping(mapping)
    resolved = resolve_codes(nodes, table)
    rows = [CodeMapping("/".join(n.path), g, n.codable, resolved[g].code, resolved[g].valence, resolved[g].how)
            for g, n in nodes.items()]
    warnings = [f"mapping entry {k!r} names no code in this codebook" for k in unused_keys(table, nodes)]
    return CodebookReport(str(path), root.get("origin") or "", rows, warnings)
