"""Excel number formats with conditions, through two nights.

A percentage cell means what it shows (agency-report-v1.md, "Percentage cells"). The reader chose
a format's section by the number's sign only; Excel chooses by the sections' conditions when they
have any: under `[>=1]0;0%` a stored 0.47 shows 47% (the second section), under `[<1]0.0%;0.0` a
stored 55 shows 55.0 (the second). The reader took the first section for both: 0.47 read as
0.47 (K1 scored 1 where the agency showed 47%: a wrong composite, accepted) and 55 as 5,500% (a
valid report quarantined as out of range). Now the section is Excel's (xlsx_reader._section_of).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report

D = Decimal


def test_a_conditional_format_is_read_by_the_section_excel_shows(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: Q1's K1 stored 0.47 under [>=1]0;0% (shows 47%); Q2's K1 stored 55 under
    # [<1]0.0%;0.0 (shows 55.0).
    (inbox / "a_lead_q1.xlsx").write_bytes(report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": (0.47, "[>=1]0;0%")}), ("kpi", "K2", None, {"actual": 60})]))
    (inbox / "b_lead_q2.xlsx").write_bytes(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": (55, "[<1]0.0%;0.0")}), ("kpi", "K2", None, {"actual": 90})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: accepted 1, quarantined 1 (b: PERCENT_OUT_OF_RANGE, 5500).
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY 1, 2") == [
        ("2548-Q1", "K1", D(47)), ("2548-Q1", "K2", D(60)), ("2548-Q2", "K1", D(55)), ("2548-Q2", "K2", D(90))]
    # scoring.md: Q1 K1 47 -> 3.7, K2 60 -> 2.4: 3.18 (before: K1 0.47 below t1 -> 1:
    # (1*60 + 2.4*40)/100 = 1.56); Q2 K1 55 -> 4.5, K2 150 -> 3: 3.9 (before: no accepted file).
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]

    # Night 2: a supporting agency's Q1 budget line under a colour and a condition that shows no
    # percentage ([Red][<0]-0.00;0.00): read as stored. The scores stay 3.18 and 3.9.
    clean_night(registry, inbox, tmp_path, {"c_sec_q1.xlsx": report("2548-Q1", "2005-02-20", [
        ("budget", "ACT-1", 3, {"allocated_thb": (500_000, "[Red][<0]-0.00;0.00"), "disbursed_thb": 100_000,
                                "funding_source": "own"})], agency="15001")})
    assert query(wh, "SELECT agency_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("15001", D("500000.00"), D("100000.00"))]
