"""The committee's monthly routine of issue 21, end to end in real headless Chromium (JavaScript
off, as tests/web/test_web_browser.py), against `pilotkpi web` on a copy of the README's demo
(as of 2006-08-15) with the nights and the decisions run as Prefect flows against the tests' running server:

1. the committee closes 2549-Q3 for PLT-2548-003 on /quarters, typing the confirmation text;
2. OPDC (03009, the pilot's lead) sends a correction through the upload page: K1 45.6 instead
   of 65.6; the next night (`pilotkpi run`) holds it;
3. the held page shows the figures that would move, checked against the hand values below;
4. the committee approves it, and the pilot page shows the new composite;
5. an analyst clicks from the new K1 score down to the original file: the bytes OPDC sent;
6. a second correction (K1 75.0) is held the night after, and rejected: nothing moves.

Screenshots of each step in Thai and English: web-journey-*.{th,en}.png, into $WEB_SCREENSHOTS when
set (`WEB_SCREENSHOTS=docs/screenshots pytest tests/web/test_web_committee_journey.py` for the
committed ones), else a temporary folder.

The figures by hand (scoring.md §1-2, §6; registry PLT-2548-003, FY2549; the demo's accepted files):
  K1 share online, higher, last, weight 40, thresholds [40, 50, 60, 70, 80]
     65.6: k = 3, s = 3 + (65.6 - 60)/10 = 3.5600
     45.6: k = 1, s = 1 + (45.6 - 40)/10 = 1.5600          (the first correction)
     75.0: k = 4, s = 4 + (75.0 - 70)/10 = 4.5000          (the second correction)
  K2 days to a licence, lower, last, weight 35, thresholds [20, 15, 10, 7.5, 5]
     10.1: k = 2 (15 >= 10.1 > 10), s = 2 + (15 - 10.1)/(15 - 10) = 2.9800
  K3 applications, higher, sum, weight 25, thresholds x 3/4 = [1500, 3000, 4500, 6000, 7500]
     Q1 1631 + Q2 1383 (its accepted rev1) + Q3 1744 = 4758: k = 3, s = 3 + 258/1500 = 3.1720
  composite now   (3.56 x 40 + 2.98 x 35 + 3.172 x 25)/100 = (142.4 + 104.3 + 79.3)/100 = 3.2600 on target
  with K1 45.6    (1.56 x 40 + 104.3 + 79.3)/100          = (62.4 + 183.6)/100         = 2.4600 at risk
  with K1 75.0    (4.5 x 40 + 104.3 + 79.3)/100           = (180 + 183.6)/100          = 3.6360 on target
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.support import SERIAL
from tests.web.browser import (chromium, follow, needs_chromium, new_page, path_of, shots_dir, sign_in,
                               switch_language)
from tests.web.test_web_decisions import _rows as rows, _start_web
from tests.web.test_web_journey import night

pytestmark = needs_chromium

PILOT, PERIOD = "PLT-2548-003", "2549-Q3"
ACCEPTED = "PLT-2548-003_03009_2549-Q3.csv"  # OPDC's accepted 2549-Q3 report in the demo
NOW, FIRST, SECOND = "3.2600", "2.4600", "3.6360"  # the composites worked out above
FIRST_FILE, SECOND_FILE = "PLT-2548-003_03009_2549-Q3_rev1.csv", "PLT-2548-003_03009_2549-Q3_rev2.csv"


def correction(site: Path, k1: str, submitted_on: str) -> bytes:
    """OPDC's accepted 2549-Q3 report with K1 and the date changed (what an agency corrects)."""
    text = (site / "inbox" / "processed" / ACCEPTED).read_text(encoding="utf-8")
    assert ",K1,,65.6," in text and "2006-07-11" in text
    return text.replace(",K1,,65.6,", f",K1,,{k1},").replace("2006-07-11", submitted_on).encode("utf-8")


def nightly(site: Path) -> str:
    """The night's job, `pilotkpi run`, in this process on the tests' Prefect server (as
    tests/web/test_web_browser.py runs it beside Chromium). As cron runs it, in a child process of
    its own, is tests/test_machine_state.py's subject; here a child would only add its imports."""
    return night(site)


