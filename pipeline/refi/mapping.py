"""Mapping other projects' codes onto NET/ENT/ABS/PRI with a valence.

A mapping file (CSV or JSON) says ``their code name -> NET|ENT|ABS|PRI[ valence]`` (an empty
target ignores the code). Codes the mapping does not list (all codes, without a mapping) map
by name: "NET", "NET +", "ENT: negative", "Networks", "Prior knowledge 0".
Nested codes map via their own name first, else via their parent; a sub-code named only
by a valence ("+", "positive", "negative", "0") takes its parent's code with that valence.
A valence that nothing names is "0".
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ImportExportError
from pipeline.records import CODES

#: our codes' long names (lower case) -> id
LONG_NAMES: dict[str, str] = {
    "networks": "NET", "entrepreneurship": "ENT",
    "absorptive capacity": "ABS", "prior knowledge": "PRI",
}
_VALENCE: dict[str, str] = {
    "+": "+", "plus": "+", "pos": "+", "positive": "+",
    "-": "-", "\u2212": "-", "\u2013": "-", "minus": "-", "neg": "-", "negative": "-",
    "0": "0", "o": "0", "neutral": "0", "neu": "0", "none": "0", "\u00b1": "0",
}
_ID_RE = re.compile(r"^(NET|ENT|ABS|PRI)(?![A-Za-z0-9])(.*)$")
_HEADER_WORDS = {"code", "their code", "name", "from", "source", "their", "code name"}

#: a mapping target: (our code, valence or None when the target names no valence); None = ignore
Target = tuple[str, str | None] | None


def valence_word(text: str) -> str | None:
    """'+', '-' or '0' for a valence word ("+", "−", "positive", "neutral", ...), else None."""
    t = text.strip().strip("()[]").strip().casefold()
    return _VALENCE.get(t)


def _rest_valence(rest: str) -> str | None:
    rest = rest.strip()
    if not rest:
        return None
    v = valence_word(rest)
    return v if v is not None else valence_word(rest.lstrip(":_.-\u2013\u2212 "))


def match_name(name: str) -> tuple[str, str | None] | None:
    """Map a code name by itself: "NET", "NET +", "NET: negative", "Networks", "Prior knowledge -"."""
    name = " ".join(name.split())
    m = _ID_RE.match(name)
    if m:
        return m.group(1), _rest_valence(m.group(2))
    low = name.casefold()
    for long, code in LONG_NAMES.items():
        if low == long or (low.startswith(long) and not low[len(long)].isalnum()):
            return code, _rest_valence(name[len(long):])
    return None


def parse_target(value: Any, where: str) -> Target:
    """Parse a mapping value ("NET", "NET +", "ENT negative"; "" / null = ignore this code)."""
    if value is None or (isinstance(value, str) and value.strip().casefold() in ("", "ignore", "skip", "none")):
        return None
    if isinstance(value, str):
        m = re.match(r"^\s*(NET|ENT|ABS|PRI)\s*(.*?)\s*$", value, re.IGNORECASE)
        if m:
            code, rest = m.group(1).upper(), m.group(2)
            if not rest:
                return code, None
            v = valence_word(rest)
            if v is not None:
                return code, v
    raise ImportExportError(
        f"{where}: mapping target {value!r} is not understood; expected one of "
        f"{'|'.join(CODES)} optionally followed by a valence + - or 0 (e.g. 'NET +'), "
        "or an empty value to ignore the code - fix that entry"
    )


def load_mapping(mapping: Path | str | dict[str, Any] | None) -> dict[str, Target] | None:
    """Read a mapping file (.json object or .csv with two columns) or dict; None stays None."""
    if mapping is None:
        return None
    if isinstance(mapping, dict):
        return {str(k): parse_target(v, f"mapping entry {k!r}") for k, v in mapping.items()}
    path = Path(mapping)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportExportError(
            f"{path}: mapping file could not be read ({exc}); expected a UTF-8 .csv or .json file"
        ) from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImportExportError(f"{path}: mapping is not valid JSON ({exc}); expected "
                                    '{"their code": "NET +", ...}') from exc
        if not isinstance(data, dict):
            raise ImportExportError(f"{path}: expected a JSON object {{\"their code\": \"NET +\"}}, "
                                    f"found {type(data).__name__}")
        return {str(k): parse_target(v, f"{path} entry {k!r}") for k, v in data.items()}
    return _load_csv(path, text)


def _load_csv(path: Path, text: str) -> dict[str, Target]:
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    out: dict[str, Target] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if n == 1 and cells[0].casefold() in _HEADER_WORDS:
            continue
        if len(cells) < 2:
            raise ImportExportError(
                f"{path} line {n}: expected two columns 'their code,NET +', found {row!r}; "
                "add the target column (leave it empty to ignore the code)"
            )
        out[cells[0]] = parse_target(cells[1], f"{path} line {n}")
    return out


@dataclass(frozen=True)
class CodeNode:
    """A code of an imported codebook: GUID (normalised), name, parent GUID, path of names."""

    guid: str
    name: str
    parent: str | None
    path: tuple[str, ...]
    codable: bool = True


@dataclass(frozen=True)
class Resolution:
    """How one of their codes maps: our code and valence (None when unmapped) and why."""

    code: str | None
    valence: str
    how: str


def _lookup(mapping: dict[str, Target], node: CodeNode) -> tuple[bool, Target]:
    keys = ["/".join(node.path), " > ".join(node.path), node.name]
    for k in keys:
        if k in mapping:
            return True, mapping[k]
    folded = {" ".join(k.split()).casefold(): v for k, v in mapping.items()}
    for k in keys:
        k2 = " ".join(k.split()).casefold()
        if k2 in folded:
            return True, folded[k2]
    return False, None


def resolve_codes(nodes: dict[str, CodeNode], mapping: dict[str, Target] | None) -> dict[str, Resolution]:
    """Resolve every code (parents before children) to our code and valence."""
    out: dict[str, Resolution] = {}

    def resolve(guid: str) -> Resolution:
        if guid in out:
            return out[guid]
        node = nodes[guid]
        parent = resolve(node.parent) if node.parent in nodes else None
        res: Resolution | None = None
        found, target = _lookup(mapping, node) if mapping else (False, None)
        if found:
            res = (Resolution(target[0], target[1] or "0", "by mapping") if target
                   else Resolution(None, "0", "ignored by mapping"))
        elif (hit := match_name(node.name)) is not None:
            res = Resolution(hit[0], hit[1] or "0", "by name")
        if res is None and parent is not None and parent.code is not None:
            v = valence_word(node.name)
            if v is not None:
                res = Resolution(parent.code, v, f"valence sub-code of '{nodes[node.parent].name}'")
            else:
                res = Resolution(parent.code, parent.valence, f"via parent '{nodes[node.parent].name}'")
        out[guid] = res or Resolution(None, "0", "no mapping")
        return out[guid]

    for g in nodes:
        resolve(g)
    return out


def unused_keys(mapping: dict[str, Target] | None, nodes: dict[str, CodeNode]) -> list[str]:
    """Mapping entries that name no code of the project (typos, other projects)."""
    if not mapping:
        return []
    names = set()
    for n in nodes.values():
        names.update({"/".join(n.path), " > ".join(n.path), n.name})
    folded = {" ".join(x.split()).casefold() for x in names}
    return [k for k in mapping if " ".join(k.split()).casefold() not in folded]
