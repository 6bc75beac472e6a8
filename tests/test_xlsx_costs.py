"""What one workbook may cost (issue 24 item 9): shared strings, cells and time are bounded
(pilots/readers/limits.py), so a workbook bomb is quarantined quickly and in bounded memory.

Before, a 14 MB workbook whose shared strings expanded to 122 MB took 55 s and 1.0 GB in `check`,
and passed. The bombs here are built past the real bounds where that is cheap (250,001 short
strings; a few rows with a cell in the last column), else past a bound lowered through its
setting (LIMITS, read from PILOTKPI_MAX_* at start). bench/xlsx_costs.py measures the real sizes.
"""
from __future__ import annotations

import io
import json
import random
import tracemalloc
import zipfile
from decimal import Decimal

import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots.readers import ReadFailure, read_report
from pilots.readers.limits import LIMITS
from tests.test_flow import AS_OF, make_scenario, run_cli
from tests.test_hostile_sizes import query
from tests.test_xlsx import FOUR_LINES, rewrite_members, workbook

D = Decimal
STRINGS_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def with_shared_strings(data: bytes, entries: bytes, part: str = "xl/sharedStrings.xml") -> bytes:
    """The workbook with a shared-strings part holding `entries`, declared in [Content_Types].xml
    as Excel declares it (openpyxl itself writes inline strings). The report's cells do not use
    them: a bomb needs no reference to cost what it costs."""
    declared = b'<Override PartName="/%s" ContentType="%s"/></Types>' % (part.encode(), STRINGS_TYPE)
    return rewrite_members(
        data, lambda name, content: content.replace(b"</Types>", declared) if name == "[Content_Types].xml" else content,
        {part: b'<sst xmlns="%s">%s</sst>' % (MAIN_NS, entries)})


def numbered_strings(n: int, prefix: bytes = b"") -> bytes:
    """n distinct short strings: they compress about 10:1, far within the compression-ratio bound."""
    return b"".join(b"<%ssi><%st>%d</%st></%ssi>" % (prefix, prefix, i, prefix, prefix) for i in range(n))


def with_wide_rows(data: bytes, rows: int) -> bytes:
    """The workbook with `rows` more rows, each holding one cell in the sheet's last column (XFD):
    each costs 16,384 cells to read, in a few bytes of XML."""
    extra = b"".join(b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (n, n) for n in range(100, 100 + rows))
    return rewrite_members(data, lambda name, content: content.replace(b"</sheetData>", extra + b"</sheetData>")
                           if name == "xl/worksheets/sheet1.xml" else content)


def refusal(data: bytes) -> str:
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", data)
    assert info.value.issue.code == "FILE_TOO_LARGE"
    return info.value.issue.message_en


def refusal_and_peak(data: bytes) -> tuple[str, int]:
    """The refusal's message and the peak of memory Python allocated while reading to it."""
    tracemalloc.start()
    try:
        message = refusal(data)
        return message, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# The bombs past the real bounds.
STRINGS_BOMB = with_shared_strings(workbook({"report": FOUR_LINES}), numbered_strings(250_001))
CELLS_BOMB = with_wide_rows(workbook({"report": FOUR_LINES}), 123)  # 123 * 16,384 > 2,000,000 cells


def test_the_real_bounds_are_generous_for_a_real_report():
    assert (LIMITS.max_shared_strings, LIMITS.max_shared_strings_bytes) == (250_000, 48 * 1024 * 1024)
    assert (LIMITS.max_cells, LIMITS.max_read_seconds) == (2_000_000, 60)
    # 400 lines of 12 columns, every cell a distinct string of 300 Thai characters (900 bytes):
    # 4,800 strings, 4.4 MB. A report at the row limit (100,000 lines of 12) has 1,200,000 cells.
    assert 400 * 12 < LIMITS.max_shared_strings and 400 * 12 * 920 < LIMITS.max_shared_strings_bytes
    assert LIMITS.max_rows * 12 < LIMITS.max_cells


def test_too_many_shared_strings_are_refused_before_openpyxl_loads_them():
    assert len(STRINGS_BOMB) < 1_000_000
    message, peak = refusal_and_peak(STRINGS_BOMB)
    assert message == ("The file is too large: its table of shared strings holds more than 250,000 entries "
                       "(the limit is 250,000 shared strings). Split it into one file per pilot and quarter.")
    # Counted in a streamed pass: openpyxl would have made 250,001 strings and elements.
    assert peak < 16_000_000, f"{peak:,} bytes"


