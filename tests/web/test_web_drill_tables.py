"""web/tables.py: every table's downloads. CSV that Excel opens safely (codes stay text, agency text
never becomes a formula) and XLSX with typed cells."""
from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from web.tables import Table, csv_bytes, csv_cell, download_response, wanted, xlsx_bytes

HOSTILE = "=cmd|' /C calc'!A0"
ROWS = [
    {"agency_code": "01002", "item_code": "ACT-L3-03", "note": HOSTILE, "allocated_thb": Decimal("16130000.00"),
     "layer": 3, "submitted_on": date(2006, 8, 10), "ok": True, "nothing": None},
    {"agency_code": "1234567890123456", "item_code": "1/2", "note": "+SUM(A1:A9)", "allocated_thb": Decimal("-5.50"),
     "layer": 5, "submitted_on": date(2006, 7, 1), "ok": False, "nothing": None},
    {"agency_code": "10004", "item_code": "1E5", "note": "@HYPERLINK(\"http://x\")", "allocated_thb": Decimal("0"),
     "layer": 1, "submitted_on": datetime(2006, 7, 1, 8, 30), "ok": False, "nothing": None},
]
TABLE = Table("lines-1", list(ROWS[0]), ROWS, headers=["รหัสหน่วยงาน", "=HEADER()", *list(ROWS[0])[2:]])


def _csv(table: Table) -> list[list[str]]:
    data = csv_bytes(table)
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark: Excel reads the Thai as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_keeps_codes_text_and_never_writes_a_formula():
    header, first, second, third = _csv(TABLE)
    assert header[:2] == ["รหัสหน่วยงาน", "'=HEADER()"]
    assert first[:3] == ['="01002"', "ACT-L3-03", "'" + HOSTILE]  # 01002 opens as the text 01002
    assert second[:3] == ['="1234567890123456"', '="1/2"', "'+SUM(A1:A9)"]  # no rounding, no date
    assert third[:3] == ["10004", '="1E5"', "'@HYPERLINK(\"http://x\")"]
    assert first[3:] == ["16130000.00", "3", "2006-08-10", "TRUE", ""]
    assert second[3] == "-5.50"  # a negative number stays a number (not taken for a formula)
    assert third[5] == "2006-07-01T08:30:00"  # a time as it is; where the page shows Bangkok time, so does the CSV:
    assert _csv(replace(TABLE, bangkok_times=True))[3][5] == "2006-07-01T15:30:00+07:00"


@pytest.mark.parametrize("value, cell", [("01002", '="01002"'), ("00", '="00"'), ("2549-Q3", "2549-Q3"),
                                         ("-3", "-3"), ("=1+1", "'=1+1"), ("\t=1", "'\t=1"), (None, ""),
                                         ("12/31", '="12/31"'), ("3-4", '="3-4"')])
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_xlsx_cells_are_typed_and_text_is_never_a_formula():
    sheet = load_workbook(io.BytesIO(xlsx_bytes(TABLE))).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0][:2]] == ["รหัสหน่วยงาน", "=HEADER()"] and rows[0][1].data_type == "s"
    code, item, note, money, layer, day, ok, nothing = rows[1]
    assert (code.value, code.data_type) == ("01002", "s")
    assert (note.value, note.data_type) == (HOSTILE, "s")  # the text itself, not a formula
    assert money.data_type == "n" and money.value == 16130000
    assert layer.value == 3 and layer.data_type == "n"
    assert day.is_date and day.value.date() == date(2006, 8, 10)
    assert ok.value is True and nothing.value is None
    assert rows[2][0].value == "1234567890123456" and rows[2][1].value == "1/2"
    assert rows[3][5].value == datetime(2006, 7, 1, 8, 30)  # a time as it is (the /sql page prints it so)
    # A page that shows Bangkok time (bangkok_times): stored UTC 08:30 is 15:30 in Bangkok, as the page shows it.
    bangkok = load_workbook(io.BytesIO(xlsx_bytes(replace(TABLE, bangkok_times=True)))).active
    assert list(bangkok.iter_rows(values_only=True))[3][5] == datetime(2006, 7, 1, 15, 30)


def test_wanted_names_only_the_pages_own_tables():
    assert wanted({"download": "lines-1.csv"}, [TABLE]) == (TABLE, "csv")
    assert wanted({"download": "lines-1.xlsx"}, [TABLE]) == (TABLE, "xlsx")
    for asked in ("lines-2.csv", "lines-1.pdf", "lines-1", "../lines-1.csv", ""):
        assert wanted({"download": asked}, [TABLE]) is None
    with pytest.raises(ValueError):
        Table('x"; filename="evil', ["a"])
    response = download_response(TABLE, "xlsx")
    assert response.headers["content-disposition"] == 'attachment; filename="lines-1.xlsx"'


def test_a_pages_download_holds_the_pages_rows(client_for):
    """The agencies' submissions as an analyst downloads them: the lead of PLT-2548-002 is 01002."""
    analyst = client_for("demo-analyst")
    rows = list(csv.reader(io.StringIO(analyst.get("/submissions?download=submissions.csv").content.decode("utf-8-sig"))))
    page = analyst.get("/submissions").text
    assert len(rows) - 1 == page.count("<tr data-sha256=")
    assert ['="01002"'] == sorted({r[2] for r in rows[1:] if r[1] == "PLT-2548-002" and r[2] == '="01002"'})
    sheet = load_workbook(io.BytesIO(analyst.get("/submissions?download=submissions.xlsx").content)).active
    codes = {row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert "01002" in codes and "03009" in codes


def test_xlsx_keeps_hashes_and_long_decimals_exact_as_text():
    """An integer or DECIMAL of more than 15 significant digits (a hash from the SQL page) is a text
    cell of its digits: Excel's number would round it (verifier VB)."""
    table = Table("sql-1", ["h", "amount", "small", "f"], [
        {"h": 13838003787034917066, "amount": Decimal("98765432109876.54"), "small": 123456789012345,
         "f": 0.1}])
    code, amount, small, f = list(load_workbook(io.BytesIO(xlsx_bytes(table))).active.iter_rows())[1]
    assert (code.value, code.data_type) == ("13838003787034917066", "s")
    assert (amount.value, amount.data_type) == ("98765432109876.54", "s")
    assert (small.value, small.data_type) == (123456789012345, "n")
    assert (f.value, f.data_type) == (0.1, "n")
