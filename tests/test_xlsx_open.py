"""Workbooks are opened without openpyxl's parse of each sheet's <dimension> tag (issue 22, the
read against the floor): the reader gets the same rows, the tag is never parsed, a wrong tag still
changes nothing, and a damaged report sheet is still refused."""
from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import pytest
from openpyxl.worksheet._reader import WorkSheetParser

from pilots.readers import ReadFailure, read_report
from pilots.readers.xlsx_reader import open_workbook
from tests.test_xlsx import rewrite_members, workbook

HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "actual"]
LINES = [["PLT-1", 3009, "2548-Q1", date(2005, 1, 20), "kpi", "K1", 47.5],
         ["PLT-1", 3009, "2548-Q1", date(2005, 1, 20), "kpi", "K2", 0.5]]


def _edit_sheets(data: bytes, edit) -> bytes:
    return rewrite_members(data, lambda name, content: edit(content) if name.startswith("xl/worksheets/") else content)


def test_the_dimension_tag_is_never_parsed_and_the_rows_are_openpyxls(monkeypatch):
    data = workbook({"Cover": [["หน้าปก"]], "report": [HEADER, *LINES]})
    parsed: list[object] = []
    original = WorkSheetParser.parse_dimensions
    monkeypatch.setattr(WorkSheetParser, "parse_dimensions", lambda self: parsed.append(self) or original(self))

    table = read_report("r.xlsx", data)
    assert parsed == []  # neither the cover's tag nor the report's
    assert table.header == HEADER
    assert table.rows == [(2, ["PLT-1", "3009", "2548-Q1", "2005-01-20", "kpi", "K1", "47.5"]),
                          (3, ["PLT-1", "3009", "2548-Q1", "2005-01-20", "kpi", "K2", "0.5"])]
    # openpyxl's own open of the same workbook parses both tags, and gives the same values
    plain = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    assert len(parsed) == 2
    mine = open_workbook(data)
    try:
        assert mine.sheetnames == plain.sheetnames == ["Cover", "report"]
        mine["report"].reset_dimensions()
        assert list(mine["report"].iter_rows(values_only=True)) == list(plain["report"].iter_rows(values_only=True))
    finally:
        plain.close()
        mine.close()


def test_a_tag_that_says_one_row_still_gives_every_row():
    data = _edit_sheets(workbook({"report": [HEADER, *LINES]}), lambda xml: xml.replace(b'ref="A1:G3"', b'ref="A1:G1"'))
    assert b'ref="A1:G1"' in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert [n for n, _ in read_report("r.xlsx", data).rows] == [2, 3]


def test_a_report_sheet_with_broken_xml_is_still_unreadable():
    data = _edit_sheets(workbook({"report": [HEADER, *LINES]}), lambda xml: xml.replace(b"<sheetData>", b"<sheetData><row"))
    with pytest.raises(ReadFailure) as failure:
        read_report("r.xlsx", data)
    assert failure.value.issue.code == "FILE_UNREADABLE"
    assert "the workbook is damaged (ParseError)" in failure.value.issue.message_en
