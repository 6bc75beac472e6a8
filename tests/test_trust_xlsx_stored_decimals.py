"""An Excel number is read with every decimal it stores, not rounded as its format shows it
(verifier VH, F6: the reading chosen and now written in docs/report-format.md §2).

The guide said a cell under a unit of baht is "read as it shows"; a cell storing 2.7478427 under
`#,##0.00 "ล้านบาท"` shows `2.75 ล้านบาท` and was read as 2,747,842.70. The reading kept: the
format gives the unit (and the percentage), the stored number the digits, as Excel itself adds
them up; the rounded 2,750,000 would change the amount without a word. The guide now says so, and
that Excel keeps 15 significant digits (`<v>99999999999999.99</v>` is the float 99999999999999.98).
This test pins the documented reading (it passed before: only the guide changed).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import IN_MILLIONS, report

D = Decimal


def test_the_stored_decimals_times_the_unit_shown(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    clean_night(registry, inbox, tmp_path, {
        "a_q1.xlsx": report("2548-Q1", "2005-01-20", [
            ("kpi", "K1", None, {"actual": (0.82547, "0.0%")}), ("kpi", "K2", None, {"actual": 60}),
            ("budget", "ACT-1", 3, {"allocated_thb": (2.7478427, IN_MILLIONS), "disbursed_thb": (0.5, IN_MILLIONS),
                                    "funding_source": "lead_integrated"})]),
        "b_q2.xlsx": report("2548-Q2", "2005-04-20", [
            ("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": 90}),
            ("budget", "ACT-2", 3, {"allocated_thb": 99999999999999.99, "disbursed_thb": 0, "funding_source": "own"})])},
        # scoring.md: Q1 K1 82.547 >= t5 60 -> 5, K2 60 -> 2.4: (5*60 + 2.4*40)/100 = 3.96;
        # Q2 K1 55 -> 4.5, K2 60 + 90 = 150 -> 3: 3.9.
        scores=[("2548-Q1", D("3.9600")), ("2548-Q2", D("3.9000"))])
    assert query(wh, "SELECT period, actual FROM core.kpi_actuals WHERE kpi_code = 'K1' ORDER BY 1") == [
        ("2548-Q1", D("82.547")), ("2548-Q2", D("55"))]
    # 2.7478427 x 10^6 = 2,747,842.70 (shown 2.75 ล้านบาท); 0.5 x 10^6 = 500,000. The 17-digit
    # amount is the float the workbook keeps: 99,999,999,999,999.98.
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY 1") == [
        ("ACT-1", D("2747842.70"), D("500000.00")), ("ACT-2", D("99999999999999.98"), D("0.00"))]
