"""A sheet whose rows are listed out of order, or repeat a row number, through two nights.

A sheet's `<row r="...">` elements come in ascending order in every file Excel writes (ECMA-376
Part 1, 18.3.1.73: `r` is the row's 1-based index). openpyxl's read-only loop, which the reader
copied (xlsx_reader._UnsizedSheet._cells_by_row), silently drops a row whose number is not above
the rows already read: rows listed 1,2,3,5,4 lost row 4, a budget line of 10,000,000 baht, and the
file was accepted. Now such a sheet is FILE_UNREADABLE (`rows_out_of_order`, `row_repeated`,
`row_number_invalid`), the file quarantined, the night's other files accepted. So are a row's
cells listed out of order (openpyxl sized the row by its last cell: the cells right of it were
lost) or a cell reference repeated (the second overwrote the first): `cells_out_of_order`,
`cell_repeated`.

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; K1 percent/
higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, [100..500]
(x q/4). As of 2005-05-15: due 2548-Q1 and 2548-Q2.
"""
from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest

from pilots.readers import read_report
from pilots.readers.base import ReadFailure
from tests.hostile import Q1_AND_Q2
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report
from tests.test_xlsx import rewrite_members

D = Decimal
LEAD_Q1 = [("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60}),
           ("budget", "ACT-L5-01", 5, {"allocated_thb": 10_000_000, "disbursed_thb": 1_000_000,
                                       "funding_source": "lead_integrated"}),
           ("budget", "ACT-L3-01", 3, {"allocated_thb": 5_000_000, "disbursed_thb": 500_000,
                                       "funding_source": "lead_integrated"})]
SECONDARY_Q1 = [("budget", "ACT-1", 5, {"allocated_thb": 500_000, "disbursed_thb": 100_000, "funding_source": "own"}),
                ("budget", "ACT-2", 4, {"allocated_thb": 300_000, "disbursed_thb": 0, "funding_source": "own"})]


def rows_rewritten(data: bytes, order: list[int], renumber: dict[int, int] | None = None) -> bytes:
    """The workbook with its sheet's `<row>` elements listed in `order` (their numbers), and the
    rows of `renumber` given another number (their cells' references too)."""
    def edit(content: bytes) -> bytes:
        text = content.decode()
        rows = {int(m.group(1)): m.group(0) for m in re.finditer(r'<row r="(\d+)".*?</row>', text)}
        assert sorted(rows) == sorted(order), (rows, order)
        first, last = text.index('<row r="1"'), text.index("</row>", text.index(f'<row r="{max(rows)}"')) + 6
        listed = []
        for n in order:
            row = rows[n]
            if renumber and n in renumber:
                row = re.sub(rf'r="([A-Z]*){n}"', rf'r="\g<1>{renumber[n]}"', row)
            listed.append(row)
        return (text[:first] + "".join(listed) + text[last:]).encode()

    return in_sheet(data, edit)


def in_sheet(data: bytes, edit) -> bytes:
    """The workbook with its sheet part passed through edit(content)."""
    return rewrite_members(data, lambda name, content: edit(content) if name == "xl/worksheets/sheet1.xml" else content)


def row_numbers(data: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb'<row r="(\d+)"', zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml"))]


def test_rows_out_of_order_or_repeated_quarantine_the_file(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    swapped = rows_rewritten(report("2548-Q1", "2005-01-20", LEAD_Q1), [1, 2, 3, 5, 4])
    repeated = rows_rewritten(report("2548-Q1", "2005-02-15", SECONDARY_Q1, agency="15001"), [1, 2, 3], {3: 2})
    assert row_numbers(swapped) == [1, 2, 3, 5, 4] and row_numbers(repeated) == [1, 2, 2]
    # The lead's Q2, in order: the night's other file.
    lead_q2 = report("2548-Q2", "2005-04-20", [("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": 90})])

    # Night 1. Before: all three accepted, the lead's Q1 with one budget line of two (ACT-L5-01,
    # row 4, dropped: 5,000,000 allocated instead of 15,000,000), the secondary's with ACT-1 only.
    (inbox / "a_lead_q1.xlsx").write_bytes(swapped)
    (inbox / "b_sec_q1.xlsx").write_bytes(repeated)
    (inbox / "c_lead_q2.xlsx").write_bytes(lead_q2)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out, out
    [(row, column, code_, message_en, message_th)] = issues_of(wh, "a_lead_q1.xlsx")
    assert (row, column, code_) == (None, None, "FILE_UNREADABLE")
    assert "row 4 comes after row 5 in the sheet" in message_en
    assert "แถวที่ 4 อยู่ถัดจากแถวที่ 5" in message_th
    [(_, _, code_, message_en, _)] = issues_of(wh, "b_sec_q1.xlsx")
    assert code_ == "FILE_UNREADABLE" and "row 2 appears twice in the sheet" in message_en
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY 1") == [
        ("a_lead_q1.xlsx", "quarantined"), ("b_sec_q1.xlsx", "quarantined"), ("c_lead_q2.xlsx", "accepted")]
    # Q2 alone: K1 55 -> 4.5; K2 summed over Q1..Q2 = 90 (no Q1 accepted), thresholds x 2/4 =
    # [50,100,150,200,250] -> 1 + 40/50 = 1.8; (4.5*60 + 1.8*40)/100 = 3.42. Q1: nothing accepted.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", None), ("2548-Q2", D("3.4200"))]
    assert query(wh, "SELECT count(*) FROM core.budget_lines") == [(0,)]

    # Night 2: the lead's Q1 in order: both lines; scores as scoring.md's example (Q1 3.18, and Q2
    # 3.9 with K2 60 + 90 = 150).
    (inbox / "d_lead_q1_fixed.xlsx").write_bytes(report("2548-Q1", "2005-01-25", LEAD_Q1))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == Q1_AND_Q2
    assert query(wh, "SELECT row_number, activity_code, allocated_thb, disbursed_thb FROM core.budget_lines "
                     "ORDER BY row_number") == [(4, "ACT-L5-01", D("10000000.00"), D("1000000.00")),
                                                (5, "ACT-L3-01", D("5000000.00"), D("500000.00"))]


@pytest.mark.parametrize("order, renumber, detail", [
    ([1, 2, 3, 5, 4], None, "row 4 comes after row 5 in the sheet"),
    ([1, 3, 2, 4, 5], None, "row 2 comes after row 3 in the sheet"),   # a row before the first data row
    ([1, 2, 3, 4, 5], {5: 4}, "row 4 appears twice in the sheet"),
    ([1, 2, 3, 4, 5], {5: 3}, "row 3 comes after row 4 in the sheet"),  # a number met before, not the last
    ([1, 2, 3, 4, 5], {1: 0}, "the sheet holds a row numbered 0"),
])
def test_each_misplaced_row_is_named(order, renumber, detail):
    data = rows_rewritten(report("2548-Q1", "2005-01-20", LEAD_Q1), order, renumber)
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", data)
    assert info.value.issue.code == "FILE_UNREADABLE"
    assert detail in info.value.issue.message_en


def test_rows_left_out_are_still_read_as_empty():
    """A sheet whose XML leaves rows out (1, 2, 4, 5: row 3 empty) is in order: read as before."""
    book = report("2548-Q1", "2005-01-20", [LEAD_Q1[0], ("kpi", "", None, {}), *LEAD_Q1[1:]])
    # openpyxl writes the line of row 3 with cells: drop it, as a writer that skips empty rows would.
    gap = in_sheet(book, lambda content: re.sub(rb'<row r="3".*?</row>', b"", content))
    assert row_numbers(gap) == [1, 2, 4, 5, 6]
    table = read_report("r.xlsx", gap)
    assert [(n, cells[5]) for n, cells in table.rows] == [(2, "K1"), (4, "K2"), (5, "ACT-L5-01"), (6, "ACT-L3-01")]


def cells_rewritten(data: bytes, row: int, edit) -> bytes:
    """The workbook with sheet row `row`'s list of cell elements passed through edit(cells)."""
    def rewrite(content: bytes) -> bytes:
        found = re.search(rb'<row r="%d".*?</row>' % row, content).group(0)
        cells = re.findall(rb"<c .*?(?:</c>|/>)", found)
        return content.replace(found, found.replace(b"".join(cells), b"".join(edit(cells))))
    return in_sheet(data, rewrite)


def test_cells_out_of_order_or_repeated_are_named():
    """Row 4 (ACT-L5-01) holds A4..K4. K4 (funding_source) listed first: openpyxl sized the row
    by its last cell, J4, and K4 was lost. J4 (disbursed 1,000,000) given I4's reference: it
    overwrote the allocation (10,000,000 read 1,000,000, disbursed empty). Both read silently."""
    data = report("2548-Q1", "2005-01-20", LEAD_Q1)
    last_first = cells_rewritten(data, 4, lambda cells: cells[-1:] + cells[:-1])
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", last_first)
    assert "cell A4 comes after cell K4 in the sheet" in info.value.issue.message_en
    assert "เซลล์ A4 อยู่ถัดจากเซลล์ K4" in info.value.issue.message_th
    repeated = cells_rewritten(data, 4, lambda cells: [c.replace(b'r="J4"', b'r="I4"') for c in cells])
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", repeated)
    assert (info.value.issue.code, info.value.issue.column_name) == ("FILE_UNREADABLE", None)
    assert "cell I4 appears twice in the sheet" in info.value.issue.message_en
    # The row as written: read whole.
    assert read_report("r.xlsx", data).rows[2][1][5:11] == ["ACT-L5-01", "5", None, "10000000", "1000000",
                                                           "lead_integrated"]
