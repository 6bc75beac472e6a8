"""A report saved as UTF-16 without a byte order mark, through two nights.

defects.yaml's own example of FILE_ENCODING_UNKNOWN is "a CSV saved as UTF-16", and its fix says
to save the file as UTF-8. With the mark (Excel's "Unicode Text") the reader said so; without it
(some .NET and database exports), ASCII in UTF-16 puts a NUL beside every letter, digit and
separator, and the file was FILE_UNREADABLE "it holds binary data, not text": the agency was told
to export again from its source system, which gives the same file. Now such text is
FILE_ENCODING_UNKNOWN (pilots/readers/base.py, _utf16_text); a UTF-8 file with a stray NUL byte
is still binary data.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import json

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
Q1 = "\n".join([HEADER, f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,ส่งตรงเวลา",
                f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,"]) + "\n"
Q2 = json.dumps({"pilot_id": P, "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20",
                 "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 55},
                           {"line_type": "kpi", "item_code": "K2", "actual": 90}]}, ensure_ascii=False)
ENCODING = (None, None, "FILE_ENCODING_UNKNOWN",
            "The text encoding is not UTF-8 or Windows-874 (TIS-620). Save the file as UTF-8.",
            "รหัสอักขระของไฟล์ไม่ใช่ UTF-8 หรือ Windows-874 (TIS-620) กรุณาบันทึกไฟล์เป็น UTF-8")
BINARY = (None, None, "FILE_UNREADABLE",
          "The file cannot be read: it holds binary data, not text. Export it again from the source system and resend it.",
          "ไม่สามารถอ่านไฟล์ได้: ไฟล์มีข้อมูลที่ไม่ใช่ตัวอักษร กรุณาส่งออกไฟล์จากระบบต้นทางใหม่แล้วส่งอีกครั้ง")


def test_utf16_without_its_mark_is_an_encoding_to_change_not_binary_data(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: Q1 as UTF-16 little-endian and Q2 as big-endian, neither with a mark; and Q1 in
    # UTF-8 with one NUL byte inside a note.
    (inbox / "a_q1_utf16le.csv").write_bytes(Q1.encode("utf-16-le"))
    (inbox / "b_q2_utf16be.json").write_bytes(Q2.encode("utf-16-be"))
    (inbox / "c_q1_nul.csv").write_bytes(Q1.replace("ส่งตรงเวลา", "ส่ง\x00ตรงเวลา").encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 0, superseded 0, duplicates 0, quarantined 3" in out
    # Before: a and b were FILE_UNREADABLE with c's message (binary data).
    assert issues_of(wh, "a_q1_utf16le.csv") == [ENCODING]
    assert issues_of(wh, "b_q2_utf16be.json") == [ENCODING]
    assert issues_of(wh, "c_q1_nul.csv") == [BINARY]
    assert query(wh, "SELECT count(*) FROM core.kpi_actuals") == [(0,)]

    # Night 2: both sent again as UTF-8, as the message said; every figure is the hand-computed one.
    clean_night(registry, inbox, tmp_path, {"d_q1.csv": Q1.encode("utf-8"), "e_q2.json": Q2.encode("utf-8")})
    assert query(wh, "SELECT kpi_code, note FROM core.kpi_actuals WHERE period = '2548-Q1' ORDER BY 1") == [
        ("K1", "ส่งตรงเวลา"), ("K2", None)]


def test_utf16_with_spaces_python_calls_unprintable_or_a_pair_cut_by_the_sample_is_still_text():
    from pilots.readers.base import UTF16_SAMPLE_BYTES, _utf16_text

    # U+00A0 and U+200B are quirks agency-report-v1.md names; review of 2026-12-06: they made it "binary data".
    assert _utf16_text("pilot_id,agency_code\nPLT-2548-003,\u00a003009\u200b\n".encode("utf-16-le"))
    # An emoji whose surrogate pair straddles the sample's end (the sample is cut, not the file).
    head = "a" * (UTF16_SAMPLE_BYTES // 2 - 1)
    assert _utf16_text((head + "\U0001F600 tail").encode("utf-16-le"))
    # Binary data stays binary; so does UTF-8 Thai text with a stray NUL.
    assert not _utf16_text(bytes(range(256)) * 16)
    assert not _utf16_text("สวัสดี ทดสอบ".encode("utf-8") + b"\x00")
