"""Pre-segmented JSONL: one passage per line, kept exactly as given.

Each line is an object with ``id`` and ``text`` (required), ``company`` and
``speaker``/``role`` (optional; other keys such as ``codes`` are ignored).
A row's company overrides the manifest, so a file with several companies
becomes one Transcript per company (in order of first appearance); each
stored text is that company's passage texts joined by "\\n\\n".

A broken line fails the whole file: a pre-segmented file is one unit, and
coding part of it silently would skew the per-company profiles. The error lists
every broken line (up to ``_MAX_LISTED``), so one pass mends the file.
"""
from __future__ import annotations

from pipeline import safejson
from pipeline.errors import IngestError
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.decode import decode_text
from pipeline.ingest.speakers import role_for
from pipeline.records import Transcript, Turn

_ROLES = ("answer", "question", "heading")
#: broken lines named in one error; the rest are counted
_MAX_LISTED = 20


def _row(line: str, n: int, info: SourceInfo) -> dict:
    def bad(problem: str) -> IngestError:
        return IngestError(info.path, f"line {n}: {problem}")

    try:
        row = safejson.loads(line)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not isinstance(row, dict):
        raise bad(f"expected a JSON object, found {type(row).__name__}")
    for key in ("id", "text"):
        if key not in row:
            raise bad(f"missing {key!r}")
    if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool) or str(row["id"]).strip() == "":
        raise bad("'id' must be a non-empty string or integer")
    for key in ("text", "company", "speaker", "role"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise bad(f"{key!r} must be a string")
    if not row["text"].strip():
        raise bad("'text' is empty")
    if row.get("role") not in (None, *_ROLES):
        raise bad(f"'role' must be one of {', '.join(_ROLES)}")
    try:
        # JSON escapes can produce lone surrogates, which no later stage can encode.
        "".join(str(v) for v in row.values() if isinstance(v, str)).encode("utf-8")
    except UnicodeEncodeError:
        raise bad("contains an invalid \\u escape (lone surrogate)") from None
    return row


def read_jsonl(data: bytes, info: SourceInfo) -> list[Transcript]:
    """Pre-segmented passages; see the module docstring for the rules."""
    text = decode_text(data, info.path)
    groups: dict[str, list[tuple[dict, int]]] = {}
    seen: dict[str, int] = {}
    # JSON Lines breaks only on \n (a raw U+2028 may legally sit inside a string).
    problems: list[str] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = _row(line, n, info)
        except IngestError as exc:
            problems.append(exc.problem)
            continue
        given = str(row["id"]).strip()
        if given in seen:
            problems.append(f"line {n}: duplicate passage id {given!r} (first on line {seen[given]})")
            continue
        seen[given] = n
        company = (row.get("company") or "").strip() or info.company
        groups.setdefault(company, []).append((row, n))
    if problems:
        more = len(problems) - _MAX_LISTED
        listed = "; ".join(problems[:_MAX_LISTED]) + (f"; and {more} more broken line(s)" if more > 0 else "")
        raise IngestError(info.path, listed if len(problems) == 1 else f"{len(problems)} broken lines: {listed}")
    out: list[Transcript] = []
    for company, rows in groups.items():
        parts: list[str] = []
        turns: list[Turn] = []
        pos = 0
        for row, _ in rows:
            if parts:
                parts.append("\n\n")
                pos += 2
            body = row["text"]
            speaker = row.get("speaker") or None
            role = row.get("role") or role_for(speaker)
            turns.append(Turn(pos, pos + len(body), speaker, role, given_id=str(row["id"]).strip()))
            parts.append(body)
            pos += len(body)
        out.append(info.transcript("".join(parts), turns, company=company))
    return out
