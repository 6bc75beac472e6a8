"""Workbooks whose report sheet holds XML elements that openpyxl would keep, through two nights.

openpyxl's read-only sheet parser keeps every element of the sheet part that is not a row until
the part ends, turns merged cells and conditional formats into objects, and holds a row's
elements until the row ends. limits.py bounded the zip, the shared strings, the styles and the
cells (counted once each row is read), not these: a 1.2 MB workbook whose sheet held 200,000
conditional formats after its rows took 20 s and 330 MB, and passed (the time bound is checked
between rows, never while the rest of the part is parsed); 128 MB of them, or one row of
millions of empty cells, would take gigabytes before any bound saw it: a night killed, not a
file quarantined. Now the rows are read by xlsx_reader._RowsOnlyParser, which counts the elements
as they come: FILE_TOO_LARGE past 250,000 in a row or 100,000 outside the rows.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from pilots.readers import ReadFailure, read_report
from pilots.readers.limits import LIMITS
from tests.hostile import clean_night
from tests.support import refused_in_memory
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_xlsx import rewrite_members, workbook

D = Decimal
P = "PLT-2548-003"
Q1 = [HEADER.split(","), [P, "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, 47],
      [P, "03009", "2548-Q1", "2005-01-20", "kpi", "K2", None, 60]]
Q2 = [HEADER.split(","), [P, "03009", "2548-Q2", "2005-04-20", "kpi", "K1", None, 55],
      [P, "03009", "2548-Q2", "2005-04-20", "kpi", "K2", None, 90]]
# Random bytes in a member of their own keep a bomb within the compression-ratio bound (200).
PADDING = {"xl/media/image1.bin": random.Random(7).randbytes(200_000)}


def with_sheet_xml(rows: list[list], before: bytes = b"", after: bytes = b"", in_first_row: bytes = b"",
                   names: int = 0) -> bytes:
    """The report with XML put into its sheet part: `before` its rows, `after` them (after
    </sheetData>, where merged cells and conditional formats go), `in_first_row` at the header
    row's end; and `names` defined names in the workbook part (xl/workbook.xml)."""
    def edit(name: str, content: bytes) -> bytes:
        if name == "xl/workbook.xml" and names:
            defined = b"".join(b'<definedName name="n%d">report!$A$1</definedName>' % i for i in range(names))
            return content.replace(b"</sheets>", b"</sheets><definedNames>" + defined + b"</definedNames>", 1)
        if name != "xl/worksheets/sheet1.xml":
            return content
        content = content.replace(b"<sheetData>", b"<sheetData>" + before, 1).replace(b"</sheetData>", b"</sheetData>" + after, 1)
        return content.replace(b"</row>", in_first_row + b"</row>", 1)
    return rewrite_members(workbook({"report": rows}), edit, PADDING)


def merged(n: int) -> bytes:
    return b'<mergeCells count="%d">' % n + b"".join(b'<mergeCell ref="A%d:B%d"/>' % (i + 9, i + 9) for i in range(n)) + b"</mergeCells>"


def formats(n: int) -> bytes:  # three elements each
    return b"".join(b'<conditionalFormatting sqref="A%d"><cfRule type="expression" priority="%d"><formula>1</formula>'
                    b"</cfRule></conditionalFormatting>" % (i + 9, i + 1) for i in range(n))


TOO_MANY = ("The file is too large: its sheet holds over {0} XML elements in a row or outside the rows (the limit is "
            "{0} elements). Split it into one file per pilot and quarter.",
            "ไฟล์มีขนาดใหญ่เกินไป: แผ่นงานมีองค์ประกอบในโครงสร้างไฟล์เกิน {0} รายการในแถวเดียวหรือนอกแถวข้อมูล (จำกัดที่ {0} รายการ) "
            "กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")


def too_many(limit: str) -> list[tuple]:
    return [(None, None, "FILE_TOO_LARGE", TOO_MANY[0].format(limit), TOO_MANY[1].format(limit))]


