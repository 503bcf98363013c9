"""Terminal review for a remote shell: the passage, its context and the suggestion; one answer per line.

Answers: Enter accepts the suggestion, ``NET+ ABS0`` gives codes with valences (a code
alone takes the suggested valence), ``none`` = no code applies, ``s`` skips, ``u``
undoes your last answer, ``q`` quits. Each answer is committed before the next passage.
"""
from __future__ import annotations

import sys
import textwrap
from typing import TextIO

from pipeline.review.answers import ReviewError, Suggestion, format_codes, parse_answer
from pipeline.review.session import ReviewSession, Visit

PROMPT = "answer [Enter = accept suggestion | NET+ ABS0 | none | s skip | u undo | q quit]: "


def _wrap(text: str, indent: str = "  ", width: int = 100) -> str:
    return "\n".join(textwrap.fill(par, width, initial_indent=indent, subsequent_indent=indent)
                     for par in text.splitlines() if par.strip()) or indent


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def mark_evidence(text: str, spans: list[dict]) -> str:
    """Wrap evidence sentences in »…« (terminals have no highlight we can rely on)."""
    out, at = [], 0
    for span in sorted(spans, key=lambda s: s["start"]):
        start = max(span["start"], at)
        if start >= span["end"]:
            continue
        out += [text[at:start], "»", text[start:span["end"]], "«"]
        at = span["end"]
    return "".join(out + [text[at:]])


#: answers before the agreement estimate is shown (as on the review page)
MIN_FOR_ESTIMATE = 5


def agreement_words(progress: dict) -> str:
    """The estimated agreement in words: the share of answers that equal the model's suggestion."""
    reviewed = progress["reviewed"]
    if reviewed < MIN_FOR_ESTIMATE or progress["agreement"] is None:
        return f"agreement with the model: no estimate before {MIN_FOR_ESTIMATE} answers"
    same = round(progress["agreement"] * reviewed)
    return (f"{same} of {reviewed} answers equal the model's suggestion ({progress['agreement']:.0%}; "
            "the least certain passages come first, so this runs low)")


def render(item: dict, progress: dict) -> str:
    """The passage as plain text (terminal output is not interpreted, so no escaping is needed)."""
    lines = [
        "",
        f"[{progress['reviewed']} reviewed / {progress['queued']} queued · {agreement_words(progress)}]",
        f"{item['company']} · {item['source']} · speaker: {item['speaker'] or '–'} · {item['id']}",
    ]
    if item["previous"]:
        lines += [f"  before ({item['previous']['speaker'] or '–'}):", _wrap(_clip(item["previous"]["text"]), "    ")]
    lines += [">>>", _wrap(mark_evidence(item["text"], item["evidence"])), "<<<"]
    if item["next"]:
        lines += [f"  after ({item['next']['speaker'] or '–'}):", _wrap(_clip(item["next"]["text"]), "    ")]
    rows = []
    for c in item["codes"]:
        vp = " ".join(f"{v} {p:.2f}" for v, p in (c["valence_p"] or {}).items())
        star = "*" if c["assigned"] else " "
        rows.append(f"  {star} {c['code']}  p={c['p']:.2f} (threshold {c['threshold']:.2f})  valence {vp}")
    lines += ["model (* = suggested):", *rows, f"suggestion: {format_codes(item['suggestion'])}"]
    return "\n".join(lines)


def run_terminal(session: ReviewSession, reviewer: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Review until the queue is empty, input ends or the reviewer quits; returns the number of answers given."""
    visit, answered = Visit(), 0

    def say(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    while True:
        coding = session.next_coding(visit, f"terminal:{reviewer}")
        if coding is None:
            say("The queue is empty: every passage has an answer.")
            return answered
        item = session.describe(coding)
        say(render(item, session.progress()))
        while True:
            stdout.write(PROMPT)
            stdout.flush()
            line = stdin.readline()
            if not line:
                say("")
                return answered
            command = line.strip()
            try:
                if command.lower() in ("q", "quit", "exit"):
                    return answered
                if command.lower() == "s":
                    session.skip(coding.passage.id, visit, f"terminal:{reviewer}")
                    say(f"skipped {coding.passage.id}")
                elif command.lower() == "u":
                    undone = session.undo(reviewer, visit)
                    say(f"undid your answer for {undone.passage_id}" if undone else "nothing to undo")
                else:
                    codes = (dict(item["suggestion"]) if not command
                             else parse_answer(command, Suggestion.from_coding(coding)))
                    stored = session.answer(coding.passage.id, codes, reviewer, visit)
                    answered += 1
                    say(f"saved #{stored.id}: {format_codes(stored.codes)}")
                break
            except ReviewError as error:
                say(f"  {error}")
