"""A note longer than an Excel cell, through a night and `pilotkpi export --format xlsx`.

Excel holds at most 32,767 characters in a cell (Microsoft's "Excel specifications and limits"),
counted as UTF-16 units (LEN of an emoji is 2). An agency's note may be far longer (the CSV reader
takes a field up to 131,072 characters). openpyxl cut such a text silently at 32,767 code points:
the xlsx export (and the web's xlsx downloads, through the same warehouse.export.xlsx_cell)
showed a note cut short with no sign of it, and a note of characters beyond the BMP passed at up
to twice Excel's limit. Now a longer text is cut to 32,767 UTF-16 units at most, its end saying
so; the CSV export keeps it whole.

The scenario's registry is tests/test_flow.py's (lead 03009 of PLT-2548-003, K1 percent, K2 sum).
"""
from __future__ import annotations

import csv
from decimal import Decimal

from click.testing import CliRunner
from openpyxl import load_workbook

from flows.cli import main
from tests.hostile import clean_night
from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
# 48 characters x 1,500, less the last space (a cell is read without its surrounding spaces): 71,999
NOTE = ("โครงการนี้ได้รับงบประมาณเพิ่มเติมจากแผนบูรณาการ " * 1500).rstrip()
EMOJI = "📊" * 20_000  # 40,000 UTF-16 units
CUT_MARK = (" …[ตัดที่ 32,767 ตัวอักษร ตามที่ Excel รับได้ในหนึ่งช่อง ไฟล์ CSV มีข้อความเต็ม"
            " / cut: Excel holds 32,767 characters in a cell; the CSV export has the whole text]")  # 162 characters
# One character more in front: the cut at 32,767 - 162 = 32,605 falls between ด and its tone mark ้ (ได้).
SHIFTED = "x" + NOTE


def export(wh, out, fmt: str) -> None:
    result = CliRunner().invoke(main, ["export", str(out), "--format", fmt, "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output


def test_a_note_longer_than_an_excel_cell_is_cut_there_in_xlsx_saying_so_and_whole_in_csv(tmp_path, prefect_harness):
    assert len(NOTE) == 71_999
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    (inbox / "a_lead_q1.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                               f"{P},03009,2548-Q1,2005-01-20,budget,ACT-1,5,,1000000,200000,own,{NOTE}",
                                               f"{P},03009,2548-Q1,2005-01-20,budget,ACT-2,4,,500000,100000,own,{EMOJI}",
                                               f"{P},03009,2548-Q1,2005-01-20,budget,ACT-3,4,,1,1,own,{SHIFTED}"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    assert query(wh, "SELECT activity_code, length(note) FROM core.budget_lines ORDER BY 1") == [
        ("ACT-1", 71_999), ("ACT-2", 20_000), ("ACT-3", 72_000)]

    export(wh, tmp_path / "xlsx", "xlsx")
    book = load_workbook(tmp_path / "xlsx" / "core.budget_lines" / "fiscal_year=2548.xlsx", read_only=True)
    header, *rows = book.worksheets[0].iter_rows(values_only=True)
    notes = {row[header.index("activity_code")]: row[header.index("note")] for row in rows}
    # 32,767 - len(CUT_MARK) characters of the note (all in the BMP: one UTF-16 unit each), then the mark.
    assert len(notes["ACT-1"]) == 32_767
    assert len(CUT_MARK) == 162
    assert notes["ACT-1"] == NOTE[:32_767 - len(CUT_MARK)] + CUT_MARK
    # The cut never parts a letter from its marks: ด goes with its ้, so the text ends at ไ.
    assert SHIFTED[32_603:32_606] == "ได้"
    assert notes["ACT-3"] == SHIFTED[:32_604] + CUT_MARK
    # Two units an emoji: as many whole ones as fit before the mark (the mark is in the BMP).
    assert notes["ACT-2"] == EMOJI[:(32_767 - len(CUT_MARK)) // 2] + CUT_MARK
    assert len(notes["ACT-2"].encode("utf-16-le")) // 2 <= 32_767
    for path in (tmp_path / "xlsx").rglob("*.xlsx"):  # no cell of any exported workbook is longer
        for sheet in load_workbook(path, read_only=True).worksheets:
            assert all(len(v) <= 32_767 for row in sheet.iter_rows(values_only=True) for v in row
                       if isinstance(v, str)), path

    export(wh, tmp_path / "csv", "csv")
    with open(tmp_path / "csv" / "core.budget_lines" / "fiscal_year=2548.csv", encoding="utf-8-sig", newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert sorted(r["note"] for r in exported) == sorted([NOTE, EMOJI, SHIFTED])

    # A later night: the lead's Q2 report; the export is written again, the same way.
    # Q1: K1 47 -> 3 + 7/10 = 3.7, K2 not reported (1): (3.7*60 + 1*40)/100 = 2.62. Q2: K1 55 -> 4 + 5/10
    # = 4.5: (4.5*60 + 1*40)/100 = 3.1.
    clean_night(registry, inbox, tmp_path, {"b_lead_q2.csv": _csv(f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,")},
                scores=[("2548-Q1", Decimal("2.6200")), ("2548-Q2", Decimal("3.1000"))])
    export(wh, tmp_path / "xlsx", "xlsx")
    book = load_workbook(tmp_path / "xlsx" / "core.budget_lines" / "fiscal_year=2548.xlsx", read_only=True)
    header, *rows = book.worksheets[0].iter_rows(values_only=True)
    assert {row[header.index("activity_code")]: row[header.index("note")] for row in rows} == notes
