"""The pilot pages in real headless Chromium (as tests/web/test_web_browser.py, script off): the
committee filters the overview with the plain form, opens a pilot, follows a score to its explain
page's address, and switches to English. Screenshots go to $WEB_SCREENSHOTS when set
(`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_pilots_browser.py` for the committed
docs/screenshots/web-pilots.{th,en}.png and web-pilot.{th,en}.png), else to a temporary folder."""
from __future__ import annotations

from tests.support import SERIAL
from tests.web.browser import chromium, follow, needs_chromium, new_page, shots_dir, sign_in, switch_language

pytestmark = needs_chromium


@SERIAL
def test_committee_reads_the_pilot_pages_in_chromium(reading_server, tmp_path):
    base, _, passwords = reading_server
    shots = shots_dir(tmp_path)
    with chromium() as browser:
        page = new_page(browser)
        blocked = []
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        sign_in(page, base, "demo-committee", passwords["demo-committee"])
        for lang in ("th", "en"):
            switch_language(page, lang)
            follow(page, 'nav a[href="/pilots"]')
            assert page.locator("#pilots tbody tr").count() == 7
            page.screenshot(path=str(shots / f"web-pilots.{lang}.png"), full_page=True)
            page.select_option("select[name=layer]", "5")
            page.select_option("select[name=status]", "off_track")
            follow(page, "#apply-filters")
            assert "layer=5" in page.url and "status=off_track" in page.url
            assert [page.locator("#pilots tbody tr").nth(0).get_attribute("data-pilot")] == ["PLT-2548-007"]
            assert page.locator("#pilots tbody tr").count() == 1
            page.goto(base + "/pilots")
            follow(page, 'a[href="/pilots/PLT-2548-004"]')
            assert page.inner_text('.composite [data-field="composite_score"]') == "1.5994"
            assert page.locator("figure.trend svg polyline").count() == 1
            assert page.locator("#kpis tbody tr").count() == 3
            want = "ไม่บรรลุเป้าหมาย" if lang == "th" else "off track"
            assert page.inner_text(".headline [data-status]") == want
            page.screenshot(path=str(shots / f"web-pilot.{lang}.png"), full_page=True)
            href = page.get_attribute('#kpis tr[data-kpi="D1"] a.score-link', "href")
            assert href == "/pilots/PLT-2548-004/scores/2549-Q3/D1"
        switch_language(page, "th")  # and back
    assert not blocked, blocked  # nothing on the pages needs what the CSP refuses (inline style or script)
    assert {f.name for f in shots.glob("web-pilot*.png")} >= {"web-pilots.th.png", "web-pilots.en.png",
                                                              "web-pilot.th.png", "web-pilot.en.png"}
