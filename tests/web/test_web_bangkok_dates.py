"""Dates shown to people are Bangkok dates (web.md Every page: "BE dates in Thai (the summary's
rules)"; the site shows Bangkok time everywhere). The warehouse stores UTC (warehouse/times.py):
a file the night takes in between 17:00 and 24:00 UTC was received on the next day in Bangkok.

tests/web/held_story.py's story with both jobs' clock at 2006-08-14 20:27 UTC, which is
2006-08-15 03:27 in Bangkok (UTC+7 all year): the quarters were closed, and the five corrections
received, on 15 ส.ค. 2549 (2006 + 543) / 15 Aug 2006, never on the 14th (the UTC date).
"""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pytest

from tests.web.conftest import make_app, passwords_of, text_of
from tests.web.held_story import make_held_story

INSTANT = datetime(2006, 8, 14, 20, 27, tzinfo=timezone.utc)  # 2006-08-15 03:27 in Bangkok
BANGKOK_TH, UTC_TH = "15 ส.ค. 2549", "14 ส.ค. 2549"


@pytest.fixture(scope="module")
def story(demo_run, tmp_path_factory):
    """The held story, both jobs at INSTANT (the close-quarter job's and the night's clocks), and
    an analyst account not cleared for restricted pilots."""
    from flows import approval, nightly
    from web.accounts import accounts_path, add

    target = tmp_path_factory.mktemp("bangkok-dates") / "demo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(approval, "utc_now", lambda: INSTANT)
        mp.setattr(nightly, "_utcnow", lambda: INSTANT.replace(tzinfo=None))  # stored naive UTC
        ids = make_held_story(demo_run[0], target)
    add(accounts_path(target / "warehouse.duckdb"), "analyst-uncleared", "analyst", "uncleared-password-1", [])
    return target, ids


@pytest.fixture(scope="module")
def app(story):
    return make_app(story[0])


@pytest.fixture(scope="module")
def passwords(story) -> dict[str, str]:  # for conftest's signed_in
    return {**passwords_of(story[0]), "analyst-uncleared": "uncleared-password-1"}


def test_an_uncleared_account_sees_a_restricted_held_files_bangkok_receipt_date(story, signed_in):
    _, ids = story
    secret = ids["secret_q3"]
    page = signed_in("analyst-uncleared").get(f"/held/{secret}")
    assert page.status_code == 200 and 'id="restricted-note"' in page.text  # the open side's facts only
    received = re.search(r"<tr><th>วันที่รอบประมวลผลกลางคืนรับเข้า</th><td>([^<]*)</td>", page.text).group(1)
    assert received == BANGKOK_TH
    row = re.search(rf'<tr data-submission="{secret}".*?</tr>', signed_in("analyst-uncleared").get("/held").text,
                    re.S).group(0)
    assert BANGKOK_TH in text_of(row) and UTC_TH not in text_of(row)
    english_reader = signed_in("demo-analyst")  # not cleared either (tests/web/test_web_held.py)
    english_reader.post("/language", data={"csrf": english_reader.csrf("/held"), "lang": "en", "back": "/"})
    english = english_reader.get(f"/held/{secret}").text
    assert re.search(r"<tr><th>Taken in by the night&#39;s run</th><td>15 Aug 2006</td>", english), english
    # A cleared account sees the same moment with its time: the same Bangkok day.
    cleared = text_of(signed_in("demo-committee").get(f"/held/{secret}").text)
    assert f"{BANGKOK_TH} 03:27 น." in cleared


def test_the_pilot_pages_held_and_closed_dates_are_bangkok_dates(story, signed_in):
    _, ids = story
    for pilot, key in (("PLT-2548-003", "opdc_q3"), ("PLT-2548-006", "secret_q3")):
        page = signed_in("analyst-uncleared").get(f"/pilots/{pilot}").text
        row = re.search(rf'<tr data-held="{ids[key]}">.*?</tr>', page, re.S).group(0)
        cells = re.findall(r'<td class="nowrap">([^<]*)</td>', row)
        assert cells[-1] == BANGKOK_TH, (pilot, cells)  # received; the one before it: the file's own date


def test_the_summarys_held_and_closed_dates_are_bangkok_dates(story):
    """The committee summaries the night wrote (out/, Thai and English Markdown): a held file's
    received date (an open pilot's and a restricted one's) and a closed quarter's closing date."""
    folder, ids = story
    lines = [line for p in (folder / "out").rglob("*.md") for line in p.read_text(encoding="utf-8").splitlines()]
    for key in ("opdc_q3", "secret_q3"):
        # | id | period | agency | submitted on | received on | (file) |
        received = {line.split("|")[5].strip() for line in lines if line.startswith(f"| {ids[key]} |")}
        assert received == {BANGKOK_TH, "15 Aug 2006"}, (key, received)
    closed = {line.split("|")[2].strip() for line in lines if line.startswith("| 🔒")}
    assert closed == {BANGKOK_TH, "15 Aug 2006"}, closed


def test_downloads_give_the_times_the_page_shows(story, signed_in):
    """The held files' CSV as the page shows them: a file's receipt in Bangkok time with its offset,
    a restricted one's (uncleared) its Bangkok date."""
    _, ids = story
    cleared = signed_in("demo-committee").get("/held?download=held-files.csv").text
    opdc = next(line for line in cleared.splitlines() if line.startswith(f"{ids['opdc_q3']},"))
    assert "2006-08-15T03:27:00+07:00" in opdc and "2006-08-14T20:27" not in opdc, opdc
    uncleared = signed_in("analyst-uncleared").get("/held?download=held-files.csv").text
    secret = next(line for line in uncleared.splitlines() if line.startswith(f"{ids['secret_q3']},"))
    assert ",2006-08-15," in secret and "2006-08-14" not in secret, secret
    # XLSX cells have no zone: Bangkok's wall clock, as the page's 15 ส.ค. 2549 03:27 น.
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(signed_in("demo-committee").get("/held?download=held-files.xlsx").content))
    rows = {r[0]: r for r in book.active.iter_rows(min_row=2, values_only=True)}
    assert rows[ids["opdc_q3"]][7] == datetime(2006, 8, 15, 3, 27), rows[ids["opdc_q3"]]


def test_the_closures_downloads_give_the_bangkok_times_the_pages_show(story, signed_in):
    """Both quarters were closed at INSTANT: the quarters page and the pilot page show
    15 ส.ค. 2549 03:27 น.; their closures' CSV 2006-08-15T03:27:00+07:00, their XLSX 03:27 on the 15th."""
    from openpyxl import load_workbook

    committee = signed_in("demo-committee")
    for path, name, column in (("/quarters", "closures", 2), ("/pilots/PLT-2548-003", "closed-quarters", 1)):
        assert f"{BANGKOK_TH} 03:27 น." in text_of(committee.get(path).text), path
        got = committee.get(path, params={"download": f"{name}.csv"}).text.splitlines()[1:]
        assert got and all(line.split(",")[column] == "2006-08-15T03:27:00+07:00" for line in got), (path, got)
        book = load_workbook(io.BytesIO(committee.get(path, params={"download": f"{name}.xlsx"}).content))
        cells = {r[column] for r in book.active.iter_rows(min_row=2, values_only=True)}
        assert cells == {datetime(2006, 8, 15, 3, 27)}, (path, cells)
