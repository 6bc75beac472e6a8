"""The agency's journey in real headless Chromium (Debian's, driven by Playwright for Python),
against `pilotkpi web` started as the README says on the README's demo, with screenshots of every
page in Thai and English.

Screenshots go to $WEB_SCREENSHOTS when set (docs/screenshots/ for the committed ones: run
`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_browser.py`), else to a
temporary folder. Skipped where Chromium or Playwright is absent, except under CI=true, where CI
installs Chromium (.ci/run): there a missing browser fails the run rather than skipping silently.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.support import SERIAL
from tests.web.conftest import report
from tests.web.test_web_journey import night

CHROMIUM = "/usr/bin/chromium"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "Debian's chromium is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


MISSING = _missing()
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI must install chromium and playwright for the web browser test: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@SERIAL
def test_agency_journey_in_chromium_with_screenshots(server, passwords, site_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    base, _ = server
    shots = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    files = tmp_path / "files"
    files.mkdir()
    good = report()
    newer = report(submitted_on="2006-08-12", disbursed="6000000.00")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
        lang = "th"

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"web-{name}.{lang}.png"), full_page=True)

        def upload(name: str, data: bytes) -> str:
            (files / name).write_bytes(data)
            page.goto(base + "/upload")
            page.set_input_files("input[type=file]", str(files / name))
            page.click("#check")
            return page.get_attribute("#verdict", "data-verdict")

        page.goto(base + "/")
        assert page.url.endswith("/signin")
        shot("signin")
        page.fill("input[name=name]", "demo-agency")
        page.fill("input[name=password]", "wrong password")
        page.click("#sign-in")
        assert page.inner_text("#message") == "ชื่อบัญชีหรือรหัสผ่านไม่ถูกต้อง"
        page.fill("input[name=password]", passwords["demo-agency"])
        page.click("#sign-in")
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
        page.click("#send")
        assert page.inner_text('[data-field="sha256"]') == hashlib.sha256(good).hexdigest()
        assert page.inner_text('[data-field="file_name"]') == "dbd-2549-q3.csv"
        shot("receipt")

        night(site_dir)  # the nightly run takes the file; the server sees the new copy without a restart
        page.goto(base + "/")
        assert row.get_attribute("data-status") == "accepted"
        shot("home-accepted")
        page.goto(base + "/submissions")
        shot("submissions")
        page.click(f'a[href="/submissions/{hashlib.sha256(good).hexdigest()}"]')
        shot("submission")

        assert upload("dbd-2549-q3-v2.csv", newer) == "replaces"
        assert "แทนที่รายงานของท่านลงวันที่ 10 ส.ค. 2549" in page.inner_text("#verdict")
        shot("check-replaces")
        page.click("#send")
        assert upload("copy.csv", newer) == "duplicate"
        assert page.inner_text("#verdict").startswith("ส่งไฟล์นี้แล้วเมื่อ")
        shot("check-duplicate")

        # The same pages in English (the switch is a form: no script needed).
        page.click("#switch-language")
        lang = "en"
        assert page.locator("html").get_attribute("lang") == "en"
        assert upload("dbd-2549-q3.csv", report(disbursed="ห้าล้าน")) == "quarantined"
        assert "is not a number" in page.inner_text('#issues tr[data-code="NOT_A_NUMBER"]')
        shot("check-defects")
        assert upload("dbd-2549-q3-v3.csv", report(submitted_on="2006-08-13")) == "replaces"
        assert "Replaces your report of 12 Aug 2006" in page.inner_text("#verdict")
        shot("check-replaces")
        page.click("#send")
        shot("receipt")
        assert upload("copy.csv", newer) == "duplicate" and "Already sent on" in page.inner_text("#verdict")
        shot("check-duplicate")
        for name, path in (("home", "/"), ("submissions", "/submissions"),
                           ("submission", f"/submissions/{hashlib.sha256(good).hexdigest()}")):
            page.goto(base + path)
            shot(name)
        page.goto(base + "/upload")
        page.click("#sign-out")
        assert page.url.endswith("/signin")
        page.click("#switch-language")  # a new session starts in Thai
        assert page.inner_text("#sign-in") == "Sign in"
        shot("signin")
        browser.close()
    assert len(list(shots.glob("web-*.png"))) >= 18
