"""A JSON report whose lines each carry keys of their own, and one whose top-level identity is huge.

The JSON reader's header is every key of every line, and each line is expanded to the whole
header, so the table costs lines x distinct keys: 4,000 lines with 100 keys of their own (a 5 MB
file) made 1.6 billion cells; a 1.3 MB one took 24.6 s and 3.4 GB in `check`, a 5 MB one ended the
night with MemoryError, and every night after it (the file stayed in the inbox). CSV and XLSX were
bounded by LIMITS.max_cells; JSON was not. Now the reader counts lines x distinct keys before it
expands a line and refuses the document past the same bound (FILE_TOO_LARGE, json_cells).

The identity fields at the top go to every line that lacks its own: a 2 MB list as the top's
period was written out again for each line (53 s and 2.9 GB for 1,000 lines), and a 5 MB period
read again by normalise on each line (90 s for 10,000). Now each is made text once, and the text
the lines take from the top is bounded by LIMITS.max_file_bytes, in characters (json_top_text).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pilots.readers import ReadFailure, read_report
from pilots.readers.json_reader import read_json
from pilots.readers.limits import LIMITS
from tests.hostile import clean_night
from tests.support import refused_in_memory
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
IDENTITY = {"pilot_id": P, "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20"}


def document(lines: list[dict], **top) -> bytes:
    return json.dumps({**IDENTITY, **top, "lines": lines}, separators=(",", ":")).encode()


def sparse(n: int, k: int) -> bytes:
    """n lines, each with k unknown keys of its own (the verifier's r13_json_sparse_keys.py)."""
    return document([{"line_type": "kpi", "item_code": "K1", "actual": 47, **{f"k{i}_{j}": 0 for j in range(k)}}
                     for i in range(n)])


def too_large(detail_en: str, detail_th: str, limit_en: str, limit_th: str) -> tuple:
    return (None, None, "FILE_TOO_LARGE",
            f"The file is too large: {detail_en} (the limit is {limit_en}). Split it into one file per pilot and quarter.",
            f"ไฟล์มีขนาดใหญ่เกินไป: {detail_th} (จำกัดที่ {limit_th}) กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")


def refusal(data: bytes) -> tuple:
    with pytest.raises(ReadFailure) as info:
        read_json(data)
    issue = info.value.issue
    return (None, None, issue.code, issue.message_en, issue.message_th)


def test_the_cells_bound_is_lines_times_distinct_keys_exactly(monkeypatch):
    # 3 lines of 3 fields, each with one key of its own; 4 identity fields at the top: 10 columns.
    data = document([{"line_type": "kpi", "item_code": f"K{i}", "actual": 1, f"own{i}": 0} for i in range(3)])
    monkeypatch.setattr(LIMITS, "max_cells", 30)
    table = read_json(data)
    assert (len(table.rows), len(table.header)) == (3, 10)
    monkeypatch.setattr(LIMITS, "max_cells", 29)
    # Before: read (3 rows of 10 cells), whatever the bound.
    assert refusal(data) == too_large("its 3 lines, each given all 10 field names, make 30 cells",
                                      "3 รายการ แต่ละรายการมีชื่อฟิลด์ทั้งหมด 10 ชื่อ รวม 30 ช่อง",
                                      "29 cells", "29 ช่อง")


def test_sparse_keys_are_refused_before_any_line_is_expanded():
    data = sparse(1_000, 20)  # 1,000 lines x 20,007 columns: 20 million cells, from 0.4 MB
    failure, peak = refused_in_memory("r.json", data)
    assert failure.issue.code == "FILE_TOO_LARGE"
    assert "its 1,000 lines, each given all 20,007 field names, make 20,007,000 cells" in failure.issue.message_en
    # The pilot is still known, for its letter (scoring.md §6 counts the file as quarantined there).
    assert failure.identity == IDENTITY
    # Before: the rows alone held 20 million references (160 MB); now the parsed document (~10 MB).
    assert peak < 60 * 1024 * 1024, f"peak {peak:,} bytes"


def test_one_line_of_many_keys_is_bounded_too(monkeypatch):
    # Distinct keys alone: one line is one row of the whole header, counted the same way.
    monkeypatch.setattr(LIMITS, "max_cells", 1_000)
    with pytest.raises(ReadFailure) as info:
        read_json(document([{"line_type": "kpi", "item_code": "K1", **{f"x{j}": 0 for j in range(1_000)}}]))
    assert "its 1 lines, each given all 1,006 field names, make 1,006 cells" in info.value.issue.message_en


def test_the_text_lines_take_from_the_top_is_bounded(monkeypatch):
    lines = [{"line_type": "kpi", "item_code": "K1", "actual": 47}] * 2
    # The identity's text on each line: 12 + 5 + 7 + 1,010 characters, on 2 lines: 2,068.
    data = document(lines, submitted_on="2005-04-20" + " " * 1_000)
    monkeypatch.setattr(LIMITS, "max_file_bytes", 2_068)
    assert len(read_json(data).rows) == 2
    monkeypatch.setattr(LIMITS, "max_file_bytes", 2_067)
    assert refusal(data) == too_large("its 2 lines would repeat its top-level fields: 2,068 characters",
                                      "2 รายการจะซ้ำค่าที่ส่วนต้นของเอกสาร รวม 2,068 ตัวอักษร",
                                      "2,067 characters", "2,067 ตัวอักษร")


def test_a_big_top_level_value_is_refused_not_written_out_on_every_line():
    # A list of 100,000 zeros as the period (200 KB in the file; as a cell, json.dumps's text of
    # 300,000 characters), over 300 lines: with the other three fields (27), 90,008,100 characters.
    # Before: json.dumps of the list once a line (300 x 300,000), then read by normalise on each.
    data = document([{}] * 300, period=[0] * 100_000)
    with pytest.raises(ReadFailure) as info:
        read_report("r.json", data)
    assert info.value.issue.code == "FILE_TOO_LARGE"
    assert "its 300 lines would repeat its top-level fields: 90,008,100 characters" in info.value.issue.message_en


def test_a_real_report_at_the_row_limit_is_within_both_bounds():
    # 100,000 lines of 8 fields with the identity at the top (the usual layout): 1,200,000 cells
    # and 3,400,000 characters taken from the top, both read.
    data = document([{"line_type": "kpi", "item_code": "K1", "layer": None, "actual": 47, "allocated_thb": None,
                      "disbursed_thb": None, "funding_source": None, "note": "x"}] * 100_000)
    table = read_report("r.json", data)
    assert (len(table.rows), len(table.header)) == (100_000, 12)


def csv_q1() -> bytes:
    return (f"{HEADER}\n{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,\n"
            f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,\n").encode()


def q2(k1: int = 55, k2: int = 90, own_keys: int = 0, **top) -> bytes:
    return document([{"line_type": "kpi", "item_code": code, "actual": actual,
                      **{f"{code}_field_{j}": "" for j in range(own_keys)}}
                     for code, actual in (("K1", k1), ("K2", k2))], **top)


def test_a_sparse_json_is_quarantined_and_the_nights_go_on(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # The bounds lowered so that the files stay small (LIMITS is read at call time; the night
    # reads its files in this process): 200 cells and 4,096 characters.
    monkeypatch.setattr(LIMITS, "max_cells", 200)
    monkeypatch.setattr(LIMITS, "max_file_bytes", 4_096)

    # Night 1: the lead's Q1 report; a Q2 report whose two lines each have 60 keys of their own
    # (2 lines x 127 columns: 254 cells); a Q2 report whose top-level submitted_on is padded with
    # 2,100 blanks (2 lines x 2,134 characters). Before: both read whole and accepted, with
    # 120 COLUMN_UNKNOWN warnings and the date trimmed.
    (inbox / "a_lead_q1.csv").write_bytes(csv_q1())
    (inbox / "b_q2_sparse.json").write_bytes(q2(own_keys=60))
    (inbox / "c_q2_padded.json").write_bytes(q2(submitted_on="2005-04-20" + " " * 2_100))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out, out
    assert issues_of(wh, "b_q2_sparse.json") == [too_large(
        "its 2 lines, each given all 127 field names, make 254 cells",
        "2 รายการ แต่ละรายการมีชื่อฟิลด์ทั้งหมด 127 ชื่อ รวม 254 ช่อง", "200 cells", "200 ช่อง")]
    assert issues_of(wh, "c_q2_padded.json") == [too_large(
        "its 2 lines would repeat its top-level fields: 4,268 characters",
        "2 รายการจะซ้ำค่าที่ส่วนต้นของเอกสาร รวม 4,268 ตัวอักษร", "4,096 characters", "4,096 ตัวอักษร")]
    assert sorted(p.name for p in (inbox / "quarantine").iterdir()) == ["b_q2_sparse.json", "c_q2_padded.json"]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18. Q2's reports were both quarantined: no score.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2 again, as it should be: K1 55 -> 4.5, K2 60 + 90 = 150 -> 3; composite 3.9.
    clean_night(registry, inbox, tmp_path, {"d_q2.json": q2(submitted_on="2005-04-21")})
