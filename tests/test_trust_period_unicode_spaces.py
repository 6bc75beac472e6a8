"""A period written with a non-breaking space, or another Unicode space (verifier VH, F5).

agency-report-v1.md, Variants: `ไตรมาส 1/2548` is 2548-Q1. Excel and web exports often write
U+00A0 for that space; numbers with U+00A0 were read, but `ไตรมาส<U+00A0>3/2549` was PERIOD_INVALID
and the report quarantined. Any Unicode space (str.isspace) now reads as a space in a period.

The scenario and its registry are tests/test_flow.py's; tests/hostile.py's clean night scores it
(Q1 K1 47, K2 60 -> 3.18; Q2 K1 55, K2 60 + 90 -> 3.90).
"""
from __future__ import annotations

import json

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def test_a_period_with_a_non_breaking_space_is_read_as_with_a_space(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    q1 = "\n".join([HEADER, f"{P},03009,ไตรมาส\u00a01/2548,2005-01-20,kpi,K1,,47,,,,",
                    f"{P},03009,ไตรมาส\u00a01/2548,2005-01-20,kpi,K2,,60,,,,"]) + "\n"
    # JSON: a narrow no-break space (U+202F) and an em space (U+2003), at the top level and on a line.
    q2 = json.dumps({"pilot_id": P, "agency_code": "03009", "period": "ไตรมาส\u202f2/2548", "submitted_on": "2005-04-20",
                     "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 55, "period": "Q2/\u20032548"},
                               {"line_type": "kpi", "item_code": "K2", "actual": 90}]}, ensure_ascii=False)
    clean_night(registry, inbox, tmp_path, {"a_q1.csv": q1.encode("utf-8"), "b_q2.json": q2.encode("utf-8")})
    assert query(tmp_path / "wh.duckdb", "SELECT file_name, period FROM ingest.submissions ORDER BY 1") == [
        ("a_q1.csv", "2548-Q1"), ("b_q2.json", "2548-Q2")]
