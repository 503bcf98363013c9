"""The HTML report: heat map, unclipped bars, each evidence passage once, codebook and agreement
notes, history charts with removed firms, permissions. ``build_report`` (a real report from
three thesis interviews, refreshed three times with the hash encoder) also serves
test_report_browser.py."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from html import escape
from pathlib import Path

from pipeline import paths
from pipeline.profile import build_profiles
from pipeline.records import CODES, CodeProfile, CodeScore, Coding, Passage, Profile
from pipeline.refresh import refresh
from pipeline.report import render_report, write_report
from pipeline.report_history import history_section
from pipeline.report_notes import read_codebook
from pipeline.store import open_store

FIRMS = ("acoplastic.md", "acubiz.md", "nupo.md")
HASH_ENCODER = "hashing.v1"
_built: dict[str, Path] = {}


def fast_model(folder: Path) -> Path:
    """The hash encoder with the slower heads off: a real model in a few seconds (the report needs
    real codings, not good ones)."""
    from pipeline.coder import CoderSettings
    from pipeline.train import train_model

    train_model(folder, settings=CoderSettings(encoder=HASH_ENCODER, threshold_folds=2, training_corpus=False,
                                               multilingual="", tfidf_weight=0.0, register_augment=""))
    return folder


def built_report(tmp_path_factory) -> Path:
    """build_report once per test session."""
    if "report" not in _built:
        _built["report"] = build_report(tmp_path_factory.mktemp("report"))
    return _built["report"]


def build_report(tmp: Path, evaluation: Path | None = paths.ROOT / "bench" / "results" / "evaluate.json") -> Path:
    """report.html for three bundled interviews over three refresh runs; acubiz is removed after the first."""
    corpus = tmp / "corpus"
    corpus.mkdir(parents=True)
    for name in FIRMS:
        shutil.copy(paths.INTERVIEWS / name, corpus / name)
    model = fast_model(tmp / "model")
    with open_store(tmp / "r.db") as store:
        refresh(corpus, store, model)
        (corpus / "acubiz.md").unlink()
        refresh(corpus, store, model)
        with (corpus / "nupo.md").open("a", encoding="utf-8") as fh:
            fh.write("\nWe met our German distributor at a fair in Hannover and built the network from there.\n")
        refresh(corpus, store, model)
        codings = list(store.iter_codings())
        html = render_report(build_profiles(codings), codings, model_version="hash-test",
                             extra_sections=[history_section(store)], evaluation=evaluation)
    write_report(tmp / "report.html", html)
    return tmp / "report.html"


def coding(pid: str, company: str, text: str, assigned: dict[str, str], evidence=None) -> Coding:
    codes = {c: CodeScore(0.9 if c in assigned else 0.1, assigned.get(c, "+"), {"+": 0.8, "-": 0.1, "0": 0.1})
             for c in CODES}
    return Coding(Passage(pid, company, f"{company}.txt", 0, len(text), text), codes, list(assigned),
                  evidence or {}, model_version="v1")


def profile(company: str, strengths: dict[str, float], evidence: dict[str, list[str]] | None = None) -> Profile:
    codes = {c: CodeProfile(coverage=0.5, strength=strengths.get(c, 0.0), count=1, positive=1, negative=0, neutral=0,
                            evidence=(evidence or {}).get(c, [])) for c in CODES}
    return Profile(company, 4, codes, "network")


def bar_widths(html: str, kind: str) -> dict[str, float]:
    return {m["code"]: float(m["w"]) for m in re.finditer(
        rf'class="bar-{kind}" data-code="(?P<code>\w+)" data-value="[^"]+" x="[^"]+" y="[^"]+" width="(?P<w>[\d.]+)"',
        html)}


def test_strength_bars_are_proportional_and_never_clipped():
    html = render_report([profile("A", {"NET": 1.46, "ENT": 1.27, "ABS": -0.3, "PRI": 0.0})], [])
    widths = bar_widths(html, "str")
    assert widths["NET"] > widths["ENT"] > widths["ABS"] > widths["PRI"] == 0.0
    assert abs(widths["ENT"] / widths["NET"] - 1.27 / 1.46) < 0.01
    assert abs(widths["ABS"] / widths["NET"] - 0.3 / 1.46) < 0.01
    svg_width = float(re.search(r'<svg class="bars"[^>]* width="(\d+)"', html).group(1))
    for m in re.finditer(r'class="bar-str"[^>]* x="([-\d.]+)" y="[^"]+" width="([\d.]+)"', html):
        assert float(m.group(1)) >= 0 and float(m.group(1)) + float(m.group(2)) <= svg_width


def test_a_passage_with_several_codes_is_shown_once_with_all_of_them():
    text = "We met our partner at a fair. Then we opened an office in Oslo."
    both = coding("a-01", "A", text, {"NET": "+", "ENT": "-"}, {"NET": (0, 29), "ENT": (30, len(text))})
    prof = profile("A", {"NET": 0.5, "ENT": -0.2}, {"NET": ["a-01"], "ENT": ["a-01"]})
    html = render_report([prof], [both])
    assert html.count('data-pid="a-01"') == 1
    block = re.search(r'<blockquote class="evidence" data-pid="a-01" data-codes="([^"]+)">(.*?)</blockquote>', html)
    assert block.group(1) == "NET:+:0.9000 ENT:-:0.9000"
    assert "<b style=\"color:#3b6ea5\">NET</b> +" in block.group(2) and ">ENT</b> -" in block.group(2)
    assert block.group(2).count("<mark") == 2


def test_report_carries_the_codebook_and_the_strength_definition():
    html = render_report([profile("A", {"NET": 0.5})], [])
    book = read_codebook()
    for code in book["codes"]:
        assert f'id="code-{code["id"]}"' in html
        assert escape(code["definition"].split(":")[0]) in html  # the definition's opening words
    assert html.count("Strength sums, over a firm") == 1
    assert 'id="heat-map"' in html and 'id="overview"' in html
    assert "<script>" in html and "src=" not in html.split("<script>")[1]


def test_agreement_figures_come_from_the_evaluation_file(tmp_path):
    evaluation = tmp_path / "evaluate.json"
    evaluation.write_text(json.dumps({"encoder": "x.v1", "dev": {"mean_kappa": 0.612, "ci": {"mean_kappa": [0.5, 0.7]}},
                                      "loco": {"mean_kappa": 0.433, "ci": {"mean_kappa": [0.31, 0.52]}}}))
    html = render_report([profile("A", {})], [], evaluation=evaluation)
    assert "<b>0.61</b> (95% interval 0.50–0.70)" in html and "<b>0.43</b> (95% interval 0.31–0.52)" in html
    assert "evaluate.json" in html and "agreement beyond chance" in html
    missing = render_report([profile("A", {})], [], evaluation=tmp_path / "none.json")
    assert "This model has not been evaluated" in missing and "κ <b>" not in missing


def test_the_repository_evaluation_is_quoted_when_present():
    source = paths.ROOT / "bench" / "results" / "evaluate.json"
    html = render_report([profile("A", {})], [])
    if not source.is_file():
        assert "This model has not been evaluated" in html
        return
    data = json.loads(source.read_text())
    assert f"<b>{data['dev']['mean_kappa']:.2f}</b>" in html and f"<b>{data['loco']['mean_kappa']:.2f}</b>" in html
    assert "bench/results/evaluate.json" in html


def test_history_marks_the_removed_firm_and_draws_distinct_markers(tmp_path_factory):
    html = built_report(tmp_path_factory).read_text(encoding="utf-8")
    history = html[html.index('id="history"'):]
    firms = re.findall(r'<div class="history-firm( removed)?" data-company="([^"]+)"', history)
    assert {name for _, name in firms} == {"acoplastic", "acubiz", "nupo"}
    assert [name for removed, name in firms if removed] == ["acubiz"]
    assert "removed from the corpus (last coded in run #1)" in history
    assert history.count('class="removed-rule"') == 2  # its coverage and strength charts
    for shape in ("<circle class=\"marker\"", "<rect class=\"marker\"", "<polygon class=\"marker\""):
        assert shape in history  # NET, ENT, and ABS/PRI markers differ in shape
    assert history.count("<polyline") == 2 * 2 * len(CODES)  # two firms with more than one run
    assert html.count('class="card"') == 2  # firms in the corpus now


def test_report_is_written_with_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_report(tmp_path / "report.html", render_report([profile("A", {})], []))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
