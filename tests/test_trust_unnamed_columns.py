"""A column that holds data under an empty header cell is named to the agency (verifier VO).

agency-report-v1.md: a report comes back "with every problem listed at once (row, column, what is
wrong, in Thai and English)". A column whose header names no column of the format is left out
with the warning COLUMN_UNKNOWN; but a column whose header cell was empty was left out without a
word: in a CSV, notes under a header whose `note` cell was blank; in a workbook, values typed in
column M right of a header that ends at L (the reader cut every row at the header's last cell).
Now each such column that holds data on a row that is not a total row is COLUMN_UNNAMED, a
warning naming the column (its letter in a workbook, its place from the left in a CSV) and the
first row with data in it (pilots/normalise.py, _unnamed_columns; pilots/readers/xlsx_reader.py
takes the cells right of the header in). Empty columns under empty header cells, and a column
whose only data is a total row's label (a row left out with its own warning), say nothing. That
label right of the header was cut too, so the total row was no total: six VALUE_REQUIRED errors
quarantined the workbook (agency-report-v1.md: a total row is one with "a cell" saying รวม).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl

from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def _workbook() -> bytes:
    """The lead's Q1: header A-L; column M holds a remark on row 3; column N only the label of the
    total row (row 4); columns O and P are empty but for spaces."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    identity = [P, "03009", "2548-Q1", "2005-01-20", "kpi"]
    sheet.append([*identity, "K1", None, 47, None, None, None, None])
    sheet.append([*identity, "K2", None, 60, None, None, None, None, "ตรวจแล้ว"])
    sheet.append([None] * 7 + [107] + [None] * 5 + ["รวม", " "])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_columns_with_data_but_no_header_are_named_with_their_first_row(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    (inbox / "a_lead_q1.xlsx").write_bytes(_workbook())
    # The lead's Q2 CSV: the note column's header cell is blank (12 cells, the 12th empty), and a
    # note stands under it on row 3; a trailing separator adds a 13th, empty, column throughout.
    header = HEADER.removesuffix("note") + ","
    (inbox / "b_lead_q2.csv").write_bytes("\n".join([
        header, f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,,", f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,ส่งช้า,",
    ]).encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out, out
    # Before: the workbook quarantined (its total row's label in N cut: no total row), nothing on the CSV.
    assert issues_of(wh, "a_lead_q1.xlsx") == [
        (3, None, "COLUMN_UNNAMED", "Column M has no header but holds data (first in row 3): it was not read.",
         "คอลัมน์ M ไม่มีหัวคอลัมน์แต่มีข้อมูล (เริ่มที่แถวที่ 3) ระบบไม่ได้อ่านคอลัมน์นี้"),
        (4, None, "TOTAL_ROW_IGNORED", "Total row ignored.", "ข้ามแถวผลรวม")]
    assert issues_of(wh, "b_lead_q2.csv") == [
        (3, None, "COLUMN_UNNAMED",
         "Column 12 (counted from the left) has no header but holds data (first in row 3): it was not read.",
         "คอลัมน์ที่ 12 (นับจากซ้าย) ไม่มีหัวคอลัมน์แต่มีข้อมูล (เริ่มที่แถวที่ 3) ระบบไม่ได้อ่านคอลัมน์นี้")]
    # The columns are not read: no note stored; the figures are the named columns'.
    assert query(wh, "SELECT period, kpi_code, actual, note FROM core.kpi_actuals ORDER BY 1, 2") == [
        ("2548-Q1", "K1", D(47), None), ("2548-Q1", "K2", D(60), None),
        ("2548-Q2", "K1", D(55), None), ("2548-Q2", "K2", D(90), None)]
    # scoring.md: Q1 K1 47 -> 3.7, K2 60 over [25..125] -> 2.4: (3.7*60 + 2.4*40)/100 = 3.18;
    # Q2 K1 55 -> 4.5, K2 60 + 90 = 150 over [50..250] -> 3: (4.5*60 + 3*40)/100 = 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]


def test_one_stray_cell_far_right_takes_in_only_its_own_column():
    # Reviewer RV14: one "x" at XFD2 (column 16,384) widened every row to 16,384 cells (1,500 rows:
    # 425 MB). Only the columns that hold text are taken in; the warning still names XFD, row 2.
    from pilots.normalise import normalise_table
    from pilots.readers.xlsx_reader import read_xlsx

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    for _ in range(300):
        sheet.append([P, "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, 47, None, None, None, None])
    sheet.cell(row=2, column=16384, value="x")
    out = io.BytesIO()
    book.save(out)
    raw = read_xlsx(out.getvalue())
    assert len(raw.header) == 13 and {len(cells) for _, cells in raw.rows} == {13}
    assert raw.columns == [*range(12), 16383]
    assert [(i.code, i.row_number, i.message_en) for i in normalise_table(raw).issues
            if i.code == "COLUMN_UNNAMED"] == [
        ("COLUMN_UNNAMED", 2, "Column XFD has no header but holds data (first in row 2): it was not read.")]
