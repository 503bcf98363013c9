"""The review page in headless Chromium: keyboard answers persist; transcript markup stays inert text;
the codebook panel shows definitions and examples; undo brings back the reviewer's own answer; the
figures say what they mean; nothing overflows and the console stays clean.

``browser``, ``OVERFLOW`` and ``watch_console`` are shared with test_report_browser.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline import paths
from pipeline.review.server import create_app
from pipeline.review.session import ReviewSession
from pipeline.review.store import LabelStore
from test_review_support import XSS, coding_row, live_server, small_out_dir, write_out_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it as root)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


#: boxes whose content is wider than they are, or that stick out of a parent which does not clip
#: (a scroll container may scroll); inside SVG only the <svg> itself counts
OVERFLOW = """() => {
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.classList.length ? "." + [...el.classList].join(".") : "");
  const bad = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const parent = el.parentElement;
    const visible = (node) => getComputedStyle(node).overflowX === "visible";
    const p = parent.getBoundingClientRect();
    if (visible(parent) && (r.right > p.right + 1 || r.left < p.left - 1)) bad.push(name(el) + " sticks out of " + name(parent));
    if (visible(el) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) bad.push(name(el) + " is narrower than its content");
  }
  if (document.documentElement.scrollWidth > window.innerWidth) bad.push("the page scrolls sideways");
  return bad;
}"""


def watch_console(page) -> list[str]:
    """Console errors and uncaught exceptions of ``page``, as they happen."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def current_id(page) -> str:
    page.wait_for_function("() => document.getElementById('passage').dataset.id")
    return page.get_attribute("#passage", "data-id")


def test_answer_with_the_keyboard_reload_and_move_on(browser, tmp_path):
    out = small_out_dir(tmp_path / "out", companies=1)
    session = ReviewSession.open(out, strategy="uncertainty")
    with live_server(create_app(session, reviewer="bea")) as base:
        page = browser.new_page()
        page.goto(base + "/")
        first = current_id(page)
        suggestion = session.describe(session.corpus.get(first))["suggestion"]
        expected = dict(suggestion)
        if "ABS" in expected:  # key 3 toggles ABS; + sets its valence
            del expected["ABS"]
            page.keyboard.press("3")
        else:
            expected["ABS"] = "+"
            page.keyboard.press("3")
            page.keyboard.press("+")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('saved')")
        page.reload()
        second = current_id(page)
        assert second != first
        assert "1 reviewed" in page.text_content("#progress")
        page.keyboard.press("s")  # skip, then undo the first answer: it comes back
        page.wait_for_function(f"() => document.getElementById('passage').dataset.id !== {second!r}")
        page.keyboard.press("u")
        page.wait_for_function(f"() => document.getElementById('passage').dataset.id === {first!r}")
        page.close()
    store = LabelStore.open(out)
    history = store.history()
    store.close()
    session.store.close()
    assert [(a.passage_id, a.codes, a.reviewer, a.undone) for a in history] == [(first, expected, "bea", True)]


def test_markup_in_a_transcript_renders_as_inert_text(browser, tmp_path):
    row = coding_row("xss-1", "<i>Evil</i> A/S", "evil.md", 0, XSS, {"NET": "+"}, speaker="<b>CEO</b>")
    row["evidence"] = {"NET": [0, 30]}
    out = write_out_dir(tmp_path / "out", [row, coding_row("xss-2", "Plain", "evil.md", len(XSS) + 2,
                                                           "<script>alert(3)</script>", {})])
    session = ReviewSession.open(out, strategy="uncertainty")
    dialogs: list[str] = []
    with live_server(create_app(session, reviewer="<img src=x onerror=alert(4)>")) as base:
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/")
        seen = []
        for _ in range(2):  # both passages, whichever the queue shows first
            shown = current_id(page)
            text = page.text_content("#passage")
            if shown == "xss-1":
                assert "<script>alert(1)</script><b>x</b>" in text and "<img src=x onerror=alert(2)>" in text
                assert page.text_content("#company") == "<i>Evil</i> A/S"
                assert page.text_content("#speaker") == "<b>CEO</b>"
                assert page.locator("#passage mark").count() == 1
            else:
                assert text == "<script>alert(3)</script>"
            assert page.locator("#passage b, #passage script, #passage img, #company i, #speaker b, "
                                "#main img, #previous b, #next script").count() == 0
            seen.append(shown)
            page.keyboard.press("s")
            page.wait_for_function(f"() => document.getElementById('passage').dataset.id !== {shown!r}")
        assert sorted(seen) == ["xss-1", "xss-2"]
        assert page.input_value("#reviewer") == "<img src=x onerror=alert(4)>"
        page.wait_for_timeout(300)
        assert dialogs == []
        page.close()
    session.store.close()


def shown_answer(page) -> dict[str, str]:
    """The answer the page is building: code -> chosen valence, for the rows switched on."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#code-rows tr.on')].map(
        (tr) => [tr.dataset.code, tr.querySelector('.valence button.chosen').textContent]))""")


