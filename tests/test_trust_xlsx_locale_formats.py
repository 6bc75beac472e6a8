"""Excel's locale built-in number formats (ids 27-81), through a whole night.

A workbook cell means what it shows (agency-report-v1.md, "Percentage cells"). Thai Excel has
built-in formats of its own, stored as a format id with no format code (ECMA-376 Part 1,
18.8.30): id 67 is `t0%` (a percentage), 71 `ว/ด/ปปปป` and 81 `d/m/bb` (dates, the second in
the Buddhist year). openpyxl knows ids 0-49 only: a K1 typed 47% under id 67 (stored 0.47) was
read 0.47, and a date under id 71 or 81 was read as its serial number (38382), DATE_INVALID.
Now each locale id is read as the built-in format of its kind (xlsx_reader._LOCALE_BUILTIN_FORMATS).

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; due dates
2548-Q1 2005-01-30, 2548-Q2 2005-04-30 (as of 2005-05-15).
"""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from pilots.readers import read_report
from tests.hostile import Q1_AND_Q2
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import COLUMNS, report
from tests.test_xlsx import rewrite_members

# Plain number formats written by openpyxl as custom formats, each then given a locale id in
# styles.xml: a reader that does not know the id reads the cell as stored (General).
MARKERS = {f"#,##0.{'0' * n}": n for n in range(5, 40)}


def marked(locale_id: int) -> str:
    """The marker format that `with_locale_ids` turns into `locale_id` (ids 5 to 39 apart)."""
    return next(code for code, n in MARKERS.items() if n == locale_id % 35 + 5)


def with_locale_ids(data: bytes, *locale_ids: int) -> bytes:
    """The workbook with each marker format's cells under its locale id instead."""
    def edit(name: str, content: bytes) -> bytes:
        if name != "xl/styles.xml":
            return content
        text = content.decode()
        for locale_id in locale_ids:
            (custom,) = re.findall(rf'<numFmt numFmtId="(\d+)" formatCode="{re.escape(marked(locale_id))}"', text)
            text, n = re.subn(rf'<xf numFmtId="{custom}"', f'<xf numFmtId="{locale_id}"', text)
            assert n >= 1, (locale_id, text)
        return text.encode()
    return rewrite_members(data, edit)


def cell_as_read(value, locale_id: int, column: str):
    data = with_locale_ids(report("2548-Q1", "2005-01-20", [("kpi", "K1", None, {column: (value, marked(locale_id))})]),
                           locale_id)
    return read_report("r.xlsx", data).rows[0][1][COLUMNS.index(column)]


@pytest.mark.parametrize("locale_id, stored, shown", [
    (67, 0.825, "82.5"),   # t0%: shows 83% (the value, not its rounding, as for id 9)
    (68, 0.575, "57.5"),   # t0.00%
    (59, 0.825, "0.825"),  # t0: a number in Thai digits, read as stored
    (61, 1250000, "1250000"),  # t#,##0
])
def test_a_number_under_a_thai_builtin_format_is_read_as_it_shows(locale_id, stored, shown):
    assert cell_as_read(stored, locale_id, "actual") == shown


@pytest.mark.parametrize("locale_id", [71, 72, 73, 74, 81, 27, 36, 50, 58])
def test_a_date_under_a_locale_builtin_date_format_is_the_day(locale_id):
    assert cell_as_read(datetime(2005, 1, 30), locale_id, "submitted_on") == "2005-01-30"


def test_a_date_under_thai_date_and_time_is_its_whole_text():
    """Id 77 (`ว/ด/ปปปป ช:นน`) shows the time: the text with it, as under `d/m/yyyy h:mm`."""
    assert cell_as_read(datetime(2005, 1, 30, 23, 59), 77, "submitted_on") == "2005-01-30 23:59:00"


def test_a_night_reads_thai_builtin_percentages_and_dates_as_they_show(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # The lead's Q1: K1 47% under t0%, signed 30/1/2548 (the due day) under d/m/bb; its Q2: K1 55.00%
    # under t0.00%, signed 20/4/2548 under ว/ด/ปปปป. K2 plain: 60, then 90.
    q1 = with_locale_ids(report("2548-Q1", "", [
        ("kpi", "K1", None, {"actual": (0.47, marked(67)), "submitted_on": (datetime(2005, 1, 30), marked(81))}),
        ("kpi", "K2", None, {"actual": 60, "submitted_on": (datetime(2005, 1, 30), marked(81))})]), 67, 81)
    q2 = with_locale_ids(report("2548-Q2", "", [
        ("kpi", "K1", None, {"actual": (0.55, marked(68)), "submitted_on": (datetime(2005, 4, 20), marked(71))}),
        ("kpi", "K2", None, {"actual": 90, "submitted_on": (datetime(2005, 4, 20), marked(71))})]), 68, 71)
    # The secondary's amount in a t0% cell: a percentage where no percentage may be, as under 0%.
    sec = with_locale_ids(report("2548-Q1", "2005-02-15", [
        ("budget", "ACT-1", 3, {"allocated_thb": (0.5, marked(67)), "disbursed_thb": 0,
                                "funding_source": "own"})], agency="15001"), 67)
    for name, data in (("a_lead_q1.xlsx", q1), ("b_lead_q2.xlsx", q2), ("c_sec_q1.xlsx", sec)):
        (inbox / name).write_bytes(data)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: Q1 and Q2 quarantined (DATE_INVALID '38382' and '38462' on each row), and the
    # secondary's file accepted with 0.5 baht allocated; read as stored, K1 0.47 would score 1:
    # Q1 (1*60 + 2.4*40)/100 = 1.56. Now scoring.md's 3.18 and 3.90 (tests/hostile.py Q1_AND_Q2),
    # and the secondary's file quarantined with the percentage named.
    assert "files seen 3: accepted 2, superseded 0, duplicates 0, quarantined 1" in out, out
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == Q1_AND_Q2
    assert query(wh, "SELECT file_name, status, submitted_on FROM ingest.submissions ORDER BY 1") == [
        ("a_lead_q1.xlsx", "accepted", date(2005, 1, 30)), ("b_lead_q2.xlsx", "accepted", date(2005, 4, 20)),
        ("c_sec_q1.xlsx", "quarantined", date(2005, 2, 15))]
    assert [r[:3] for r in issues_of(wh, "c_sec_q1.xlsx")] == [(2, "allocated_thb", "PERCENT_CELL_NOT_ALLOWED")]
    assert "'50%' in 'allocated_thb'" in issues_of(wh, "c_sec_q1.xlsx")[0][3]
    # Signed on the due day: on time (reporting compliance).
    assert query(wh, "SELECT period, first_submitted_on, on_time FROM marts.reporting_compliance "
                     "WHERE agency_code = '03009' ORDER BY period") == [
        ("2548-Q1", date(2005, 1, 30), True), ("2548-Q2", date(2005, 4, 20), True)]
