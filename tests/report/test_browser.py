"""The demo report in a real headless Chromium: every section renders, every chart draws,
nothing is fetched from the network, no console errors; screenshots for the record.

Needs Debian's ``chromium`` (``scripts/setup-system.sh`` installs it) and Playwright for Python
(``pip install playwright``; its own browser download is not used).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segmint.report._html import SECTIONS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTED_SECTIONS = {"evidence", "segments", "stability", "lift", "prioritisation"}

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"{CHROMIUM} missing: run scripts/setup-system.sh (Debian package chromium)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def page_report(demo_run: Path):
    """The demo report opened from disk, with everything the page logged and requested."""
    url = (demo_run / "report.html").resolve().as_uri()
    seen = {"console": [], "errors": [], "requests": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(url, wait_until="load")
            yield page, url, seen
        finally:
            browser.close()


def test_only_the_file_itself_is_loaded_and_nothing_errs(page_report) -> None:
    _, url, seen = page_report
    assert seen["requests"] == [url]
    assert seen["errors"] == []
    assert [t for t in seen["console"] if t[0] in ("error", "warning")] == []


def test_every_section_is_visible_and_has_content(page_report) -> None:
    page, _, _ = page_report
    for name, _label in SECTIONS:
        section = page.locator(f'[data-section="{name}"]')
        assert section.count() == 1, name
        assert section.is_visible(), name
        box = section.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, (name, box)
        text = section.inner_text().strip()
        assert len(text) > 40, (name, text)


def test_every_chart_draws_visible_marks(page_report) -> None:
    page, _, _ = page_report
    charts = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart, table.heat')].map(chart => {
            const marks = [...chart.querySelectorAll('.mark')];
            const empty = marks.filter(m => {
                const r = m.getBoundingClientRect();
                return !(r.width > 0 && r.height > 0);
            });
            return {
                label: chart.getAttribute('aria-label') || chart.className,
                section: chart.closest('[data-section]').dataset.section,
                marks: marks.length,
                empty: empty.length,
            };
        })"""
    )
    assert charts, "no charts found"
    for chart in charts:
        assert chart["marks"] > 0, chart
        assert chart["empty"] == 0, chart
    sections = {c["section"] for c in charts}
    assert sections >= CHARTED_SECTIONS | {"profiles"}, sections


def test_the_overview_states_the_lift_verdict_with_numbers(page_report) -> None:
    page, _, _ = page_report
    verdict = page.locator('[data-section="overview"] [data-testid="lift-verdict"]').inner_text()
    assert re.search(r"Segments explain \d+\.\d% of the variance", verdict), verdict
    assert re.search(r"vs\. \d+\.\d% for an RFM score in \d+ groups", verdict), verdict
    assert re.search(r"\d+\.\d% for the \d+ named RFM segments", verdict), verdict


def test_cards_print_one_per_page(page_report) -> None:
    page, _, _ = page_report
    cards = page.locator("article.persona")
    assert cards.count() >= 2
    page.emulate_media(media="print")
    try:
        breaks = page.evaluate(
            "() => [...document.querySelectorAll('article.persona')]"
            ".map(c => getComputedStyle(c).breakBefore)"
        )
        assert set(breaks) == {"page"}, breaks
        assert page.locator("nav").is_hidden()
    finally:
        page.emulate_media(media="screen")


def test_screenshots_for_the_record(page_report) -> None:
    page, _, _ = page_report
    ARTIFACTS.mkdir(exist_ok=True)
    full, card = ARTIFACTS / "report-full.png", ARTIFACTS / "persona-card.png"
    for path in (full, card):
        path.unlink(missing_ok=True)
    page.screenshot(path=str(full), full_page=True)
    page.emulate_media(media="print")  # the card as it prints: no sticky navigation over it
    try:
        page.locator("article.persona").first.screenshot(path=str(card))
    finally:
        page.emulate_media(media="screen")
    for path in (full, card):
        assert path.stat().st_size > 10_000, path
    # the artifacts folder is git-ignored
    ignored = (ARTIFACTS.parent / ".gitignore").read_text()
    assert "test-artifacts/" in ignored
