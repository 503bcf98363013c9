"""Evidence passages in the report: each passage once, with every code it carries, and the
filter (code, valence, confidence) that the report's script applies to them."""
from __future__ import annotations

from html import escape

from pipeline.records import CODES, Coding, Profile, VALENCES

VALENCE_WORDS = {"+": "shown", "-": "lacking", "0": "neither"}


def evidence_ids(profile: Profile) -> list[str]:
    """The profile's evidence passages, each once, in code order then rank."""
    seen: dict[str, None] = {}
    for cp in profile.codes.values():
        seen.update((pid, None) for pid in cp.evidence)
    return list(seen)


def highlighted(coding: Coding) -> str:
    """The passage text, escaped, with every code's evidence sentence marked (overlaps merged)."""
    p, text = coding.passage, coding.passage.text
    spans = [(a - p.start, b - p.start, code) for code, (a, b) in coding.evidence.items()
             if code in coding.assigned and p.start <= a < b <= p.end]
    cuts = sorted({0, len(text), *(s for a, b, _ in spans for s in (a, b))})
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        codes = [code for s, e, code in spans if s <= a and b <= e]
        piece = escape(text[a:b])
        parts.append(f'<mark title="evidence for {", ".join(codes)}">{piece}</mark>' if codes else piece)
    return "".join(parts)


def badges(coding: Coding, colours: dict[str, str]) -> str:
    return "".join(
        f'<span class="badge" style="border-color:{colours[c]}" title="{c} {VALENCE_WORDS.get(s.valence, "")}, '
        f'confidence {s.p:.2f}"><b style="color:{colours[c]}">{c}</b> {escape(s.valence)} '
        f'<span class="muted">{s.p:.2f}</span></span>'
        for c in CODES if c in coding.assigned for s in [coding.codes[c]])


def passage_block(coding: Coding, colours: dict[str, str]) -> str:
    """One passage; data-codes ("NET:+:0.91 ENT:0:0.62") is what the filter reads."""
    pid = coding.passage.id
    tags = " ".join(f"{c}:{coding.codes[c].valence}:{coding.codes[c].p:.4f}" for c in CODES if c in coding.assigned)
    speaker = f" · {escape(coding.passage.speaker)}" if coding.passage.speaker else ""
    return (f'<blockquote class="evidence" data-pid="{escape(pid)}" data-codes="{escape(tags)}">'
            f'<p class="ev-head">{badges(coding, colours)} <span class="muted">{escape(pid)}{speaker}</span></p>'
            f"<p>{highlighted(coding)}</p></blockquote>")


def evidence_list(profile: Profile, by_id: dict[str, Coding], colours: dict[str, str]) -> str:
    blocks = [passage_block(by_id[pid], colours) for pid in evidence_ids(profile) if pid in by_id]
    if not blocks:
        return '<p class="muted">none</p>'
    return (f'<div class="evidence-list">{"".join(blocks)}</div>'
            '<p class="muted ev-none" hidden>No evidence passage of this firm matches the filter.</p>')


def filter_bar() -> str:
    """Controls for the evidence filter; hidden until the script runs (they do nothing without it)."""
    codes = "".join(f'<option value="{c}">{c}</option>' for c in CODES)
    valences = "".join(f'<option value="{v}">{v} {VALENCE_WORDS[v]}</option>' for v in VALENCES)
    return (
        '<form class="controls" id="evidence-filter" hidden onsubmit="return false">'
        '<b>Evidence filter</b> '
        f'<label>code <select id="ev-code"><option value="">any</option>{codes}</select></label> '
        f'<label>valence <select id="ev-valence"><option value="">any</option>{valences}</select></label> '
        '<label>confidence at least <input id="ev-conf" type="range" min="0" max="1" step="0.05" value="0"> '
        '<output id="ev-conf-value" for="ev-conf">0.00</output></label> '
        '<span id="ev-count" class="muted" aria-live="polite"></span></form>'
    )
