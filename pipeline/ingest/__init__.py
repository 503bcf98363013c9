"""Ingest: transcript files (txt, md, docx, vtt, srt, jsonl) -> Transcripts.

One small module per format; ``registry.READERS`` maps extensions to readers,
each ``reader(data: bytes, info: SourceInfo) -> list[Transcript]``. read_source
then settles who is the interviewer (``roles.assign_roles``).
"""
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.decode import decode_bytes
from pipeline.ingest.discover import discover, ingest_folder, iter_folder
from pipeline.ingest.manifest import MANIFEST_NAME, ManifestEntry, load_manifest
from pipeline.ingest.registry import DEFAULT_MAX_BYTES, READERS, read_source, supported_extensions
from pipeline.ingest.roles import INTERVIEWER, RESPONDENT, assign_roles

__all__ = [
    "DEFAULT_MAX_BYTES", "INTERVIEWER", "MANIFEST_NAME", "READERS", "RESPONDENT", "ManifestEntry", "SourceInfo",
    "assign_roles", "decode_bytes", "discover", "ingest_folder", "iter_folder", "load_manifest", "read_source",
    "supported_extensions",
]
