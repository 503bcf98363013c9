"""The estimated gain of the review so far, read from ``OUT_DIR/review_adaptation.json``.

The fast learning round writes that file after each round (format
``intcap-review-adaptation.v1``): the mean Cohen's kappa over NET/ENT/ABS/PRI of the
starting model's codes against the reviewers' answers (``kappa_before``) and of the
updated model's (``kappa_after``), each answer predicted by a model that did not see
it; ``held_back`` is null while there are too few answers to estimate.

``read_gain`` only reads it. An absent file gives None; so does a malformed one (bad
JSON, wrong types, NaN, out-of-range numbers), with one warning line naming the file,
logged once per version of the file rather than on every request. What it returns is
rebuilt from the validated fields only, so nothing else in the file reaches the page.
"""
from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from pipeline import safejson
from pipeline.records import CODES

ADAPTATION_FILE = "review_adaptation.json"
FORMAT = "intcap-review-adaptation.v1"
#: answers needed before held_back is estimated, when the file does not say
DEFAULT_MIN_ANSWERS = 10
#: larger files are not an adaptation summary (it is well under 1 KB)
MAX_BYTES = 64 * 1024
MAX_COUNT = 10**9
MAX_TEXT = 200

log = logging.getLogger("intcap.review")
_warned: dict[str, tuple] = {}
_warned_lock = threading.Lock()


class _Bad(ValueError):
    """What is wrong with the file, in a few words."""


def _text(value, name: str, limit: int = MAX_TEXT, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _Bad(f"{name} must be a non-empty string of at most {limit} characters")
    return value


def _count(value, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        raise _Bad(f"{name} must be a whole number from {low} to {MAX_COUNT}, found {str(value)[:40]!r}")
    return value


def _kappa(value, name: str, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not -1.0 <= value <= 1.0):
        raise _Bad(f"{name} must be a kappa between -1 and 1, found {str(value)[:40]!r}")
    return float(value)


def _held_back(hb) -> dict | None:
    if hb is None:
        return None
    if not isinstance(hb, dict):
        raise _Bad("held_back must be an object or null")
    per_code = hb.get("per_code", {})
    if not isinstance(per_code, dict) or not set(per_code) <= set(CODES):
        raise _Bad(f"held_back.per_code must map codes among {'/'.join(CODES)} to before/after")
    codes = {}
    for code in CODES:  # codebook order; a code whose kappa is undefined may be null
        if code in per_code:
            entry = per_code[code]
            if not isinstance(entry, dict):
                raise _Bad(f"held_back.per_code.{code} must be an object")
            codes[code] = {"before": _kappa(entry.get("before"), f"held_back.per_code.{code}.before", True),
                           "after": _kappa(entry.get("after"), f"held_back.per_code.{code}.after", True)}
    return {"method": _text(hb.get("method"), "held_back.method", 500, required=False),
            "folds": None if hb.get("folds") is None else _count(hb["folds"], "held_back.folds", 2),
            "answers": _count(hb.get("answers"), "held_back.answers", 1),
            "kappa_before": _kappa(hb.get("kappa_before"), "held_back.kappa_before"),
            "kappa_after": _kappa(hb.get("kappa_after"), "held_back.kappa_after"),
            "per_code": codes}


def parse_gain(raw: bytes) -> dict:
    """The validated gain entry from the file's bytes; raises ValueError saying what is wrong."""
    if len(raw) > MAX_BYTES:
        raise _Bad(f"over {MAX_BYTES} bytes")
    data = safejson.loads(raw)
    if not isinstance(data, dict):
        raise _Bad("expected a JSON object")
    if data.get("format") != FORMAT:
        raise _Bad(f"format must be {FORMAT!r}, found {str(data.get('format'))[:60]!r}")
    if "held_back" not in data:
        raise _Bad("no held_back key (null when not yet estimated)")
    min_answers = data.get("min_answers")
    return {"model_version": _text(data.get("model_version"), "model_version"),
            "base_model_version": _text(data.get("base_model_version"), "base_model_version", required=False),
            "answers": _count(data.get("answers"), "answers"),
            "created": _text(data.get("created"), "created", 64, required=False),
            "min_answers": DEFAULT_MIN_ANSWERS if min_answers is None else _count(min_answers, "min_answers", 1),
            "held_back": _held_back(data["held_back"])}


def read_gain(out_dir: Path | None) -> dict | None:
    """The gain entry for the page, or None when the file is absent or unusable (warned once)."""
    if out_dir is None:
        return None
    path = Path(out_dir) / ADAPTATION_FILE
    stat = None
    try:
        with path.open("rb") as fh:
            stat = path.stat()
            raw = fh.read(MAX_BYTES + 1)
        return parse_gain(raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]  # one line, whatever the message held
        seen = (stat and stat.st_mtime_ns, stat and stat.st_size, reason)
        with _warned_lock:
            if _warned.get(str(path)) != seen:
                _warned[str(path)] = seen
                log.warning("intcap: warning: %s: %s; the review page shows no gain until it is fixed", path, reason)
        return None
