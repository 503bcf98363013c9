"""The review page in headless Chromium: keyboard answers persist; transcript markup stays inert text."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
