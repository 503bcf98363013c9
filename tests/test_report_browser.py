"""The report in headless Chromium, built from three bundled interviews (test_report.build_report):
heat map and overview render, sorting and filters work, bars are proportional, each evidence
passage appears once, nothing overflows, nothing is fetched, the console stays clean."""
from __future__ import annotations

import pytest

from test_report import built_report
from test_review_browser import OVERFLOW, browser, watch_console  # noqa: F401 (browser is a fixture)


@pytest.fixture(scope="module")
def report_url(tmp_path_factory) -> str:
    return built_report(tmp_path_factory).as_uri()


@pytest.fixture
def page(browser, report_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch_console(page)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if r.url != report_url else None)
    page.goto(report_url)
    yield page
    assert errors == [], "console errors"
    assert fetched == [], "the report fetched something"
    page.close()


def column(page, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#overview tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{index}].dataset.v ?? r.cells[{index}].textContent)")


def test_heat_map_and_overview_render(page):
    firms = page.locator(".card").count()
    assert firms == 2
    assert page.locator("#heat-map tbody tr").count() == firms
    assert page.locator("#heat-map td.heat-cell").count() == firms * 8
    colours = set(page.eval_on_selector_all("#heat-map td.heat-cell", "cells => cells.map(c => c.style.background)"))
    assert len(colours) > 2
    assert page.locator(".ramp-legend").count() == 2
    assert page.locator("#overview tbody tr").count() == firms
    assert page.locator("#overview-filter").is_visible() and page.locator("#evidence-filter").is_visible()
    assert page.text_content("#firm-count") == f"{firms} of {firms} firms"
    assert page.locator("#history .history-firm.removed").count() == 1


def test_overview_sorts_and_filters(page):
    page.click("#overview thead th:nth-child(1) button")
    names = column(page, 0)
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    page.click("#overview thead th:nth-child(5) button")  # NET str: high to low first, then low to high
    assert page.get_attribute("#overview thead th:nth-child(5)", "aria-sort") == "descending"
    values = [float(v) for v in column(page, 4)]
    assert values == sorted(values, reverse=True)
    page.click("#overview thead th:nth-child(5) button")
    assert [float(v) for v in column(page, 4)] == sorted(values)
    page.fill("#firm-filter", "nup")
    assert column(page, 0) == ["nupo"] and page.text_content("#firm-count") == "1 of 2 firms"


def test_bars_are_proportional_and_inside_their_chart(page):
    for kind in ("cov", "str"):
        bars = page.eval_on_selector_all(f"rect.bar-{kind}", """rects => rects.map(r => {
            const b = r.getBoundingClientRect(), s = r.ownerSVGElement.getBoundingClientRect();
            return [parseFloat(r.dataset.value), b.width, b.left >= s.left - 0.5 && b.right <= s.right + 0.5];
        })""")
        assert bars and all(inside for _, _, inside in bars)
        ratios = [width / abs(value) for value, width, _ in bars if abs(value) >= 0.02]
        assert max(ratios) - min(ratios) < 0.02 * max(ratios), (kind, bars)


def test_each_passage_appears_once_and_the_evidence_filter_works(page):
    ids = page.eval_on_selector_all("blockquote.evidence", "qs => qs.map(q => q.dataset.pid)")
    assert ids and len(ids) == len(set(ids))
    page.select_option("#ev-code", "NET")
    page.fill("#ev-conf", "0.6")
    page.dispatch_event("#ev-conf", "input")
    shown = page.eval_on_selector_all("blockquote.evidence:not([hidden])", "qs => qs.map(q => q.dataset.codes)")
    assert len(shown) < len(ids) or all("NET" in s for s in shown)
    for tags in shown:
        assert any(t.split(":")[0] == "NET" and float(t.split(":")[2]) >= 0.6 for t in tags.split())
    assert page.text_content("#ev-count") == f"{len(shown)} of {len(ids)} passages shown"


@pytest.mark.parametrize("width", [1280, 760])
def test_nothing_overflows_its_box(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    assert page.evaluate(OVERFLOW) == []
    if width >= 1280:  # on a desktop screen no table needs its sideways scroll
        assert page.eval_on_selector_all(".tablewrap", "ws => ws.filter(w => w.scrollWidth > w.clientWidth + 1).length") == 0


def test_print_hides_the_controls(page):
    page.emulate_media(media="print")
    assert not page.locator("#evidence-filter").is_visible() and not page.locator("nav").is_visible()
    assert page.locator("#heat-map").is_visible()


def test_the_overflow_check_sees_an_overflow(page):
    page.evaluate("""() => { const box = document.createElement('div'); box.style.width = '40px';
        box.textContent = 'Unbreakablecompanynamethatdoesnotfit'; document.getElementById('heat').append(box); }""")
    assert page.evaluate(OVERFLOW) == ["div is narrower than its content"]