@SERIAL
def test_committee_closes_holds_approves_and_rejects_in_chromium(site_dir, passwords, tmp_path):
    from prefect.settings import PREFECT_API_URL

    from web.accounts import accounts_path, add

    site = site_dir
    prefect_api = PREFECT_API_URL.value()
    add(accounts_path(site / "warehouse.duckdb"), "opdc-agency", "agency", "opdc-password-1", ["03009"])
    shots = shots_dir(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    proc, base = _start_web(site, PREFECT_API_URL=prefect_api)
    try:
        with chromium() as browser:

            def signed_in(name: str, password: str):
                page = new_page(browser, downloads=True)
                sign_in(page, base, name, password)
                return page

            committee = signed_in("demo-committee", passwords["demo-committee"])
            agency = signed_in("opdc-agency", "opdc-password-1")

            def both(page, name: str) -> None:
                """The page as it is, in Thai then English (the switch is a form), back to Thai."""
                for lang in ("th", "en"):
                    switch_language(page, lang)
                    page.screenshot(path=str(shots / f"web-journey-{name}.{lang}.png"), full_page=True)
                switch_language(page, "th")

            def applied(page, button) -> None:
                """Click a decision's button, then wait on the decision's page, which reloads itself (its
                Refresh header) until the job is done."""
                follow(page, button)
                assert re.fullmatch(r"/decisions/[^/]+", path_of(page)), page.url
                page.wait_for_selector('#decision-state[data-state="applied"]', timeout=180_000)

            def figures(page) -> dict[str, dict[str, str]]:
                out = {}
                for row in page.locator("#figures tr[data-kpi]").all():
                    out[row.get_attribute("data-kpi")] = {
                        f: row.locator(f'[data-field="{f}"]').inner_text()
                        for f in ("value-now", "value-if", "score-now", "score-if")}
                return out

            def headline(page) -> tuple[str, str, str]:
                page.goto(f"{base}/pilots/{PILOT}")
                composite = page.locator('#pilot .composite [data-field="composite_score"]')
                return (composite.get_attribute("data-period"), composite.inner_text(),
                        page.get_attribute("#pilot .headline [data-status]", "data-status"))

            def send(name: str, data: bytes, shot: str | None = None) -> None:
                (files / name).write_bytes(data)
                for lang in ("th", "en") if shot else ("th",):
                    switch_language(agency, lang)
                    agency.goto(base + "/upload")
                    agency.set_input_files("input[type=file]", str(files / name))
                    follow(agency, "#check")
                    assert agency.get_attribute("#verdict", "data-verdict") == "held"  # a closed quarter
                    if shot:
                        agency.screenshot(path=str(shots / f"web-journey-{shot}.{lang}.png"), full_page=True)
                follow(agency, "#send")
                assert agency.locator('[data-field="file_name"]').inner_text() == name
                switch_language(agency, "th")

            # 1. Before: 2549-Q3 is PLT-2548-003's latest due quarter, on target at 3.2600.
            assert headline(committee) == (PERIOD, NOW, "on_target")
            committee.goto(base + "/quarters")
            both(committee, "1-quarters")
            form = committee.locator("form#close")
            label = form.locator("label", has=committee.locator("input[name=confirm]")).inner_text()
            assert "PLT-2548-001 2549-Q3" in label  # the form says what to type: pilot and quarter
            form.locator("select[name=period]").select_option(PERIOD)
            form.locator("select[name=pilot_id]").select_option(PILOT)
            form.locator("input[name=note]").fill("ประชุมครั้งที่ 8/2549")
            form.locator("input[name=confirm]").fill(f"{PILOT} {PERIOD}")
            applied(committee, form.locator("#close-button"))
            both(committee, "2-closed")
            committee.goto(base + "/quarters")
            closure = committee.locator(f'#closures tr[data-pilot="{PILOT}"]')
            assert "ประชุมครั้งที่ 8/2549" in closure.inner_text() and NOW in closure.inner_text()
            assert committee.locator("#closures tr[data-pilot]").count() == 1  # that pilot only

            # 2. OPDC corrects K1 through the upload page; the check says it will be held.
            send(FIRST_FILE, correction(site, "45.6", "2006-08-14"), shot="3-correction")
            assert "held 1" in nightly(site)
            assert headline(committee) == (PERIOD, NOW, "on_target")  # held: nothing moved yet

            # 3. The held page: the figures that would move, as worked out by hand above.
            committee.goto(base + "/held")
            held = committee.locator("#held tr[data-submission]")
            assert held.count() == 1
            first_id = held.first.get_attribute("data-submission")
            both(committee, "4-held")
            follow(committee, f'a[href="/held/{first_id}"]')
            f = figures(committee)
            assert (f["K1"]["value-now"], f["K1"]["value-if"]) == ("65.6%", "45.6%")
            assert (f["K1"]["score-now"], f["K1"]["score-if"]) == ("3.5600", "1.5600")
            assert (f["K2"]["score-now"], f["K2"]["score-if"]) == ("2.9800", "2.9800")
            assert (f["K3"]["score-now"], f["K3"]["score-if"]) == ("3.1720", "3.1720")
            assert (f["composite"]["score-now"], f["composite"]["score-if"]) == (NOW, FIRST)
            assert FIRST_FILE in committee.inner_text("main")  # the name as sent, not the site's inbox name
            both(committee, "5-held-file")

            # 4. Approved: the pilot page shows the new composite, and that it moved since closing.
            committee.fill("form#approve input[name=note]", "สกพ. ยืนยัน K1 = 45.6")
            applied(committee, "#approve-button")
            both(committee, "6-approved")
            assert headline(committee) == (PERIOD, FIRST, "at_risk")
            assert committee.locator('#kpis tr[data-kpi="K1"]').inner_text().count("45.6") == 1
            assert committee.locator(f'#closed-quarters [data-changed="{PERIOD}"]').count() == 1  # 3.2600 at closing
            both(committee, "7-pilot")

            # The analyst's drill-down from the new score to the file OPDC sent through the upload
            # page: the original downloaded is the same bytes.
            analyst = signed_in("demo-analyst", passwords["demo-analyst"])
            analyst.goto(base + "/pilots")
            follow(analyst, f'a[href="/pilots/{PILOT}"]')
            follow(analyst, '#kpis tr[data-kpi="K1"] a.score-link')
            assert analyst.get_attribute("#score", "data-score") == "1.5600"
            assert "1 + 5.6 / 10" in analyst.inner_text('#score tr[data-item="formula"]')
            both(analyst, "7a-analyst-score")
            sent = (files / FIRST_FILE).read_bytes()
            follow(analyst, f'#sources a.source[href="/submissions/{hashlib.sha256(sent).hexdigest()}"]')
            assert analyst.locator('tr[data-item="K1"]').first.inner_text().count("45.6") == 1
            both(analyst, "7b-analyst-submission")
            with analyst.expect_download() as download:
                analyst.click("#original")
            download.value.save_as(tmp_path / "original")
            assert (tmp_path / "original").read_bytes() == sent
            assert analyst.inner_text("#sha256") == hashlib.sha256(sent).hexdigest()

            # 5. A second correction the night after: held, shown (2.4600 -> 3.6360), rejected.
            send(SECOND_FILE, correction(site, "75.0", "2006-08-15"))
            assert "held 1" in nightly(site)
            committee.goto(base + "/held")
            second_id = committee.locator("#held tr[data-submission]").first.get_attribute("data-submission")
            assert second_id != first_id
            committee.goto(f"{base}/held/{second_id}")
            f = figures(committee)
            assert (f["K1"]["value-now"], f["K1"]["value-if"]) == ("45.6%", "75%")
            assert (f["K1"]["score-now"], f["K1"]["score-if"]) == ("1.5600", "4.5000")
            assert (f["composite"]["score-now"], f["composite"]["score-if"]) == (FIRST, SECOND)
            both(committee, "8-second-held")
            committee.fill("form#reject input[name=reason]", "สกพ. แจ้งว่าส่งผิดฉบับ (sent in error)")
            applied(committee, "#reject-button")
            both(committee, "9-rejected")
            assert headline(committee) == (PERIOD, FIRST, "at_risk")  # nothing moved
            assert committee.locator('#kpis tr[data-kpi="K1"]').inner_text().count("45.6") == 1
            committee.goto(base + "/held")
            assert committee.locator("#held tr[data-submission]").count() == 0
            both(committee, "10-held-empty")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # The record: three decisions under the signed-in account, the files' final states.
    store = site / "warehouse.duckdb"
    assert rows(store, "SELECT decided_by, action, pilot_id, CAST(submission_id AS VARCHAR) FROM approval.decisions "
                       "ORDER BY decision_id") == [
        ("demo-committee", "close", PILOT, None), ("demo-committee", "approve", PILOT, first_id),
        ("demo-committee", "reject", PILOT, second_id)]
    sha = {name: hashlib.sha256((files / name).read_bytes()).hexdigest() for name in (FIRST_FILE, SECOND_FILE)}
    assert dict(rows(store, "SELECT sha256, status FROM ingest.submissions WHERE pilot_id = ? AND period = ? "
                            "AND agency_code = '03009' AND file_name <> ?", [PILOT, PERIOD, ACCEPTED])) == {
        sha[FIRST_FILE]: "accepted", sha[SECOND_FILE]: "rejected"}  # stored under the names the engine chose
    assert rows(store, "SELECT status FROM ingest.submissions WHERE file_name = ?", [ACCEPTED]) == [("superseded",)]
    assert rows(store, "SELECT CAST(composite_score AS VARCHAR) FROM marts.pilot_scores WHERE pilot_id = ? AND period = ?",
                [PILOT, PERIOD]) == [(FIRST,)]
    for step in ("1-quarters", "2-closed", "3-correction", "4-held", "5-held-file", "6-approved", "7-pilot", "7a-analyst-score", "7b-analyst-submission",
                 "8-second-held", "9-rejected", "10-held-empty"):
        for lang in ("th", "en"):
            assert (shots / f"web-journey-{step}.{lang}.png").stat().st_size > 10_000
