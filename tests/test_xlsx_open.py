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


# --- one zip for the bounds, openpyxl and the formula check -------------------------------------

def test_the_reader_is_set_up_as_openpyxls_own():
    """_UnsizedReader takes the open archive instead of opening the zip again: it must set what
    openpyxl's ExcelReader.__init__ sets (should an upgrade add a setting, this fails)."""
    from openpyxl.reader.excel import ExcelReader

    from pilots.readers.xlsx_reader import _Archive, _UnsizedReader

    data = workbook({"report": [HEADER, *LINES]})
    theirs = vars(ExcelReader(io.BytesIO(data), read_only=True, data_only=True))
    mine = vars(_UnsizedReader(_Archive(data), data_only=True))
    assert mine.keys() == theirs.keys()
    assert {k: v for k, v in mine.items() if k not in ("archive", "valid_files")} == \
        {k: v for k, v in theirs.items() if k not in ("archive", "valid_files")}
    assert mine["valid_files"] == theirs["valid_files"]


def _inflations(monkeypatch) -> list[str]:
    """The names of the zip members opened (each open inflates the member from its start)."""
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original(self, name, *args, **kwargs)
    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    return opened


def test_each_part_is_inflated_once_when_the_workbook_has_no_formula(monkeypatch):
    data = workbook({"Cover": [["หน้าปก"]], "report": [HEADER, *LINES]})
    opened = _inflations(monkeypatch)
    table = read_report("r.xlsx", data)
    assert [n for n, _ in table.rows] == [2, 3] and table.issues == []
    # The cover sheet is inflated for the formula check only; the report sheet, [Content_Types].xml
    # and the styles once each (main inflated each twice: the bounds, then openpyxl or the check).
    assert opened.count("xl/worksheets/sheet2.xml") == 1
    assert opened.count("xl/worksheets/sheet1.xml") == 1
    assert opened.count("[Content_Types].xml") == 1
    assert opened.count("xl/styles.xml") == 1


def test_a_formula_without_value_is_still_found_beside_a_cover_sheet(monkeypatch):
    rows = [HEADER, ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", "=40+7"],
            ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K2", 5]]
    table = read_report("r.xlsx", workbook({"Cover": [["หน้าปก"]], "report": rows}))
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == [("FORMULA_WITHOUT_VALUE", 2, "actual")]
    assert table.rows[1][1][6] == "5"
    # A formula on the cover sheet only: the report sheet's formulas are looked at, and it has none.
    covered = read_report("r.xlsx", workbook({"Cover": [["=1+1"]], "report": [HEADER, *LINES]}))
    assert covered.issues == [] and len(covered.rows) == 2


def test_a_formula_tag_cut_between_two_reads_is_seen():
    from pilots.readers.xlsx_reader import _ScannedSource

    for cut in range(1, 12):
        source = _ScannedSource(io.BytesIO(b'<c r="G2"><f>40+7</f></c>'))
        while source.read(cut):
            pass
        assert source.formula_tag and source.complete, cut
    plain = _ScannedSource(io.BytesIO(b'<c r="G2" t="s"><v>4</v></c><foo/>'[:-6]))
    while plain.read(3):
        pass
    assert not plain.formula_tag and plain.complete


def test_a_damaged_cover_sheet_is_still_unreadable():
    """The formula check inflates every other worksheet part, as before: a damaged one refuses the file."""
    data = bytearray(workbook({"Cover": [["หน้าปก " * 50]], "report": [HEADER, *LINES]}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 4:start + 12] = b"\x00" * 8
    with pytest.raises(ReadFailure) as failure:
        read_report("r.xlsx", bytes(data))
    assert failure.value.issue.code == "FILE_UNREADABLE"
    assert "damaged" in failure.value.issue.message_en


def test_the_copied_openpyxl_code_is_still_openpyxls():
    """pilots/readers/xlsx_reader.py copies ReadOnlyWorksheet._cells_by_row (with its parser a
    _RowsOnlyParser) and replaces WorkSheetParser.parse (bounded): written against openpyxl 3.1.5
    (requirements.lock). An upgrade that changes either fails here, so that the copy is read
    again against the new code before it is trusted (review of 2026-12-06)."""
    import hashlib
    import inspect

    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    from openpyxl.worksheet._reader import WorkSheetParser

    def fingerprint(function) -> str:
        return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]

    assert fingerprint(ReadOnlyWorksheet._cells_by_row) == "bd9e078a12266ae8"
    assert fingerprint(WorkSheetParser.parse) == "9d9ac65deb8881a3"
