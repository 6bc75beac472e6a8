"""The analyst's drill-down in real headless Chromium (as tests/web/test_web_browser.py drives it):
score -> explain -> submission and its lines -> the original file downloaded, whose bytes equal
the file the agency sent; then the SQL page. Screenshots in Thai and English go to
$WEB_SCREENSHOTS (docs/screenshots/ for the committed ones), else to a temporary folder."""
from __future__ import annotations

import hashlib

from tests.support import SERIAL
from tests.web.browser import chromium, follow, needs_chromium, new_page, path_of, shots_dir, sign_in, switch_language

pytestmark = needs_chromium

SCORE = "/pilots/PLT-2548-003/scores/2549-Q3/K1"
SENT = "PLT-2548-003_03009_2549-Q3.csv"
SQL = ("SELECT p.pilot_id, p.name_en, s.period, s.composite_score, s.status\nFROM registry.pilots p\n"
       "JOIN marts.pilot_scores s USING (pilot_id)\n"
       "QUALIFY row_number() OVER (PARTITION BY p.pilot_id ORDER BY s.period DESC) = 1\n"
       "ORDER BY s.composite_score DESC;")


@SERIAL
def test_analyst_clicks_from_a_score_to_the_original_file(reading_server, tmp_path):
    base, site_dir, passwords = reading_server
    shots = shots_dir(tmp_path)
    sent = (site_dir / "inbox" / "processed" / SENT).read_bytes()

    with chromium() as browser:
        page = new_page(browser, downloads=True)
        sign_in(page, base, "demo-analyst", passwords["demo-analyst"])
        for lang in ("th", "en"):
            switch_language(page, lang)
            page.goto(base + SCORE)
            assert page.get_attribute("#score", "data-score") == "3.5600"
            assert "3 + 5.6 / 10" in page.inner_text('#score tr[data-item="formula"]')
            assert page.inner_text("#explain").startswith("PLT-2548-003 K1 2549-Q3: Share of applications filed online")
            page.screenshot(path=str(shots / f"web-explain.{lang}.png"), full_page=True)
            follow(page, f"#sources a.source:text('{SENT}')")
            sha = page.inner_text("#sha256")
            assert path_of(page) == f"/submissions/{sha}"
            assert page.locator('tr[data-row="2"][data-item="K1"]').count() == 1
            page.screenshot(path=str(shots / f"web-submission-lines.{lang}.png"), full_page=True)
            with page.expect_download() as download_info:
                page.click("#original")
            download = download_info.value
            saved = tmp_path / f"original-{lang}"
            download.save_as(saved)
            assert download.suggested_filename == SENT
            assert saved.read_bytes() == sent
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == sha == hashlib.sha256(sent).hexdigest()

            page.goto(base + "/")
            follow(page, "a[href='/sql']")
            page.fill("#q", SQL)
            follow(page, "#run")
            assert page.locator("#result-1 tbody tr").count() == 7  # every pilot, as analyst-guide.md question 1
            assert page.inner_text("#result-1 tbody tr:first-child td:first-child") == "PLT-2548-005"
            page.screenshot(path=str(shots / f"web-sql.{lang}.png"), full_page=True)
        assert page.get_attribute("html", "lang") == "en"
    assert {f.name for f in shots.glob("web-*.png")} >= {
        f"web-{n}.{lang}.png" for n in ("explain", "submission-lines", "sql") for lang in ("th", "en")}
