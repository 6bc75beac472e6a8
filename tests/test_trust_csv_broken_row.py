"""CSV files that the csv module breaks on, or that end their lines the old Mac way, over two nights.

A field longer than the csv module's limit (131,072 characters) makes the file unreadable: it was
FILE_UNREADABLE on the whole file, with no row, so the agency had to hunt for the line in a file
of hundreds. Now the defect (CELL_TOO_LONG since verifier VH's F4) names the row where the reading broke, numbered as a spreadsheet
shows it (the header row 1; blank lines count, as they do for every other defect).
Lines ended by a lone CR (classic Mac OS exports) were already read as lines: a report so written
is accepted (the probe of this afternoon found it handled; this test keeps it so).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def lines(period: str, submitted: str, k1: int, k2: int, k2_note: str = "") -> list[str]:
    return [HEADER, f"{P},03009,{period},{submitted},kpi,K1,,{k1},,,,", "",
            f'{P},03009,{period},{submitted},kpi,K2,,{k2},,,,"{k2_note}"']


def test_a_broken_csv_names_its_row_and_a_lone_cr_file_is_read(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: Q1 with lone-CR line endings; Q2 whose K2 line (row 4, after a blank row 3) has a
    # note of 200,000 characters.
    (inbox / "a_lead_q1_cr.csv").write_bytes("\r".join(lines("2548-Q1", "2005-01-20", 47, 60)).encode() + b"\r")
    (inbox / "b_q2_long_note.csv").write_bytes(
        "\n".join(lines("2548-Q2", "2005-04-20", 55, 90, "ก" * 200_000)).encode() + b"\n")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    # Before: (None, None, ...): the file, with no row.
    # Since verifier VH's F4: CELL_TOO_LONG on its column, not "broken CSV, export it again"
    # (tests/test_trust_csv_long_cell.py).
    assert issues_of(wh, "b_q2_long_note.csv") == [
        (4, "note", "CELL_TOO_LONG",
         "The cell in column 'note' holds more than 131,072 characters, more than a CSV cell may hold. "
         "Shorten it, or close the quote (\") that opens it, and send the file again.",
         "ช่องในคอลัมน์ 'note' มีข้อความยาวเกิน 131,072 ตัวอักษร ซึ่งเกินกว่าที่ช่องในไฟล์ CSV จะรับได้ "
         "กรุณาตัดข้อความให้สั้นลง หรือปิดเครื่องหมายอัญประกาศ (\") ที่เปิดไว้ต้นช่อง แล้วส่งไฟล์อีกครั้ง")]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2 again, its note cut to 100,000 characters (within the limit): read, kept whole.
    clean_night(registry, inbox, tmp_path, {
        "c_q2.csv": "\n".join(lines("2548-Q2", "2005-04-21", 55, 90, "ก" * 100_000)).encode() + b"\n"})
    assert query(wh, "SELECT length(note) FROM core.kpi_actuals WHERE period = '2548-Q2' AND kpi_code = 'K2'") == [
        (100_000,)]
