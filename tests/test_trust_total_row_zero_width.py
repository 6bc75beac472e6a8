"""A total row whose `รวม` holds a zero-width space (verifier VH, F2).

agency-report-v1.md, Readings: zero-width characters (U+200B, U+200C, U+200D, U+FEFF) are removed
from values, and a total row (an empty item code and a cell that contains `รวม` or `total`) is
dropped with a warning before any other check of that row. `ร<U+200B>วม` was looked for in the raw
cell, was no total, and the row was VALUE_REQUIRED (item_code, actual): the report was quarantined.

The scenario and its registry are tests/test_flow.py's; tests/hostile.py's clean night scores it
(Q1 K1 47, K2 60 -> 3.18; Q2 K1 55, K2 60 + 90 -> 3.90).
"""
from __future__ import annotations

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario
from tests.test_hostile_json_top_level import issues_of

P = "PLT-2548-003"


def test_a_total_row_with_a_zero_width_space_is_dropped_with_a_warning(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    q1 = "\n".join([HEADER, f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                    f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,",
                    f"{P},03009,2548-Q1,2005-01-20,kpi,,,107,,,,\u200bร\u200bวม\ufeff"]) + "\n"
    q2 = "\n".join([HEADER, f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,",
                    f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,",
                    f"{P},03009,2548-Q2,2005-04-20,kpi,,,,,,,To\u200ctal"]) + "\n"
    clean_night(registry, inbox, tmp_path, {"a_q1.csv": q1.encode("utf-8"), "b_q2.csv": q2.encode("utf-8")})
    wh = tmp_path / "wh.duckdb"
    assert issues_of(wh, "a_q1.csv") == [(4, None, "TOTAL_ROW_IGNORED", "Total row ignored.", "ข้ามแถวผลรวม")]
    assert issues_of(wh, "b_q2.csv") == [(4, None, "TOTAL_ROW_IGNORED", "Total row ignored.", "ข้ามแถวผลรวม")]
