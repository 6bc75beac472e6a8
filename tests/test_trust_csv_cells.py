"""A CSV whose one line holds millions of empty cells, through two nights.

An xlsx sheet is bounded in cells (LIMITS.max_cells, 2,000,000: a report at the row limit,
100,000 lines of 12 columns, is 1,200,000); a CSV was not. Within the 20 MB byte limit a line of
separators holds 20 million cells: one of 19 million commas took 1,266 MB of RSS to read and
normalise (and was then quarantined as ROW_RAGGED), enough to kill a night that reads files side
by side. Now the CSV reader counts cells as the records come and the file is FILE_TOO_LARGE past
the same bound (pilots/readers/csv_reader.py, _bounded_records); that line now costs 356 MB, the
line itself as the csv module builds it.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from pilots.normalise import normalise_table
from pilots.readers import ReadFailure, read_report
from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
TOO_MANY = (None, None, "FILE_TOO_LARGE",
            # A CSV has no sheet: the message speaks of its lines' values (it said "report sheet").
            "The file is too large: its lines hold more than 2,000,000 values between separators (the limit is "
            "2,000,000 values). Split it into one file per pilot and quarter.",
            "ไฟล์มีขนาดใหญ่เกินไป: บรรทัดในไฟล์มีค่าที่คั่นด้วยจุลภาคหรือตัวคั่นอื่นรวมกันมากกว่า 2,000,000 ค่า "
            "(จำกัดที่ 2,000,000 ค่า) กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")


def report(period: str, submitted: str, k1: int, k2: int, trailing: int = 0) -> bytes:
    return (f"{HEADER}\n{P},03009,{period},{submitted},kpi,K1,,{k1},,,,{',' * trailing}\n"
            f"{P},03009,{period},{submitted},kpi,K2,,{k2},,,,\n").encode()


def test_a_line_of_three_million_cells_is_refused_while_it_is_read():
    bomb = report("2548-Q2", "2005-04-20", 55, 90, trailing=3_000_000)
    with pytest.raises(ReadFailure) as info:
        normalise_table(read_report("r.csv", bomb))  # what a night does with a file (pilots/reading.py)
    # Before: read, then normalised as a ragged row: 242 MB of peak RSS against 102 MB now
    # (ru_maxrss of a process of its own, 55 MB before reading).
    assert (info.value.issue.code, info.value.issue.message_en) == ("FILE_TOO_LARGE", TOO_MANY[3])


def test_the_bound_is_the_sheets_and_a_real_report_is_far_within_it():
    from pilots.readers.limits import LIMITS

    assert LIMITS.max_cells == 2_000_000
    # 100,000 lines of 12 columns (the row limit) and the header: 1,200,012 cells, read.
    table = read_report("r.csv", HEADER.encode() + f"\n{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,".encode() * 100_000)
    assert len(table.rows) == 100_000 and table.issues == []


def test_a_csv_of_millions_of_cells_is_quarantined_and_the_nights_go_on(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 report, and a Q2 report whose K1 line goes on with 2,100,000 commas.
    (inbox / "a_lead_q1.csv").write_bytes(report("2548-Q1", "2005-01-20", 47, 60))
    (inbox / "b_q2_wide.csv").write_bytes(report("2548-Q2", "2005-04-20", 55, 90, trailing=2_100_000))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    # Before: ROW_RAGGED (row 2: 2,100,012 cells where the header has 12), once read whole.
    assert issues_of(wh, "b_q2_wide.csv") == [TOO_MANY]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2 again, its lines as they should be.
    clean_night(registry, inbox, tmp_path, {"c_q2.csv": report("2548-Q2", "2005-04-21", 55, 90)})
