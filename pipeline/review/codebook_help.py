"""What the review page shows about the codes: names and definitions from codebook.json, the
valence meanings, and one short example of each valence per code.

The examples are one-line illustrations written after CODEBOOK.md (several are its own
examples, from rules 6-9); the thesis's hand-coded passages remain the reference.
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline import paths
from pipeline.records import CODES, VALENCES

EXAMPLES = {
    "NET": {"+": "Our Danish customer asked us to follow them to Poland.",
            "-": "We had no contacts in the UK and nobody to open doors for us.",
            "0": "The embassy offered to introduce us to importers; we have not decided whether to take it up."},
    "ENT": {"+": "We decided to try Poland ourselves and opened a sales office in Warsaw.",
            "-": "Sweden came purely by accident; we simply answer when they call.",
            "0": "The board is discussing Lithuania, but nothing is decided."},
    "ABS": {"+": "After every fair we write down what we learned and share it on the intranet.",
            "-": "All the contacts and the knowledge stayed with the consultancy.",
            "0": "What we know about the market comes partly from our staff, partly from the distributor."},
    "PRI": {"+": "Our export manager speaks fluent German and sold to Bavaria for years.",
            "-": "None of us had sold abroad before, so we learned everything from scratch.",
            "0": "I lived in Spain for two years, but that played no part in how we chose markets."},
}
FALLBACK_NAMES = {"NET": "Networks", "ENT": "Entrepreneurship", "ABS": "Absorptive capacity",
                  "PRI": "Prior knowledge"}


def codebook_help(path: Path = paths.CODEBOOK) -> dict:
    """{"codes": [{code, name, definition, examples}], "valence": [{value, meaning}], "source"}; the
    definitions are empty when the codebook cannot be read (names and examples still show)."""
    try:
        book = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        book = {}
    defined = {c.get("id"): c for c in book.get("codes", []) if isinstance(c, dict)} if isinstance(book, dict) else {}
    codes = [{"code": code, "name": str(defined.get(code, {}).get("name", FALLBACK_NAMES[code])),
              "definition": str(defined.get(code, {}).get("definition", "")).replace("*", ""),
              "examples": {v: EXAMPLES[code][v] for v in VALENCES}} for code in CODES]
    valence = [{"value": str(v.get("value", "")), "meaning": str(v.get("meaning", ""))}
               for v in (book.get("valence", []) if isinstance(book, dict) else []) if isinstance(v, dict)]
    return {"codes": codes, "valence": valence, "source": "corpus/thesis/codebook.json"}