def test_the_bounds_are_generous_for_a_real_report():
    assert (LIMITS.max_row_elements, LIMITS.max_other_elements, LIMITS.max_part_elements) == (250_000, 100_000, 100_000)
    # A report at Excel's widest row (16,384 cells of inline text: <c><is><t>, 3 elements each),
    # after a few hundred merged cells, under a thousand defined names, is read.
    wide = b"".join(b'<c t="inlineStr"><is><t>x%d</t></is></c>' % i for i in range(16_384))
    table = read_report("r.xlsx", with_sheet_xml(Q1, after=merged(500), in_first_row=wide, names=1_000))
    assert [cells[:8] for _, cells in table.rows] == [[P, "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, "47"],
                                                      [P, "03009", "2548-Q1", "2005-01-20", "kpi", "K2", None, "60"]]


def test_parts_openpyxl_never_opens_are_not_counted_but_a_renamed_workbook_part_is():
    # Excel writes calcChain.xml (one <c/> per formula cell) and pivot caches (one element per
    # record) in proportion to the data; a read-only open never parses them, so 150,000 elements
    # in each leave the two lines read (the review found them refused against 100,000).
    unopened = {"xl/calcChain.xml": b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                    + b'<c r="H2" i="1"/>' * 150_000 + b"</calcChain>",
                "xl/pivotCache/pivotCacheRecords1.xml": b"<pivotCacheRecords>" + b"<r><n v=\"1\"/></r>" * 75_000
                                                        + b"</pivotCacheRecords>"}
    table = read_report("r.xlsx", rewrite_members(workbook({"report": Q1}), lambda name, content: content,
                                                  {**PADDING, **unopened}))
    assert [cells[7] for _, cells in table.rows] == ["47", "60"]
    # The same 150,001 elements as the workbook part the manifest names are counted wherever it lies.
    def moved(name: str, content: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return content.replace(b'PartName="/xl/workbook.xml"', b'PartName="/xl/calcChain.xml"')
        if name == "_rels/.rels":
            return content.replace(b"xl/workbook.xml", b"xl/calcChain.xml")
        return content
    renamed = rewrite_members(workbook({"report": Q1}), moved, PADDING)
    src = __import__("zipfile").ZipFile(__import__("io").BytesIO(renamed))
    book = src.read("xl/workbook.xml")
    defined = b"".join(b'<definedName name="n%d">report!$A$1</definedName>' % i for i in range(100_001))
    renamed = rewrite_members(renamed, lambda name, content: content if name != "xl/workbook.xml" else b"",
                              {"xl/calcChain.xml": book.replace(b"</sheets>", b"</sheets><definedNames>" + defined
                                                                + b"</definedNames>", 1)})
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", renamed)
    assert info.value.issue.code == "FILE_TOO_LARGE"


def test_a_row_of_a_million_cells_is_refused_in_little_memory():
    bomb = with_sheet_xml(Q1, in_first_row=b"<c/>" * 1_000_000)  # 4 MB of XML in a 0.2 MB file
    failure, peak = refused_in_memory("r.xlsx", bomb)
    assert (failure.issue.code, failure.issue.message_en) == ("FILE_TOO_LARGE", TOO_MANY[0].format("250,000"))
    # Before: the row's million elements and its million cells were all built (several hundred MB).
    assert peak < 120 * 2**20, peak


# The elements outside the rows of with_sheet_xml's sheet part, by hand from its XML: sheetPr,
# outlinePr, pageSetUpPr, dimension, sheetViews, sheetView, selection, sheetFormatPr, sheetData,
# pageMargins and worksheet itself.
AROUND_THE_ROWS = 11


@pytest.mark.parametrize("where", ["after", "before"])
def test_the_outside_bound_accepts_100000_elements_and_refuses_100001(where):
    # limits.py and docs/security.md: FILE_TOO_LARGE *past* 100,000 elements outside the rows.
    # After the rows: <mergeCells> and its n <mergeCell/>s (n + 1). Before them, inside
    # <sheetData> (between rows: the row is then walked to count its own elements), n + 1 <x/>s.
    assert LIMITS.max_other_elements == 100_000

    def sheet(outside: int) -> bytes:
        n = outside - AROUND_THE_ROWS - 1
        return with_sheet_xml(Q1, after=merged(n)) if where == "after" else with_sheet_xml(Q1, before=b"<x/>" * (n + 1))

    table = read_report("r.xlsx", sheet(100_000))
    assert [cells[7] for _, cells in table.rows] == ["47", "60"]
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", sheet(100_001))
    assert (info.value.issue.code, info.value.issue.message_en) == ("FILE_TOO_LARGE", TOO_MANY[0].format("100,000"))


def test_sheet_element_bombs_are_quarantined_and_the_nights_go_on(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 report, then three Q2 reports whose rows are right but whose sheet
    # holds 100,001 merged cells, 40,000 conditional formats (120,000 elements), or 300,000 empty
    # cells in its header row; and one whose 20,000 merged cells are within the bound.
    (inbox / "a_lead_q1.xlsx").write_bytes(with_sheet_xml(Q1))
    (inbox / "b_q2_merged.xlsx").write_bytes(with_sheet_xml(Q2, after=merged(100_001)))
    (inbox / "c_q2_formats.xlsx").write_bytes(with_sheet_xml(Q2, after=formats(40_000)))
    (inbox / "d_q2_wide_row.xlsx").write_bytes(with_sheet_xml(Q2, in_first_row=b"<c/>" * 300_000))
    # And one whose workbook part holds 100,001 defined names (openpyxl parses it whole on opening).
    (inbox / "f_q2_names.xlsx").write_bytes(with_sheet_xml(Q2, names=100_001))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: "accepted 2, superseded 3, ..., quarantined 0" (each read whole, slowly; f last).
    assert "files seen 5: accepted 1, superseded 0, duplicates 0, quarantined 4" in out
    assert issues_of(wh, "b_q2_merged.xlsx") == too_many("100,000")
    assert issues_of(wh, "c_q2_formats.xlsx") == too_many("100,000")
    assert issues_of(wh, "d_q2_wide_row.xlsx") == too_many("250,000")
    assert issues_of(wh, "f_q2_names.xlsx") == [
        (None, None, "FILE_TOO_LARGE", "The file is too large: its workbook parts hold over 100,000 XML elements (the "
         "limit is 100,000 elements). Split it into one file per pilot and quarter.",
         "ไฟล์มีขนาดใหญ่เกินไป: ส่วนประกอบของไฟล์มีองค์ประกอบในโครงสร้างไฟล์เกิน 100,000 รายการ (จำกัดที่ 100,000 รายการ) "
         "กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2 again, with 20,000 merged cells (a fifth of the bound): read.
    clean_night(registry, inbox, tmp_path, {"e_q2.xlsx": with_sheet_xml(Q2, after=merged(20_000))})
