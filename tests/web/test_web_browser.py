"""The agency's journey in real headless Chromium (Debian's, driven by Playwright for Python),
against `pilotkpi web` started as the README says on the README's demo, with screenshots of every
page in Thai and English.

Screenshots go to $WEB_SCREENSHOTS when set (docs/screenshots/ for the committed ones: run
`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_browser.py`), else to a
temporary folder. The browser, the skip rule and the waits are tests/web/browser.py's.
"""
from __future__ import annotations

import hashlib

from tests.support import SERIAL
from tests.web.browser import chromium, follow, needs_chromium, new_page, path_of, shots_dir, sign_in, switch_language
from tests.web.conftest import report
from tests.web.test_web_journey import night

pytestmark = needs_chromium


@SERIAL
def test_agency_journey_in_chromium_with_screenshots(server, passwords, site_dir, tmp_path):
    base, _ = server
    shots = shots_dir(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    good = report()
    newer = report(submitted_on="2006-08-12", disbursed="6000000.00")

    with chromium() as browser:
        page = new_page(browser)
        lang = "th"

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"web-{name}.{lang}.png"), full_page=True)

        def upload(name: str, data: bytes) -> str:
            (files / name).write_bytes(data)
            page.goto(base + "/upload")
            page.set_input_files("input[type=file]", str(files / name))
            follow(page, "#check")
            return page.get_attribute("#verdict", "data-verdict")

        page.goto(base + "/")
        assert path_of(page) == "/signin"
        shot("signin")
        page.fill("input[name=name]", "demo-agency")
        page.fill("input[name=password]", "wrong password")
        follow(page, "#sign-in")
        assert page.inner_text("#message") == "ชื่อบัญชีหรือรหัสผ่านไม่ถูกต้อง"
        sign_in(page, base, "demo-agency", passwords["demo-agency"])
        assert page.inner_text(".account") == "demo-agency"
        row = page.locator('tr[data-pilot="PLT-2548-004"][data-period="2549-Q3"] [data-status]')
        assert row.get_attribute("data-status") == "not_sent"
        shot("home")

        assert upload("dbd-2549-q3.csv", report(disbursed="ห้าล้าน")) == "quarantined"
        assert page.locator('#issues tr[data-code="NOT_A_NUMBER"]').count() == 1
        assert page.locator("#send").count() == 0
        shot("check-defects")
        assert upload("dbd-2549-q3.csv", good) == "new"
        assert "รายงานใหม่สำหรับไตรมาส 3/2549" in page.inner_text("#verdict")
        shot("check-new")
        follow(page, "#send")
        assert page.inner_text('[data-field="sha256"]') == hashlib.sha256(good).hexdigest()
        assert page.inner_text('[data-field="file_name"]') == "dbd-2549-q3.csv"
        shot("receipt")

        night(site_dir)  # the nightly run takes the file; the server sees the new copy without a restart
        page.goto(base + "/")
        assert row.get_attribute("data-status") == "accepted"
        shot("home-accepted")
        page.goto(base + "/submissions")
        shot("submissions")

        def stored() -> None:
            """The stored submission's page: its details and its one line (row 2, after the header)."""
            follow(page, f'a[href="/submissions/{hashlib.sha256(good).hexdigest()}"]')
            assert page.inner_text("#sha256") == hashlib.sha256(good).hexdigest()
            assert page.locator('table.lines tr[data-row="2"][data-item="ACT-L3-03"]').count() == 1
            shot("submission")

        stored()
        assert upload("dbd-2549-q3-v2.csv", newer) == "replaces"
        assert "แทนที่รายงานของท่านลงวันที่ 10 ส.ค. 2549" in page.inner_text("#verdict")
        shot("check-replaces")
        follow(page, "#send")
        assert upload("copy.csv", newer) == "duplicate"
        assert page.inner_text("#verdict").startswith("ส่งไฟล์นี้แล้วเมื่อ")
        shot("check-duplicate")

        # The same pages in English (the switch is a form: no script needed).
        switch_language(page, "en")
        lang = "en"
        assert upload("dbd-2549-q3.csv", report(disbursed="ห้าล้าน")) == "quarantined"
        assert "is not a number" in page.inner_text('#issues tr[data-code="NOT_A_NUMBER"]')
        shot("check-defects")
        assert upload("dbd-2549-q3-v3.csv", report(submitted_on="2006-08-13")) == "replaces"
        assert "Replaces your report of 12 Aug 2006" in page.inner_text("#verdict")
        shot("check-replaces")
        follow(page, "#send")
        assert page.inner_text('[data-field="file_name"]') == "dbd-2549-q3-v3.csv"
        shot("receipt")
        assert upload("copy.csv", newer) == "duplicate" and "Already sent on" in page.inner_text("#verdict")
        shot("check-duplicate")
        for name, path in (("home", "/"), ("submissions", "/submissions")):
            page.goto(base + path)
            shot(name)
        stored()
        page.goto(base + "/upload")
        follow(page, "#sign-out")
        assert path_of(page) == "/signin" and page.get_attribute("html", "lang") == "th"  # a new session
        switch_language(page, "en")
        assert page.inner_text("#sign-in") == "Sign in"
        shot("signin")
    assert len(list(shots.glob("web-*.png"))) >= 18
