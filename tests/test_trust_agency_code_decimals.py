"""An agency code written as a whole number with `.0`, of any length up to 5 digits (verifier VO).

agency-report-v1.md, Readings in detail: "Agency codes with fewer than 5 digits are left-padded
with zeros, from a number cell or text"; the column is "text of 5 digits". A CSV exported from a
sheet where the code was a number writes it `3009.0`, and that was padded to 03009; but the same
export of 11002 writes `11002.0`, which was AGENCY_CODE_INVALID ("'11002.0' is not 5 digits") and
the supporting agency's report quarantined; a JSON number 11002.0 too. A whole number written
with a decimal point and zeros is that number (pilots/normalise.py, parse_agency_code), 5 digits
long or shorter; `11002.5` or `110020` stay defects.

The scenario and its registry are tests/test_flow.py's (pilot PLT-2548-003, lead 03009, supporting
11002; K1 percent/higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight
40, thresholds [100..500] x q/4).
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def test_agency_codes_written_with_a_decimal_point_are_the_whole_number(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # The lead (03009) as an export writes the number 3009; the supporting agency (11002) as it
    # writes 11002, in a CSV and as a JSON number.
    (inbox / "a_lead_q1.csv").write_bytes(_csv(f"{P},3009.0,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                               f"{P},3009.0,2548-Q1,2005-01-20,kpi,K2,,60,,,,"))
    (inbox / "b_support_q1.csv").write_bytes(_csv(
        f"{P},11002.0,2548-Q1,2005-01-25,budget,ACT-1,5,,100000,40000,support_contribution,"))
    (inbox / "c_support_q2.json").write_text(
        '{"pilot_id": "%s", "agency_code": 11002.0, "period": "2548-Q2", "submitted_on": "2005-04-22", "lines": %s}'
        % (P, json.dumps([{"line_type": "budget", "item_code": "ACT-1", "layer": 5, "allocated_thb": 100000,
                           "disbursed_thb": 70000, "funding_source": "support_contribution"}])), encoding="utf-8")
    # Still defects: not a whole number, and six digits.
    (inbox / "d_support_q1.csv").write_bytes(_csv(
        f"{P},11002.5,2548-Q1,2005-01-26,budget,ACT-1,5,,100000,90000,support_contribution,"))
    (inbox / "e_support_q1.csv").write_bytes(_csv(
        f"{P},110020.0,2548-Q1,2005-01-27,budget,ACT-1,5,,100000,90000,support_contribution,"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: b and c quarantined too ("files seen 5: accepted 1, ... quarantined 4").
    assert "files seen 5: accepted 3, superseded 0, duplicates 0, quarantined 2" in out, out
    assert query(wh, "SELECT file_name, status, agency_code, period FROM ingest.submissions ORDER BY 1") == [
        ("a_lead_q1.csv", "accepted", "03009", "2548-Q1"), ("b_support_q1.csv", "accepted", "11002", "2548-Q1"),
        ("c_support_q2.json", "accepted", "11002", "2548-Q2"), ("d_support_q1.csv", "quarantined", None, "2548-Q1"),
        ("e_support_q1.csv", "quarantined", None, "2548-Q1")]
    assert query(wh, "SELECT agency_code, period, activity_code, allocated_thb, disbursed_thb FROM core.budget_lines "
                     "ORDER BY period") == [("11002", "2548-Q1", "ACT-1", D("100000.00"), D("40000.00")),
                                            ("11002", "2548-Q2", "ACT-1", D("100000.00"), D("70000.00"))]
    # reporting-compliance: due 10 days after the quarter (Q1 ends 31 Dec: 30 Jan; Q2 31 Mar: 30 Apr).
    assert query(wh, "SELECT period, submitted, first_submitted_on, due_date, on_time, days_late, versions "
                     "FROM marts.reporting_compliance WHERE agency_code = '11002' ORDER BY 1") == [
        ("2548-Q1", True, date(2005, 1, 25), date(2005, 1, 30), True, 0, 1),
        ("2548-Q2", True, date(2005, 4, 22), date(2005, 4, 30), True, 0, 1)]
    # Q1: K1 47 -> 3 + 7/10 = 3.7; K2 60 over [25..125] -> 2 + 10/25 = 2.4; (3.7*60 + 2.4*40)/100.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [
        ("2548-Q1", D("3.1800"))]
    for name, written in (("d_support_q1.csv", "11002.5"), ("e_support_q1.csv", "110020.0")):
        assert issues_of(wh, name) == [(2, "agency_code", "AGENCY_CODE_INVALID", f"Agency code '{written}' is not 5 digits.",
                                        f"รหัสหน่วยงาน '{written}' ไม่ใช่ตัวเลข 5 หลัก")]
