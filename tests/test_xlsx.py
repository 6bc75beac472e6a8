"""Excel reports: sheet choice, header row, number codes, date cells, formulas, hostile workbooks."""
from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import pytest

from pilots.normalise import normalise_table
from pilots.readers import ReadFailure, read_report

HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "actual"]


def workbook(rows_by_sheet: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in rows_by_sheet.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_cached_formula_values(data: bytes, value: str) -> bytes:
    """openpyxl writes formulas without cached values; patch one in as Excel would have saved it."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content = content.replace(b"<v />", f"<v>{value}</v>".encode())
            dst.writestr(info, content)
    return out.getvalue()


def test_report_sheet_wins_header_after_blank_rows_and_excel_types():
    data = workbook({
        "Cover": [["หน้าปก"]],
        "รายงาน": [[], [None], HEADER, ["PLT-1", 3009, "2548-Q1", date(2005, 1, 20), "kpi", "K1", 47.5], [],
                   ["PLT-1", 3009, "2548-Q1", date(2005, 1, 20), "kpi", "K2", 12.0]],
    })
    table = read_report("r.xlsx", data)
    assert table.format == "xlsx" and table.header == HEADER
    assert [n for n, _ in table.rows] == [4, 6]  # Excel row numbers; the empty row 5 is skipped
    rows = normalise_table(table).rows
    assert (rows[0]["agency_code"], rows[0]["submitted_on"], rows[0]["actual"]) == ("03009", "2005-01-20", "47.5")
    assert rows[1]["actual"] == "12"


def test_first_sheet_when_no_report_sheet():
    data = workbook({"Data": [HEADER, ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", "47"]],
                     "Other": [["x"]]})
    assert read_report("r.xlsx", data).rows[0][1][0] == "PLT-1"


def test_formula_cached_value_is_used_and_missing_one_is_a_defect():
    rows = [HEADER, ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", "=40+7"]]
    without = read_report("r.xlsx", workbook({"report": rows}))
    assert [(i.code, i.row_number, i.column_name) for i in without.issues] == [("FORMULA_WITHOUT_VALUE", 2, "actual")]
    cached = read_report("r.xlsx", with_cached_formula_values(workbook({"report": rows}), "47"))
    assert cached.issues == [] and cached.rows[0][1][6] == "47"


@pytest.mark.parametrize("data, code", [
    (b"PK\x03\x04 truncated", "FILE_UNREADABLE"),
    (b"this is not a zip at all", "FILE_UNREADABLE"),
])
def test_corrupt_workbooks(data, code):
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", data)
    assert info.value.issue.code == code


def test_truncated_workbook():
    data = workbook({"report": [HEADER]})
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", data[: len(data) // 2])
    assert info.value.issue.code == "FILE_UNREADABLE"


def test_zip_bomb_is_refused_before_inflating():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 * 1024 * 1024))
    with pytest.raises(ReadFailure) as info:
        read_report("bomb.xlsx", out.getvalue())
    assert info.value.issue.code == "FILE_TOO_LARGE"
