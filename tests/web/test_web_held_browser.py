"""The committee's held-files and quarters pages in real headless Chromium (as
tests/web/test_web_browser.py: Debian's chromium driven by Playwright, no JavaScript), against
`pilotkpi web` on tests/web/held_story.py's held files, with screenshots in Thai and English:
web-held, web-held-file and web-quarters. `WEB_SCREENSHOTS=docs/screenshots pytest
tests/web/test_web_held_browser.py` writes the committed ones.
"""
from __future__ import annotations

import shutil

import pytest

from tests.support import SERIAL
from tests.web.browser import chromium, follow, needs_chromium, new_page, shots_dir, sign_in, switch_language

pytestmark = needs_chromium


@pytest.fixture
def story(held_story_site, tmp_path):
    """A copy of the held story (tests/web/conftest.py `held_story_site`) for this test."""
    folder, ids = held_story_site
    target = tmp_path / "demo"
    shutil.copytree(folder, target, symlinks=True)
    return target, ids


@pytest.fixture
def site_dir(story):
    """conftest's site_dir, overridden: its `server` and `passwords` then serve the held story."""
    return story[0]


@SERIAL
def test_committee_reads_a_held_file_and_the_quarters_in_chromium(story, server, passwords, tmp_path):
    (base, _), ids = server, story[1]
    shots = shots_dir(tmp_path)
    with chromium() as browser:
        page = new_page(browser)
        sign_in(page, base, "demo-committee", passwords["demo-committee"])
        lang = "th"

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"web-{name}.{lang}.png"), full_page=True)

        for lang in ("th", "en"):
            switch_language(page, lang)
            page.goto(base + "/held")
            assert page.locator("#held tr[data-submission]").count() == 5
            shot("held")
            follow(page, f'a[href="/held/{ids["opdc_q3"]}"]')  # the guide's OPDC correction, K1 45.6
            composite = page.locator('#figures tr[data-kpi="composite"]')
            assert composite.locator('[data-field="score-now"]').inner_text() == "3.2600"
            assert composite.locator('[data-field="score-if"]').inner_text() == "2.4600"
            assert page.locator("form#approve button").is_visible() and page.locator("form#reject").count() == 1
            shot("held-file")
            page.goto(base + "/quarters")
            assert page.locator("#closures tr[data-pilot]").count() == 6
            assert page.locator("form#close input[name=confirm]").count() == 1
            shot("quarters")
        assert page.locator("html").get_attribute("lang") == "en"
    for name in ("held", "held-file", "quarters"):
        for lang in ("th", "en"):
            assert (shots / f"web-{name}.{lang}.png").stat().st_size > 10_000
