"""JSON from untrusted input: a result or a ``ValueError`` saying what is wrong, never a crash.

Python's json turns a 5,000-digit integer into an uncaught ValueError (int over 4,300 digits)
and a 30,000-deep array into a RecursionError; both are input problems, reported as such.
"""
from __future__ import annotations

import json

#: longest integer literal accepted (far beyond any count or id an input needs)
MAX_INT_DIGITS = 40


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(literal.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(literal)


def loads(text: str | bytes):
    """Parse JSON; raise ``ValueError`` with a short reason for anything that is not usable JSON."""
    try:
        return json.loads(text, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except UnicodeDecodeError:
        raise ValueError("not valid JSON (not UTF-8)") from None
    except ValueError as exc:
        raise ValueError(f"not usable JSON ({exc})") from None
