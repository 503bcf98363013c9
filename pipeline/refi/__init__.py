"""REFI-QDA (QDA-XML 1.0) exchange: export results to NVivo/ATLAS.ti/MAXQDA/QualCoder, import codings back.

``intcap export --qdpx FILE [--from OUT_DIR] [--qdc FILE] [--positions codepoints|utf16]`` is
``run_export``; ``intcap import --qdpx FILE [--map MAPPING] [--include-machine]
[--positions codepoints|utf16] --out EXAMPLES.jsonl`` / ``intcap import --qdc FILE`` is
``run_import``. See docs/REFI-QDA.md and docs/REFI.md (provenance, positions).
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import ImportExportError
from pipeline.refi.codebook import export_qdc
from pipeline.refi.export import ExportSummary, export_qdpx
from pipeline.refi.importer import ImportResult, import_qdpx
from pipeline.refi.qdc import CodebookReport, CodeMapping, import_qdc
from pipeline.refi.xmlutil import atomic_write

__all__ = [
    "CodeMapping", "CodebookReport", "ExportSummary", "ImportResult", "export_qdc", "export_qdpx",
    "import_qdc", "import_qdpx", "run_export", "run_import", "write_examples",
]

_MAX_LISTED = 20


def run_export(out_dir: Path, qdpx: Path | None, qdc: Path | None, *, positions: str = "codepoints",
               db: str | None = None, corpus: str | None = None) -> str:
    """Export ``out_dir`` as a .qdpx project and/or the codebook as .qdc; one summary line each."""
    if qdpx is None and qdc is None:
        raise ImportExportError("export: nothing to write; expected --qdpx FILE and/or --qdc FILE")
    lines = []
    if qdpx is not None:
        lines.append(export_qdpx(Path(out_dir), Path(qdpx), positions=positions, db=db, corpus=corpus).line())
    if qdc is not None:
        lines.append(f"wrote {export_qdc(Path(qdc))}: codebook with 4 codes x 3 valence sub-codes")
    return "\n".join(lines)


def write_examples(examples: list[dict], out: Path) -> None:
    """Write examples as JSONL, atomically (temp file + os.replace)."""
    data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
    atomic_write(Path(out), data.encode("utf-8"))


def run_import(qdpx: Path | None, qdc: Path | None, mapping: Path | None, out: Path | None,
               sources_dir: Path | None = None, *, include_machine: bool = False, positions: str = "auto") -> str:
    """Import a project's codings as examples (written to ``out`` only after a full success),
    and/or report how a codebook maps onto ours. Returns a human-readable summary."""
    if qdpx is None and qdc is None:
        raise ImportExportError("import: nothing to read; expected --qdpx FILE and/or --qdc FILE")
    result = (import_qdpx(Path(qdpx), mapping, sources_dir=sources_dir, offsets=positions,
                          include_machine=include_machine) if qdpx is not None else None)
    report = import_qdc(Path(qdc), mapping) if qdc is not None else None
    lines: list[str] = []
    if result is not None:
        if out is not None:
            write_examples(result.examples, Path(out))
            lines.append(f"wrote {out}: " + result.summary())
        else:
            lines.append(f"{qdpx}: " + result.summary() + " (no --out given: nothing written)")
        for what, why in result.skipped[:_MAX_LISTED]:
            lines.append(f"  skipped {what}: {why}")
        if len(result.skipped) > _MAX_LISTED:
            lines.append(f"  ... and {len(result.skipped) - _MAX_LISTED} more skipped")
        lines += [f"  warning: {w}" for w in result.warnings]
    if report is not None:
        lines.append(report.to_text())
    return "\n".join(lines)
