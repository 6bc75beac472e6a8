"""Excel date cells that hold a time of day, through two nights.

A workbook cell means what it shows (agency-report-v1.md, "Percentage cells"). A date cell
formatted `d/m/yyyy` that stores 30/1/2005 23:59 shows 30/1/2005; the reader gave its text with
the time (`2005-01-30 23:59:00`), which no date reading takes: the report was quarantined as
DATE_INVALID although the agency saw a plain date. Now such a cell is read as the date it shows
(xlsx_reader._date_shown). A cell whose format shows the time (`d/m/yyyy h:mm`, or only `h:mm`)
is still DATE_INVALID, as the same text typed in a CSV or JSON file is (tests/test_normalise.py);
a note under such a format keeps the time it shows (reviewed 2026-12-06).

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; due dates
2548-Q1 2005-01-30, 2548-Q2 2005-04-30 (as of 2005-05-15).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import io

import openpyxl
import pytest

from pilots.normalise import parse_date
from pilots.readers.xlsx_reader import read_xlsx
from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report


def signed(when: datetime, number_format: str) -> dict:
    return {"submitted_on": (when, number_format)}


def test_a_date_cell_holding_a_time_is_read_as_the_date_it_shows(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 signed 30/1/2005 23:59 under d/m/yyyy (shows 30/1/2005, the due
    # date); its Q2 signed 20/4/2005 16:45 under a Thai date format (shows 20 เมษายน 2548); the
    # secondary's Q1 signed 20/2/2005 09:15 under d/m/yyyy h:mm (shows 20/2/2005 9:15: a time).
    q1_signed = signed(datetime(2005, 1, 30, 23, 59), "d/m/yyyy")
    q2_signed = signed(datetime(2005, 4, 20, 16, 45), "[$-th-TH]d mmmm bbbb")
    (inbox / "a_lead_q1.xlsx").write_bytes(report("2548-Q1", "", [
        ("kpi", "K1", None, {"actual": 47, **q1_signed}), ("kpi", "K2", None, {"actual": 60, **q1_signed})]))
    (inbox / "b_lead_q2.xlsx").write_bytes(report("2548-Q2", "", [
        ("kpi", "K1", None, {"actual": 55, **q2_signed}), ("kpi", "K2", None, {"actual": 90, **q2_signed})]))
    (inbox / "c_sec_q1.xlsx").write_bytes(report("2548-Q1", "", [
        ("budget", "ACT-1", 3, {"allocated_thb": 500_000, "disbursed_thb": 100_000, "funding_source": "own",
                                **signed(datetime(2005, 2, 20, 9, 15), "d/m/yyyy h:mm")})], agency="15001"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: accepted 0, quarantined 3 (each DATE_INVALID on every row).
    assert "files seen 3: accepted 2, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT file_name, submitted_on FROM ingest.submissions WHERE status = 'accepted' "
                     "ORDER BY 1") == [("a_lead_q1.xlsx", date(2005, 1, 30)), ("b_lead_q2.xlsx", date(2005, 4, 20))]
    assert [(r[0], r[1], r[2]) for r in issues_of(wh, "c_sec_q1.xlsx")] == [(2, "submitted_on", "DATE_INVALID")]
    assert "2005-02-20 09:15:00" in issues_of(wh, "c_sec_q1.xlsx")[0][3]
    # scoring.md: Q1 K1 47 -> 3.7, K2 60 -> 2.4: 3.18; Q2 K1 55 -> 4.5, K2 150 -> 3: 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]
    # Signed on the due day at 23:59: on time (the day shown, not the nearest one: 2005-01-31 would
    # be a day late).
    assert query(wh, "SELECT period, first_submitted_on, on_time, days_late FROM marts.reporting_compliance "
                     "WHERE agency_code = '03009' ORDER BY period") == [
        ("2548-Q1", date(2005, 1, 30), True, 0), ("2548-Q2", date(2005, 4, 20), True, 0)]

    # Night 2: the secondary's Q1 again, the same moment under a Thai date format that shows the
    # Buddhist-Era year and no time (20 ก.พ. 48): read as 2005-02-20, 21 days after the due date
    # 2005-01-30.
    clean_night(registry, inbox, tmp_path, {"d_sec_q1.xlsx": report("2548-Q1", "", [
        ("budget", "ACT-1", 3, {"allocated_thb": 500_000, "disbursed_thb": 100_000, "funding_source": "own",
                                **signed(datetime(2005, 2, 20, 9, 15), "[$-th-TH]d mmm bb")})],
        agency="15001")})
    assert query(wh, "SELECT first_submitted_on, on_time, days_late, versions, quarantined "
                     "FROM marts.reporting_compliance WHERE agency_code = '15001' AND period = '2548-Q1'") == [
        (date(2005, 2, 20), False, 21, 1, 1)]


def cell_text(value: datetime, number_format: str) -> str:
    """The text the reader gives of a one-cell column `submitted_on` holding `value`."""
    book = openpyxl.Workbook()
    book.active.append(["submitted_on"])
    book.active.append([value])
    book.active["A2"].number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return read_xlsx(out.getvalue()).rows[0][1][0]


@pytest.mark.parametrize(("number_format", "text"), [
    ("d/m/yyyy", "2005-01-30"),                            # shows 30/1/2005
    ("[$-th-TH]d mmm bb", "2005-01-30"),                   # shows 30 ม.ค. 48
    ("dd/mm/yyyy hh:mm:ss", "2005-01-30 23:59:30"),        # shows 30/01/2005 23:59:30: a time too
    ("[$-th-TH]d mmm bb h:mm", "2005-01-30 23:59:30"),     # shows 30 ม.ค. 48 23:59
    ("d/m/yyyy mm:ss", "2005-01-30 23:59:30"),             # seconds: `mm` beside them is minutes
    ("mmm-yy", "2005-01-30"),                              # a month: read as a midnight value is
    ("h:mm", "2005-01-30 23:59:30"),                       # shows 23:59: no date (DATE_INVALID)
    ("hh:mm:ss AM/PM", "2005-01-30 23:59:30"),             # shows 11:59:30 PM
    ('"signed at" h:mm;@', "2005-01-30 23:59:30"),         # `d` and `s` in quotes are literal
])
def test_a_timed_date_cell_is_read_as_its_format_shows_it(number_format, text):
    assert cell_text(datetime(2005, 1, 30, 23, 59, 30), number_format) == text


def test_text_timestamps_keep_their_rule():
    # A CSV or JSON date with a time of day is not read (a text may carry a time zone, and its
    # day with it); with a midnight time it is the date.
    assert parse_date("30/01/2005 23:59") is None
    assert parse_date("2005-01-30 00:00:00") == "2005-01-30"
