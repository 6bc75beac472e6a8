"""Readers: encodings, separators, JSON layout, and files with no table."""
from __future__ import annotations

import json

import pytest

from pilots.readers import ReadFailure, read_report

HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual"
ROW = "PLT-1,03009,2548-Q1,2005-01-20,kpi,K1,47"


def test_utf8_with_and_without_bom():
    plain = read_report("a.csv", f"{HEADER}\n{ROW}\n".encode())
    bom = read_report("a.csv", f"\ufeff{HEADER}\r\n{ROW}\r\n".encode())
    assert plain.encoding == "utf-8" and bom.encoding == "utf-8-sig"
    assert plain.header == bom.header == HEADER.split(",")
    assert plain.rows == bom.rows == [(2, ROW.split(","))]


def test_cp874_with_thai_headers_and_semicolons():
    text = "รหัสโครงการ;รหัสหน่วยงาน\nPLT-1;03009\n\nPLT-1;03009\n"
    table = read_report("a.csv", text.encode("cp874"))
    assert table.encoding == "cp874"
    assert table.header == ["รหัสโครงการ", "รหัสหน่วยงาน"]
    assert [n for n, _ in table.rows] == [2, 4]  # the blank line 3 is skipped, numbering kept


def test_a_bom_on_a_file_that_is_not_utf8_is_an_unknown_encoding():
    # Found by the whole-flow fuzz (seed 1): it raised UnicodeDecodeError and failed the run.
    data = b"\xef\xbb\xbf" + "รหัสโครงการ,หมายเหตุ\nPLT-2548-003,ทดสอบ\n".encode("cp874")
    with pytest.raises(ReadFailure) as info:
        read_report("r.csv", data)
    assert info.value.issue.code == "FILE_ENCODING_UNKNOWN"


def test_tab_separated():
    table = read_report("a.csv", (HEADER.replace(",", "\t") + "\n" + ROW.replace(",", "\t")).encode())
    assert table.rows[0][1][6] == "47"


def test_json_layout_fills_top_level_fields():
    doc = {"pilot_id": "PLT-1", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
           "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 47.5}]}
    table = read_report("a.json", json.dumps(doc).encode())
    assert table.format == "json"
    assert dict(zip(table.header, table.rows[0][1])) == {
        "pilot_id": "PLT-1", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
        "line_type": "kpi", "item_code": "K1", "actual": "47.5"}
    assert table.rows[0][0] == 1


@pytest.mark.parametrize("name, data, code", [
    ("a.pdf", b"%PDF", "FILE_FORMAT_UNKNOWN"),
    ("a.csv", b"", "FILE_NO_TABLE"),
    ("a.csv", HEADER.encode() + b"\n", "FILE_NO_TABLE"),
    ("a.csv", b"\x00\x01\x02binary", "FILE_UNREADABLE"),
    ("a.json", b"[1, 2]", "FILE_NO_TABLE"),
    ("a.json", b'{"lines": []}', "FILE_NO_TABLE"),
    ("a.json", b"{not json", "FILE_UNREADABLE"),
    ("a.json", b"[" * 100000 + b"]" * 100000, "FILE_NO_TABLE"),
])
def test_files_without_a_table(name, data, code):
    with pytest.raises(ReadFailure) as info:
        read_report(name, data)
    assert info.value.issue.code == code
    assert info.value.issue.message_th and info.value.issue.message_en
