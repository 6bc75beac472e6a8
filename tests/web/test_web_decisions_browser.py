"""A committee decision in real headless Chromium (JavaScript off), against `pilotkpi web` on the
held-files site of test_web_decisions.py: queued while a nightly run holds the lock, then applied
by itself (the page reloads through its Refresh header). Screenshots in Thai and English go to
$WEB_SCREENSHOTS when set (`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_decisions_browser.py`
for the committed ones), else to a temporary folder.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.support import SERIAL
from tests.web.test_web_browser import CHROMIUM, MISSING
from tests.web.test_web_decisions import (OPDC, _copy, _passwords, _rows, _start_web, held_site,  # noqa: F401
                                          nightly_holds_the_lock)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@SERIAL
def test_a_decision_queued_then_applied_in_chromium_with_screenshots(held_site, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright
    from prefect.settings import PREFECT_API_URL

    site = _copy(held_site, tmp_path)
    shots = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    proc, base = _start_web(site, PREFECT_API_URL=PREFECT_API_URL.value())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                        args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 700}, java_script_enabled=False)
            page.goto(base + "/signin")
            page.fill("input[name=name]", "demo-committee")
            page.fill("input[name=password]", _passwords(site)["demo-committee"])
            page.click("#sign-in")

            def visit(url: str) -> None:
                """goto, again when the page's own Refresh reload cut it short (net::ERR_ABORTED)."""
                from playwright.sync_api import Error

                for attempt in range(5):
                    try:
                        page.goto(url)
                        return
                    except Error:
                        if attempt == 4:
                            raise
                        time.sleep(0.3)

            def shot(name: str, lang: str) -> None:
                page.screenshot(path=str(shots / f"web-decision-{name}.{lang}.png"), full_page=True)

            def switch(lang: str) -> None:
                if page.get_attribute("html", "lang") != lang:
                    page.click("#switch-language")

            with nightly_holds_the_lock(site):
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.content()).group(1)
                # The form is the held file's page (web/held.py); its POST, as the browser sends it:
                r = page.request.post(base + "/decisions", max_redirects=0, form={
                    "csrf": csrf, "kind": "approve", "submission_id": str(OPDC),
                    "note": "สกพ. แก้ K1 เป็น 45.6 (OPDC corrected K1)"})
                assert r.status == 303
                location = base + r.headers["location"]
                deadline = time.monotonic() + 120
                while True:
                    visit(location)
                    if page.get_attribute("#decision-state", "data-state") == "queued":
                        break
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                assert "การประมวลผลประจำคืนกำลังทำงานอยู่" in page.inner_text("#decision-state")
                shot("queued", "th")
                switch("en")
                visit(location)
                assert "Queued" in page.inner_text("#decision-state")
                shot("queued", "en")
                visit(location)
            # The lock is free: the page reloads itself (Refresh header) until the result shows.
            page.wait_for_selector('#decision-state[data-state="applied"]', timeout=120_000)
            assert "now accepted" in page.inner_text("#decision-result")
            shot("applied", "en")
            switch("th")
            visit(location)
            assert "ดำเนินการแล้ว" in page.inner_text("#decision-state")
            shot("applied", "th")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert _rows(site / "warehouse.duckdb", "SELECT decided_by FROM approval.decisions WHERE submission_id = ?",
                 [OPDC]) == [("demo-committee",)]