def test_codebook_panel_shows_definitions_and_an_example_of_each_valence(browser, tmp_path):
    out = small_out_dir(tmp_path / "out", companies=1)
    session = ReviewSession.open(out, strategy="uncertainty")
    book = {c["id"]: c for c in json.loads(paths.CODEBOOK.read_text(encoding="utf-8"))["codes"]}
    with live_server(create_app(session, reviewer="bea")) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        page.goto(base + "/")
        current_id(page)
        page.wait_for_function("() => document.querySelectorAll('#code-help details').length === 4")
        page.keyboard.press("1")  # select NET: its entry opens, with its definition and three examples
        net = page.locator('#code-help details[data-code="NET"]')
        assert net.get_attribute("open") is not None and "current" in net.get_attribute("class")
        assert net.locator("p").inner_text() == book["NET"]["definition"].replace("*", "")
        assert net.locator("dd").count() == 3 and net.locator("dd").first.is_visible()
        assert page.locator('#code-help details[open]').count() == 1
        for code, entry in book.items():  # and every code cell names the code, with the definition on hover
            cell = page.locator(f'#code-rows tr[data-code="{code}"] td.code')
            assert entry["name"] in cell.inner_text()
            assert cell.locator("abbr").get_attribute("title") == f"{entry['name']}: {entry['definition'].replace('*', '')}"
        assert page.evaluate(OVERFLOW) == []
        assert errors == []
        page.close()
    session.store.close()


def test_undo_restores_the_answer_given_and_the_figures_say_what_they_mean(browser, tmp_path):
    out = small_out_dir(tmp_path / "out", companies=1)
    session = ReviewSession.open(out, strategy="uncertainty")
    with live_server(create_app(session, reviewer="bea")) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        page.goto(base + "/")
        first = current_id(page)
        figures = page.text_content("#figures")
        assert "no estimate yet" in figures and "%" not in figures
        assert "will use 0 answers" in figures
        suggestion = session.describe(session.corpus.get(first))["suggestion"]
        given = dict(suggestion)
        if "PRI" in given:  # 4 toggles PRI; the answer differs from the suggestion either way
            del given["PRI"]
            page.keyboard.press("4")
        else:
            given["PRI"] = "-"
            page.keyboard.press("4")
            page.keyboard.press("-")
        assert shown_answer(page) == given
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.getElementById('passage').dataset.id !== {first!r}")
        assert "will use 1 answer " in page.text_content("#figures")
        assert "1 of 1 so far" in page.text_content("#agreement") or "0 of 1 so far" in page.text_content("#agreement")
        page.keyboard.press("u")
        page.wait_for_function(f"() => document.getElementById('passage').dataset.id === {first!r}")
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('undid')")
        assert shown_answer(page) == given != suggestion  # the reviewer's answer, not the model's suggestion
        assert "will use 0 answers" in page.text_content("#figures")
        page.reload()  # the restored answer survives a reload (it is kept with the browser session)
        assert current_id(page) == first
        page.wait_for_function("() => document.querySelectorAll('#code-help details').length === 4")
        assert shown_answer(page) == given
        assert errors == []
        page.close()
    session.store.close()


def test_the_gain_of_the_last_round_is_shown_in_words(browser, tmp_path):
    from pipeline.review.gain import ADAPTATION_FILE
    from test_review_server import ADAPTATION

    out = small_out_dir(tmp_path / "out", companies=1)
    path = out / ADAPTATION_FILE
    session = ReviewSession.open(out, strategy="uncertainty")
    with live_server(create_app(session, reviewer="bea")) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        page.goto(base + "/")
        current_id(page)
        assert page.locator("#gain-figures").is_hidden() and "held-back" not in page.text_content("body")
        assert "Suggestions from model test-v1" in page.text_content("#figures")

        path.write_text(json.dumps(ADAPTATION), encoding="utf-8")
        page.reload()
        current_id(page)
        page.wait_for_function("() => document.getElementById('gain').textContent !== ''")
        assert page.locator("#gain").is_visible()
        assert page.text_content("#gain") == "Agreement on held-back answers rose from 0.61 to 0.70 (57 answers)"
        codes = page.text_content("#gain-codes")
        assert "NET 0.60 → 0.70 · ENT 0.55 → 0.66 · ABS 0.70 → 0.68 · PRI 0.59 → 0.76" in codes
        assert "7c4c0b051638 → 7c4c0b051638+a1b2c3d4" in codes
        title = page.get_attribute("#gain", "title")
        assert "Cohen's kappa" in title and "least sure" in title and "5-fold" in title
        assert page.evaluate(OVERFLOW) == []

        worse = {**ADAPTATION, "held_back": {**ADAPTATION["held_back"], "kappa_after": 0.5, "answers": 1}}
        path.write_text(json.dumps(worse), encoding="utf-8")
        page.reload()
        page.wait_for_function("() => document.getElementById('gain').textContent.includes('fell')")
        assert page.text_content("#gain") == "Agreement on held-back answers fell from 0.61 to 0.50 (1 answer)"

        same = {**ADAPTATION, "held_back": {**ADAPTATION["held_back"], "kappa_after": 0.6149}}
        path.write_text(json.dumps(same), encoding="utf-8")
        page.reload()
        page.wait_for_function("() => document.getElementById('gain').textContent.includes('stayed')")
        assert page.text_content("#gain") == "Agreement on held-back answers stayed at 0.61 (57 answers)"

        path.write_text(json.dumps({**ADAPTATION, "answers": 4, "held_back": None}), encoding="utf-8")
        page.reload()
        page.wait_for_function("() => document.getElementById('gain').textContent.startsWith('Gain')")
        assert page.text_content("#gain") == "Gain: not yet estimated (needs at least 10 answers)"

        path.write_text('{"format": "intcap-review-adaptation.v1", "held_back": NaN', encoding="utf-8")
        page.reload()  # malformed: nothing about gain, the page works
        current_id(page)
        page.wait_for_function("() => document.getElementById('progress').textContent.includes('reviewed')")
        assert page.locator("#gain-figures").is_hidden() and page.text_content("#gain") == ""
        assert errors == []
        page.close()
    session.store.close()