def test_the_string_count_is_exact_at_the_bound_and_sees_prefixed_and_empty_entries(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_shared_strings", 3_000)
    base = workbook({"report": FOUR_LINES})
    assert len(read_report("r.xlsx", with_shared_strings(base, numbered_strings(3_000))).rows) == 4
    assert "more than 3,000 entries" in refusal(with_shared_strings(base, numbered_strings(3_001)))
    # An entry with a namespace prefix, or an empty one, is an entry all the same (counted before
    # any parsing, so the prefix need not even be declared).
    prefixed = numbered_strings(2_000, b"x:") + b"<si/>" * 1_001
    assert "more than 3,000 entries" in refusal(with_shared_strings(base, prefixed))
    # The part is found by its declared content type, whatever its name.
    assert "more than 3,000 entries" in refusal(with_shared_strings(base, numbered_strings(3_001), "xl/s.xml"))


def test_a_shared_strings_part_past_its_byte_bound_is_refused_by_its_declared_size(monkeypatch):
    # The issue's bomb: 122 MB of strings in a 14 MB workbook, within the total, ratio and part
    # bounds. Here scaled down through PILOTKPI_MAX_SHARED_STRINGS_BYTES.
    data = with_shared_strings(workbook({"report": FOUR_LINES}), numbered_strings(10_000))
    size = zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/sharedStrings.xml").file_size
    monkeypatch.setattr(LIMITS, "max_shared_strings_bytes", size)
    assert len(read_report("r.xlsx", data).rows) == 4
    monkeypatch.setattr(LIMITS, "max_shared_strings_bytes", size - 1)
    assert refusal(data) == (f"The file is too large: its part xl/sharedStrings.xml would expand to {size:,} bytes "
                             f"(the limit is {size - 1:,} bytes per part). Split it into one file per pilot and quarter.")


def test_a_sheet_past_the_cell_bound_is_refused_while_it_is_read():
    assert len(CELLS_BOMB) < 20_000
    message, peak = refusal_and_peak(CELLS_BOMB)
    assert message == ("The file is too large: its report sheet holds more than 2,000,000 cells "
                       "(the limit is 2,000,000 cells). Split it into one file per pilot and quarter.")
    assert peak < 40_000_000, f"{peak:,} bytes"  # 2,000,000 cells of 8 bytes, and no more
    # One such row in a real report costs 16,384 cells, and passes.
    assert len(read_report("r.xlsx", with_wide_rows(workbook({"report": FOUR_LINES}), 1)).rows) == 5


def test_a_workbook_that_takes_too_long_is_refused(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_read_seconds", 0)
    assert refusal(workbook({"report": FOUR_LINES})) == (
        "The file is too large: reading it took more than 0 seconds (the limit is 0 seconds). "
        "Split it into one file per pilot and quarter.")


def test_the_ratio_refusal_names_the_ratio():
    data = with_shared_strings(workbook({"report": FOUR_LINES}), b"<si><t>x</t></si>" * 1_000_000)
    message = refusal(data)
    assert "times its size (the limit is 200 times)" in message and "would expand" in message


def test_check_refuses_the_bombs_with_their_bound_in_both_languages(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    (tmp_path / "strings.xlsx").write_bytes(STRINGS_BOMB)
    (tmp_path / "cells.xlsx").write_bytes(CELLS_BOMB)
    result = CliRunner().invoke(main, ["check", str(tmp_path / "strings.xlsx"), str(tmp_path / "cells.xlsx"),
                                       str(inbox / "a_lead_q1.csv"), "--registry", str(registry), "--as-of", AS_OF,
                                       "--format", "json"])
    assert result.exit_code == 6, result.output
    outcomes = {o["file"]: o for o in json.loads(result.output)}
    assert outcomes["a_lead_q1.csv"]["status"] == "accepted"
    for name, en, th in (("strings.xlsx", "more than 250,000 entries", "ตารางข้อความที่ใช้ร่วมกันในไฟล์มีมากกว่า 250,000 รายการ"),
                         ("cells.xlsx", "more than 2,000,000 cells", "แผ่นงานรายงานมีมากกว่า 2,000,000 ช่อง")):
        assert outcomes[name]["status"] == "quarantined"
        [issue] = outcomes[name]["issues"]
        assert issue["code"] == "FILE_TOO_LARGE" and en in issue["message_en"] and th in issue["message_th"]


def test_a_run_quarantines_the_bombs_and_takes_the_rest(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    (inbox / "g_strings.xlsx").write_bytes(STRINGS_BOMB)
    (inbox / "h_cells.xlsx").write_bytes(CELLS_BOMB)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 8: accepted 3, superseded 1, duplicates 1, quarantined 3" in out
    wh = tmp_path / "wh.duckdb"
    assert query(wh, "SELECT s.file_name, s.status, i.code FROM ingest.submissions s JOIN ingest.issues i "
                     "USING (submission_id) WHERE s.file_name LIKE '%.xlsx' ORDER BY s.file_name") == [
        ("g_strings.xlsx", "quarantined", "FILE_TOO_LARGE"), ("h_cells.xlsx", "quarantined", "FILE_TOO_LARGE")]
    assert sorted(p.name for p in (inbox / "quarantine").iterdir()) == ["f_bad.csv", "g_strings.xlsx", "h_cells.xlsx"]
    # test_flow.py's hand-computed figures: composite Q1 3.18, Q2 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]


# --- the styles part (xl/styles.xml), which openpyxl parses whole when the workbook opens -------

def with_cell_formats(data: bytes, n: int) -> bytes:
    """The workbook with `n` more cell formats (<xf/> elements) in its styles part: each becomes an
    openpyxl object when the workbook opens (1,000,000 of them took 15 s and 855 MB). A few
    kilobytes of random bytes in a member of their own keep the file within the compression-ratio
    bound, as a real bomb would."""
    entries = b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' * n

    def edit(name: str, content: bytes) -> bytes:
        if name != "xl/styles.xml":
            return content
        at = content.index(b"<cellXfs")
        at = content.index(b">", at) + 1
        return content[:at] + entries + content[at:]
    return rewrite_members(data, edit, {"xl/media/image1.bin": random.Random(7).randbytes(100_000)})


def style_elements(data: bytes) -> int:
    """The styles part's elements, counted by parsing it (not by the reader's streamed count)."""
    from xml.etree import ElementTree

    return sum(1 for _ in ElementTree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("xl/styles.xml")).iter())


STYLES_BOMB = with_cell_formats(workbook({"report": FOUR_LINES}), 250_001)  # past the real bound alone


def test_a_styles_bomb_is_refused_before_openpyxl_parses_it():
    assert len(STYLES_BOMB) < 200_000
    size = zipfile.ZipFile(io.BytesIO(STYLES_BOMB)).getinfo("xl/styles.xml").file_size
    assert size < LIMITS.max_styles_bytes == 16 * 1024 * 1024 and LIMITS.max_style_elements == 250_000
    message, peak = refusal_and_peak(STYLES_BOMB)
    assert message == ("The file is too large: its styles part xl/styles.xml holds more than 250,000 elements "
                       "(the limit is 250,000 style elements). Split it into one file per pilot and quarter.")
    # Counted in a streamed pass: openpyxl would have made 250,001 objects and their elements.
    assert peak < 16_000_000, f"{peak:,} bytes"


def test_the_style_count_is_exact_at_the_bound(monkeypatch):
    data = with_cell_formats(workbook({"report": FOUR_LINES}), 1_000)
    elements = style_elements(data)
    assert elements > 1_000
    monkeypatch.setattr(LIMITS, "max_style_elements", elements)
    assert len(read_report("r.xlsx", data).rows) == 4  # a real report's styles pass, their formats read
    monkeypatch.setattr(LIMITS, "max_style_elements", elements - 1)
    assert f"holds more than {elements - 1:,} elements" in refusal(data)


def test_a_styles_part_past_its_byte_bound_is_refused_by_its_declared_size(monkeypatch):
    data = with_cell_formats(workbook({"report": FOUR_LINES}), 1_000)
    size = zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/styles.xml").file_size
    monkeypatch.setattr(LIMITS, "max_styles_bytes", size)
    assert len(read_report("r.xlsx", data).rows) == 4
    monkeypatch.setattr(LIMITS, "max_styles_bytes", size - 1)
    assert refusal(data) == (f"The file is too large: its part xl/styles.xml would expand to {size:,} bytes "
                             f"(the limit is {size - 1:,} bytes per part). Split it into one file per pilot and quarter.")


def test_a_run_quarantines_a_styles_bomb_with_a_bilingual_defect_naming_it(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    (inbox / "g_styles.xlsx").write_bytes(STYLES_BOMB)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out
    wh = tmp_path / "wh.duckdb"
    assert query(wh, "SELECT s.file_name, s.status, i.code, i.row_number, i.column_name, i.message_en, i.message_th "
                     "FROM ingest.submissions s JOIN ingest.issues i USING (submission_id) "
                     "WHERE s.file_name LIKE '%.xlsx'") == [
        ("g_styles.xlsx", "quarantined", "FILE_TOO_LARGE", None, None,
         "The file is too large: its styles part xl/styles.xml holds more than 250,000 elements (the limit is "
         "250,000 style elements). Split it into one file per pilot and quarter.",
         "ไฟล์มีขนาดใหญ่เกินไป: ส่วนกำหนดรูปแบบ xl/styles.xml ในไฟล์มีมากกว่า 250,000 รายการ "
         "(จำกัดที่ 250,000 รายการกำหนดรูปแบบ) กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")]
    assert sorted(p.name for p in (inbox / "quarantine").iterdir()) == ["f_bad.csv", "g_styles.xlsx"]
    # The validation report names the file beside its defect, in both languages.
    report = (tmp_path / "out" / "validation.html").read_text(encoding="utf-8")
    assert "g_styles.xlsx" in report and "ส่วนกำหนดรูปแบบ xl/styles.xml" in report
    assert "its styles part xl/styles.xml holds more than 250,000 elements" in report
    # test_flow.py's hand-computed figures: composite Q1 3.18, Q2 3.9 (the bomb changed nothing).
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]


@pytest.mark.parametrize("part", ["xl/styles.xml", "xl/sharedStrings.xml"])
def test_a_damaged_counted_part_is_unreadable_not_a_crash(part):
    data = bytearray(with_shared_strings(workbook({"report": FOUR_LINES}), numbered_strings(3_000)))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 8] = b"\xff" * 8  # its deflated bytes: the count's own read of it fails
    with pytest.raises(ReadFailure) as failure:
        read_report("r.xlsx", bytes(data))
    assert failure.value.issue.code == "FILE_UNREADABLE"
