"""Excel reports: sheet choice, header row, number codes, date cells, formulas, hostile workbooks."""
from __future__ import annotations

import io
import re
import struct
import tracemalloc
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


def rewrite_members(data: bytes, edit, add: dict[str, bytes] | None = None) -> bytes:
    """The workbook with each member's bytes passed through edit(name, content), and `add` added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(info.filename, src.read(info)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def with_cached_formula_values(data: bytes, value: str) -> bytes:
    """openpyxl writes formulas without cached values; patch one in as Excel would have saved it
    (without openpyxl's calcPr fullCalcOnLoad="1", which says the saved values are not to be trusted)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content = content.replace(b"<v />", f"<v>{value}</v>".encode())
            if info.filename == "xl/workbook.xml":
                content, n = re.subn(rb'\s*fullCalcOnLoad="1"', b"", content)
                assert n == 1, "openpyxl wrote no fullCalcOnLoad to drop"
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


# --- The <dimension> tag is not trusted (issue 13) -------------------------------------------------

FULL_HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
               "allocated_thb", "disbursed_thb", "funding_source", "note"]
FOUR_LINES = [FULL_HEADER,
              ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, 47],
              ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K2", None, 60],
              ["PLT-1", "03009", "2548-Q1", "2005-01-20", "budget", "ACT-1", 5, None, 1000000, 200000, "own"],
              ["PLT-1", "03009", "2548-Q1", "2005-01-20", "budget", "ACT-2", 3, None, 250000, 50000, "own"]]


def with_dimension(data: bytes, ref: str | None) -> bytes:
    """Rewrite every sheet's <dimension ref=...> as a careless exporter would (None: drop the tag)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                tag = b"" if ref is None else f'<dimension ref="{ref}"/>'.encode()
                content, n = re.subn(rb'<dimension ref="[^"]*"\s*/>', tag, content)
                assert n == 1, "openpyxl wrote no dimension tag to rewrite"
            dst.writestr(info, content)
    return out.getvalue()


def read_dimension_tag(data: bytes) -> str | None:
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    found = re.search(rb'<dimension ref="([^"]*)"', sheet)
    return found and found.group(1).decode()


@pytest.mark.parametrize("ref", ["A1:L2", "A1:A1", None, "A1:ZZ3000"])
def test_rows_do_not_depend_on_the_dimension_tag(ref):
    # openpyxl's read-only mode stops at the tag's last row: "A1:L2" gave one data row of four.
    data = with_dimension(workbook({"report": FOUR_LINES}), ref)
    assert read_dimension_tag(data) == ref
    table = read_report("r.xlsx", data)
    assert table.header == FULL_HEADER
    assert [n for n, _ in table.rows] == [2, 3, 4, 5]
    assert [(cells[5], cells[7], cells[8], cells[9]) for _, cells in table.rows] == [
        ("K1", "47", None, None), ("K2", "60", None, None),
        ("ACT-1", None, "1000000", "200000"), ("ACT-2", None, "250000", "50000")]
    assert all(len(cells) == 12 for _, cells in table.rows)  # padded to the header, whatever the tag


def test_formula_check_reads_past_a_short_dimension_tag():
    rows = [HEADER, ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", "47"],
            ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K2", "=40+7"]]
    table = read_report("r.xlsx", with_dimension(workbook({"report": rows}), "A1:G2"))
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == [("FORMULA_WITHOUT_VALUE", 3, "actual")]


# --- Each zip member has its own limit; a member cannot inflate past what it declares --------------

def test_one_part_over_the_member_limit_is_refused(monkeypatch):
    from pilots.readers.limits import LIMITS

    data = workbook({"report": FOUR_LINES})
    sizes = {i.filename: i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    biggest = max(sizes, key=sizes.get)
    # The whole workbook is far within the total limits; only the member limit can refuse it.
    assert sum(sizes.values()) < LIMITS.max_inflated_bytes
    monkeypatch.setattr(LIMITS, "max_member_bytes", sizes[biggest])
    assert len(read_report("r.xlsx", data).rows) == 4
    monkeypatch.setattr(LIMITS, "max_member_bytes", sizes[biggest] - 1)
    with pytest.raises(ReadFailure) as info:
        read_report("r.xlsx", data)
    issue = info.value.issue
    assert issue.code == "FILE_TOO_LARGE"
    assert f"its part {biggest} would expand to {sizes[biggest]:,} bytes" in issue.message_en
    assert f"{sizes[biggest] - 1:,} bytes per part" in issue.message_en and biggest in issue.message_th


def test_member_limit_comes_from_the_environment():
    import subprocess
    import sys

    code = "from pilots.readers.limits import LIMITS; print(LIMITS.max_member_bytes)"
    env = {**__import__("os").environ, "PILOTKPI_MAX_MEMBER_BYTES": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "12345"
    env.pop("PILOTKPI_MAX_MEMBER_BYTES")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(128 * 1024 * 1024)


def declare_size(data: bytes, member: str, declared: int) -> bytes:
    """Make a zip lie: rewrite `member`'s uncompressed size in its local header and in the central
    directory, leaving its compressed bytes (and CRC) as they were."""
    buf, name = bytearray(data), member.encode()
    for signature, name_len_at, size_at, name_at in ((b"PK\x03\x04", 26, 22, 30), (b"PK\x01\x02", 28, 24, 46)):
        i, patched = 0, 0
        while (i := buf.find(signature, i)) != -1:
            n = struct.unpack_from("<H", buf, i + name_len_at)[0]
            if bytes(buf[i + name_at:i + name_at + n]) == name:
                struct.pack_into("<I", buf, i + size_at, declared)
                patched += 1
            i += 4
        assert patched == 1
    return bytes(buf)


def test_a_member_that_inflates_past_its_declared_size_is_cut_there_and_refused():
    # A sheet that really inflates to 40 MB but declares 1 KB: every size check passes on the
    # declared sizes, so the read itself must not inflate past them.
    sheet = "xl/worksheets/sheet1.xml"
    src = zipfile.ZipFile(io.BytesIO(workbook({"report": FOUR_LINES})))
    padding = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>' % (n, n)
                       for n in range(6, 600_000))
    big = src.read(sheet).replace(b"</sheetData>", padding + b"</sheetData>")
    assert len(big) > 40_000_000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, big if info.filename == sheet else src.read(info))
    data = declare_size(out.getvalue(), sheet, 1024)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo(sheet).file_size == 1024

    tracemalloc.start()
    try:
        with pytest.raises(ReadFailure) as info:
            read_report("r.xlsx", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.issue.code == "FILE_UNREADABLE"  # the CRC of the cut member does not match
    assert peak < 8_000_000, f"{peak:,} bytes allocated: the member was inflated past its declared size"
