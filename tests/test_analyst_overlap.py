"""Analysts' question 6 (docs/analyst-guide.md, budget overlap), written for national size: each
pilot's latest quarter from marts.budget_integration, the lines grouped per agency then per
activity. Its answer on hand-made marts, computed by hand from scoring.md's overlap rule, and the
same as the issue-12 query it replaced (count/string_agg DISTINCT over the snapshot's lines)."""
from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from tests.test_analyst_guide import worked_examples

# The issue-12 form of question 6, kept as the reference the guide's query must agree with.
DISTINCT_FORM = """
WITH latest AS (SELECT pilot_id, max(period) AS period FROM marts.budget_snapshot GROUP BY pilot_id)
SELECT s.pilot_id, s.period, s.activity_code, count(DISTINCT s.agency_code) AS agencies,
       string_agg(DISTINCT s.agency_code, ', ' ORDER BY s.agency_code) AS agency_codes,
       sum(s.allocated_thb) AS allocated_thb
FROM marts.budget_snapshot s JOIN latest USING (pilot_id, period)
GROUP BY s.pilot_id, s.period, s.activity_code
HAVING count(DISTINCT s.agency_code) > 1
   AND bool_or(NOT s.is_integrated)
ORDER BY s.pilot_id, s.activity_code
"""

# (pilot, period, activity, agency, allocated, integrated): lines of marts.budget_snapshot.
LINES = [
    # PLT-A's latest quarter, 2549-Q3.
    ("PLT-A", "2549-Q3", "ACT-1", "01", "100.00", True),    # lead: integrated
    ("PLT-A", "2549-Q3", "ACT-1", "02", "50.25", False),    # another agency, fragmented: overlap
    ("PLT-A", "2549-Q3", "ACT-2", "01", "10.00", True),     # shared, wholly integrated: no overlap
    ("PLT-A", "2549-Q3", "ACT-2", "02", "20.00", True),
    ("PLT-A", "2549-Q3", "ACT-3", "03", "5.00", True),      # one agency, two funding sources: none
    ("PLT-A", "2549-Q3", "ACT-3", "03", "6.00", False),
    ("PLT-A", "2549-Q3", "ACT-4", "03", "1.10", False),     # three agencies, one with two lines
    ("PLT-A", "2549-Q3", "ACT-4", "03", "2.20", True),
    ("PLT-A", "2549-Q3", "ACT-4", "02", "3.30", True),
    ("PLT-A", "2549-Q3", "ACT-4", "01", "4.40", True),
    # An earlier quarter of PLT-A: an overlap, but not in its latest quarter.
    ("PLT-A", "2549-Q2", "ACT-9", "01", "1.00", True),
    ("PLT-A", "2549-Q2", "ACT-9", "02", "1.00", False),
    # PLT-B: its latest due quarter 2549-Q3 has no lines (a new fiscal year's first quarter would
    # not either), so its latest quarter with lines is 2549-Q2.
    ("PLT-B", "2549-Q2", "ACT-1", "05", "999999999999.99", False),
    ("PLT-B", "2549-Q2", "ACT-1", "04", "0.01", False),
]
# marts.budget_integration's rows: every due period, agencies_reporting as its SQL counts them.
PERIODS = [("PLT-A", "2549-Q2", 2), ("PLT-A", "2549-Q3", 3), ("PLT-B", "2549-Q2", 2), ("PLT-B", "2549-Q3", 0)]

# By hand: PLT-A's ACT-1 (01 + 02: 150.25) and ACT-4 (01 + 02 + 03: 4.40 + 3.30 + 1.10 + 2.20 =
# 11.00); PLT-B's ACT-1 in 2549-Q2 (04 + 05).
EXPECTED = [
    ("PLT-A", "2549-Q3", "ACT-1", 2, "01, 02", Decimal("150.25")),
    ("PLT-A", "2549-Q3", "ACT-4", 3, "01, 02, 03", Decimal("11.00")),
    ("PLT-B", "2549-Q2", "ACT-1", 2, "04, 05", Decimal("1000000000000.00")),
]


def guide_query() -> str:
    return next(sql for sql, _ in worked_examples() if "per_agency" in sql)


@pytest.fixture
def marts():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.budget_snapshot (pilot_id VARCHAR, period VARCHAR, activity_code VARCHAR, "
                "agency_code VARCHAR, allocated_thb DECIMAL(18, 2), is_integrated BOOLEAN)")
    con.execute("CREATE TABLE marts.budget_integration (pilot_id VARCHAR, period VARCHAR, agencies_reporting INTEGER)")
    con.executemany("INSERT INTO marts.budget_snapshot VALUES (?, ?, ?, ?, ?, ?)", LINES)
    con.executemany("INSERT INTO marts.budget_integration VALUES (?, ?, ?)", PERIODS)
    yield con
    con.close()


def test_question_6_answers_the_overlaps_of_each_pilots_latest_quarter_with_lines(marts):
    assert marts.execute(guide_query()).fetchall() == EXPECTED


def test_question_6_gives_the_answer_of_the_distinct_form_it_replaced(marts):
    assert marts.execute(guide_query()).fetchall() == marts.execute(DISTINCT_FORM).fetchall() == EXPECTED
    described = marts.execute(f"DESCRIBE ({guide_query().rstrip().rstrip(';')})").fetchall()
    assert [(name, kind) for name, kind, *_ in described] == [
        ("pilot_id", "VARCHAR"), ("period", "VARCHAR"), ("activity_code", "VARCHAR"), ("agencies", "BIGINT"),
        ("agency_codes", "VARCHAR"), ("allocated_thb", "DECIMAL(18,2)")]
