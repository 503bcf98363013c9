"""The report's reading notes: what strength means, the codebook, and how far the codes agree
with hand coding (figures read from the evaluation file when the repository has one)."""
from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from pipeline import paths
from pipeline.records import CODES

#: written by ``intcap evaluate --json bench/results/evaluate.json``
EVALUATION = paths.ROOT / "bench" / "results" / "evaluate.json"

STRENGTH_DEFINITION = (
    "Strength sums, over a firm's passages that carry the code, the model's confidence times "
    "(P(+) − P(−)), divided by the square root of the firm's number of coded passages (the default "
    "normaliser): positive "
    "when the capability shows, negative when it is lacking, and not bounded by 1.")

KAPPA_READING = (
    "Cohen's κ is agreement beyond chance: 0 is what coding at random would reach and 1 is full "
    "agreement; 0.41–0.60 is conventionally read as moderate and 0.61–0.80 as substantial.")


def read_codebook(path: Path = paths.CODEBOOK) -> dict:
    """codebook.json as a dict, or {} when it cannot be read (the report then shows code names only)."""
    try:
        book = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return book if isinstance(book, dict) else {}


def code_definitions(book: dict) -> dict[str, dict]:
    """code -> {"name", "definition"} for the codes the codebook defines."""
    return {c["id"]: {"name": str(c.get("name", c["id"])), "definition": str(c.get("definition", ""))}
            for c in book.get("codes", []) if isinstance(c, dict) and c.get("id") in CODES}


def _emphasis(text: str) -> str:
    """Escaped text with the codebook's *emphasis* as <em>."""
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", escape(text))


def codebook_section(book: dict, colours: dict[str, str], names: dict[str, str], source: str) -> str:
    defs = code_definitions(book)
    items = "".join(
        f'<dt id="code-{c}"><span class="swatch" style="background:{colours[c]}"></span>{c} '
        f'{escape(defs.get(c, {}).get("name", names[c]))}</dt>'
        f'<dd>{_emphasis(defs.get(c, {}).get("definition", "")) or "<span class=muted>no definition</span>"}</dd>'
        for c in CODES)
    valences = "".join(f'<dt class="valence">{escape(str(v.get("value", "")))}</dt><dd>{escape(str(v.get("meaning", "")))}</dd>'
                       for v in book.get("valence", []) if isinstance(v, dict))
    where = (f'Definitions from <code>{escape(source)}</code>, as when this report was built; the full '
             "coding standard with its rules is <code>corpus/thesis/CODEBOOK.md</code>."
             if defs else f"The codebook (<code>{escape(source)}</code>) could not be read; codes are named only.")
    return (f'<section class="panel" id="codebook"><h2>Codebook</h2><dl class="codebook">{items}</dl>'
            + (f'<h3>Valence</h3><dl class="codebook valences">{valences}</dl>' if valences else "")
            + f'<p class="muted">{where}</p></section>')


def read_evaluation(path: Path | None) -> dict | None:
    """The evaluation file as a dict, or None when there is none (or it cannot be read)."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _figure(part: dict) -> str | None:
    """"0.64 (95% interval 0.60–0.67)" from {mean_kappa, ci: {mean_kappa: [lo, hi]}}."""
    kappa = part.get("mean_kappa") if isinstance(part, dict) else None
    if not isinstance(kappa, (int, float)):
        return None
    ci = part.get("ci", {})
    band = ci.get("mean_kappa") if isinstance(ci, dict) else None
    if isinstance(band, (list, tuple)) and len(band) == 2 and all(isinstance(b, (int, float)) for b in band):
        return f"<b>{kappa:.2f}</b> (95% interval {band[0]:.2f}–{band[1]:.2f})"
    return f"<b>{kappa:.2f}</b>"


def repo_path(path: Path) -> str:
    """``path`` relative to the checkout when it lies inside it (a report names no home folders)."""
    try:
        return Path(path).resolve().relative_to(paths.ROOT).as_posix()
    except ValueError:
        return Path(path).name


def agreement_section(evaluation: dict | None, source: Path | None, model_version: str) -> str:
    """The caveat: these codes are a model's; how well it agreed with hand coding, where that was measured."""
    intro = ("<p>Every code in this report was given by a model, not by a person; read the profiles as a "
             "first pass to check against the evidence passages.</p>")
    figures = []
    if evaluation is not None:
        dev, loco = _figure(evaluation.get("dev")), _figure(evaluation.get("loco"))
        if dev:
            n = evaluation["dev"].get("n")
            size = f" of {n} passages" if isinstance(n, int) else ""
            figures.append(f"mean κ {dev} on the development set{size} (firms not used in training)")
        if loco:
            figures.append(f"mean κ {loco} on the thesis's passages with each company left out of training in turn")
    if figures:
        encoder = evaluation.get("encoder")
        which = f" (encoder {escape(str(encoder))})" if encoder else ""
        body = (f"<p>Agreement with hand coding (Cohen's κ per code, averaged over the four codes): {'; '.join(figures)}.</p>"
                f"<p>{escape(KAPPA_READING)}</p>"
                f'<p class="muted">Figures from <code>{escape(repo_path(source))}</code>, written by '
                f"<code>intcap evaluate</code> for the model evaluated then{which}; this report's model is "
                f"{escape(model_version) or 'not named'}, so the figures describe it only if it is that model "
                "or one trained the same way.</p>")
    else:
        body = ("<p><b>This model has not been evaluated</b>: the repository has no readable "
                "<code>bench/results/evaluate.json</code>, so there is no measure of how often its codes agree "
                "with hand coding. <code>intcap evaluate --json bench/results/evaluate.json</code> writes one.</p>")
    return f'<section class="panel" id="agreement"><h2>How far to trust the codes</h2>{intro}{body}</section>'
