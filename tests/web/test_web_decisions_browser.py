"""A committee decision in real headless Chromium (JavaScript off), against `pilotkpi web` on the
held-files site of test_web_decisions.py: queued while a nightly run holds the lock, then applied
by itself (the page reloads through its Refresh header). Screenshots in Thai and English go to
$WEB_SCREENSHOTS when set (`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_decisions_browser.py`
for the committed ones), else to a temporary folder.
"""
from __future__ import annotations

import time

from tests.support import SERIAL
from tests.web.browser import (chromium, csrf_of, needs_chromium, new_page, shots_dir, sign_in, switch_language,
                               without_refresh)
from tests.web.test_web_decisions import OPDC, _copy, _passwords, _rows, _start_web, nightly_holds_the_lock

pytestmark = needs_chromium


@SERIAL
def test_a_decision_queued_then_applied_in_chromium_with_screenshots(held_site, tmp_path):
    from prefect.settings import PREFECT_API_URL

    site = _copy(held_site, tmp_path)
    shots = shots_dir(tmp_path)
    proc, base = _start_web(site, PREFECT_API_URL=PREFECT_API_URL.value())
    try:
        with chromium() as browser:
            page = new_page(browser, height=700)
            sign_in(page, base, "demo-committee", _passwords(site)["demo-committee"])

            def shot(name: str, lang: str) -> None:
                page.screenshot(path=str(shots / f"web-decision-{name}.{lang}.png"), full_page=True)

            with nightly_holds_the_lock(site):
                # The form is the held file's page (web/held.py); its POST, as the browser sends it:
                r = page.request.post(base + "/decisions", max_redirects=0, form={
                    "csrf": csrf_of(page), "kind": "approve", "submission_id": str(OPDC),
                    "note": "สกพ. แก้ K1 เป็น 45.6 (OPDC corrected K1)"})
                assert r.status == 303
                location = base + r.headers["location"]
                with without_refresh(page, location):  # read and photographed while it stays put
                    deadline = time.monotonic() + 120
                    while True:
                        page.goto(location)
                        if page.get_attribute("#decision-state", "data-state") == "queued":
                            break
                        assert time.monotonic() < deadline
                        time.sleep(0.2)
                    assert "การประมวลผลประจำคืนกำลังทำงานอยู่" in page.inner_text("#decision-state")
                    shot("queued", "th")
                    # The switch's own POST (a click would come back to the page through a redirect,
                    # which the route does not see: that copy would reload itself under the test).
                    assert page.request.post(base + "/language", max_redirects=0, form={
                        "csrf": csrf_of(page), "lang": "en", "back": "/"}).status == 303
                    page.goto(location)
                    assert page.get_attribute("html", "lang") == "en"
                    assert "Queued" in page.inner_text("#decision-state")
                    shot("queued", "en")
                # The page as the server sends it: still queued, and it asks to be reloaded.
                shown = page.goto(location)
                assert shown.headers.get("refresh") == "1"
                assert page.get_attribute("#decision-state", "data-state") == "queued"
            # The lock is free: the page reloads itself (Refresh header) until the result shows.
            page.wait_for_selector('#decision-state[data-state="applied"]', timeout=120_000)
            assert "now accepted" in page.inner_text("#decision-result")
            shot("applied", "en")
            switch_language(page, "th")
            assert "ดำเนินการแล้ว" in page.inner_text("#decision-state")
            shot("applied", "th")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert _rows(site / "warehouse.duckdb", "SELECT decided_by FROM approval.decisions WHERE submission_id = ?",
                 [OPDC]) == [("demo-committee",)]
