"""The committee's held-files and quarters pages in real headless Chromium (as
tests/web/test_web_browser.py: Debian's chromium driven by Playwright, no JavaScript), against
`pilotkpi web` on tests/web/held_story.py's held files, with screenshots in Thai and English:
web-held, web-held-file and web-quarters. `WEB_SCREENSHOTS=docs/screenshots pytest
tests/web/test_web_held_browser.py` writes the committed ones.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import SERIAL
from tests.web.held_story import make_held_story
from tests.web.test_web_browser import CHROMIUM, MISSING

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def story(demo_run, tmp_path):
    folder, _ = demo_run
    target = tmp_path / "demo"
    return target, make_held_story(folder, target)


@pytest.fixture
def site_dir(story):
    """conftest's site_dir, overridden: its `server` and `passwords` then serve the held story."""
    return story[0]


@SERIAL
def test_committee_reads_a_held_file_and_the_quarters_in_chromium(story, server, passwords, tmp_path):
    from playwright.sync_api import sync_playwright

    (base, _), ids = server, story[1]
    shots = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
        page.goto(base + "/signin")
        page.fill("input[name=name]", "demo-committee")
        page.fill("input[name=password]", passwords["demo-committee"])
        page.click("#sign-in")
        lang = "th"

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"web-{name}.{lang}.png"), full_page=True)

        for lang in ("th", "en"):
            page.goto(base + "/held")
            assert page.locator("#held tr[data-submission]").count() == 5
            shot("held")
            page.click(f'a[href="/held/{ids["opdc_q3"]}"]')  # the guide's OPDC correction, K1 45.6
            composite = page.locator('#figures tr[data-kpi="composite"]')
            assert composite.locator('[data-field="score-now"]').inner_text() == "3.2600"
            assert composite.locator('[data-field="score-if"]').inner_text() == "2.4600"
            assert page.locator("form#approve button").is_visible() and page.locator("form#reject").count() == 1
            shot("held-file")
            page.goto(base + "/quarters")
            assert page.locator("#closures tr[data-pilot]").count() == 6
            assert page.locator("form#close input[name=confirm]").count() == 1
            shot("quarters")
            if lang == "th":
                page.click("#switch-language")
        assert page.locator("html").get_attribute("lang") == "en"
        browser.close()
    for name in ("held", "held-file", "quarters"):
        for lang in ("th", "en"):
            assert (shots / f"web-{name}.{lang}.png").stat().st_size > 10_000
