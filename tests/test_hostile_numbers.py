"""Numbers written the way JSON and Excel write them, through whole nights.

agency-report-v1.md: a number means what it says. JSON's numbers were read as binary floats:
99999999999999.99 (below the report total's limit, 10^14) became the double 99999999999999.984375
and was stored as 99999999999999.98, a wrong figure accepted without a word; 1e-7 became the text
`1e-07`, called not a number; NaN was quoted as `nan`; an integer of more than 4,300 digits made
the whole file "invalid JSON at line ?" instead of a too-large number on its line. An Excel number
cell of 0.00001 was the text `1e-05`, called not a number.

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; K1
percent/higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40,
thresholds [100..500] (x q/4 for sums). As of 2005-05-15, 2548-Q1 and 2548-Q2 are due.
"""
from __future__ import annotations

import json
from decimal import Decimal

from tests.test_excel_percent import report
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
PILOT = "PLT-2548-003"


def json_report(agency: str, period: str, submitted: str, lines: list[str]) -> bytes:
    """A JSON report whose lines are written as raw JSON text (numbers exactly as given)."""
    head = json.dumps({"pilot_id": PILOT, "agency_code": agency, "period": period, "submitted_on": submitted})
    return (head[:-1] + ', "lines": [' + ", ".join(lines) + "]}").encode("utf-8")


def budget(activity: str, allocated: str, disbursed: str, source: str = "own", layer: int = 5) -> str:
    return (f'{{"line_type": "budget", "item_code": "{activity}", "layer": {layer}, "allocated_thb": {allocated}, '
            f'"disbursed_thb": {disbursed}, "funding_source": "{source}"}}')


def kpi(code: str, actual: str) -> str:
    return f'{{"line_type": "kpi", "item_code": "{code}", "actual": {actual}}}'


def issues_of(wh, file_name: str) -> list[tuple]:
    return query(wh, "SELECT i.code, i.row_number, i.column_name, i.message_en FROM ingest.issues i "
                     "JOIN ingest.submissions s USING (submission_id) WHERE s.file_name = ? "
                     "ORDER BY i.row_number, i.column_name", [file_name])


def test_json_and_excel_numbers_are_read_exactly_over_two_nights(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1. The lead: K1 4.75e1 (47.5), K2 60, one budget line of 99,999,999,999,999.99 (the
    # largest amount under the report total's limit) of which 12,345,678,901,234.57 disbursed.
    (inbox / "a_lead_q1.json").write_bytes(json_report("03009", "2548-Q1", "2005-01-20", [
        kpi("K1", "4.75e1"), kpi("K2", "60"), budget("ACT-1", "99999999999999.99", "12345678901234.57")]))
    # The secondary twice: a NaN (Python's reader takes it), and an amount of 5,000 digits.
    (inbox / "b_sec_nan.json").write_bytes(json_report("15001", "2548-Q1", "2005-02-15", [
        budget("ACT-1", "500000", "NaN")]))
    (inbox / "c_sec_digits.json").write_bytes(json_report("15001", "2548-Q1", "2005-02-16", [
        budget("ACT-1", "9" * 5000, "0")]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out
    assert query(wh, "SELECT agency_code, activity_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("03009", "ACT-1", D("99999999999999.99"), D("12345678901234.57"))]
    assert query(wh, "SELECT kpi_code, actual FROM core.kpi_actuals ORDER BY kpi_code") == [("K1", D("47.5")), ("K2", D("60"))]
    # scoring.md: K1 47.5 -> 3 + (47.5-40)/(50-40) = 3.75; K2 (sum, Q1: [25,50,75,100,125]) 60 ->
    # 2 + (60-50)/25 = 2.4; composite (3.75*60 + 2.4*40)/100 = 2.25 + 0.96 = 3.21.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.2100"),)]
    # Budget: one line of the lead's own money; 12,345,678,901,234.57 / 99,999,999,999,999.99 =
    # 0.123456789012345...: 0.1235.
    assert query(wh, "SELECT total_allocated_thb, disbursed_thb, disbursement_rate FROM marts.budget_integration "
                     "WHERE period = '2548-Q1'") == [(D("99999999999999.99"), D("12345678901234.57"), D("0.1235"))]
    assert issues_of(wh, "b_sec_nan.json") == [
        ("NOT_A_NUMBER", 1, "disbursed_thb", "'NaN' in 'disbursed_thb' is not a number.")]
    too_large = issues_of(wh, "c_sec_digits.json")
    assert [(c, r, col) for c, r, col, _ in too_large] == [("NUMBER_TOO_LARGE", 1, "allocated_thb")]
    assert "at most 16 digits before the decimal point" in too_large[0][3]
    assert query(wh, "SELECT message_th FROM ingest.issues i JOIN ingest.submissions s USING (submission_id) "
                     "WHERE s.file_name = 'b_sec_nan.json'")[0][0].startswith("'NaN'")

    # Night 2: the lead's Q2 as a workbook with K1 typed 0.00001 in a number cell, and the
    # secondary's Q1 again in JSON with exponents (1.2e6 allocated, 3E+5 disbursed).
    (inbox / "d_lead_q2.xlsx").write_bytes(report([
        [PILOT, "03009", "2548-Q2", "2005-04-20", "kpi", "K1", None, 0.00001],
        [PILOT, "03009", "2548-Q2", "2005-04-20", "kpi", "K2", None, 90]]))
    (inbox / "e_sec_q1.json").write_bytes(json_report("15001", "2548-Q1", "2005-02-20", [
        budget("ACT-1", "1.2e6", "3E+5")]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D("47.5")), ("2548-Q1", "K2", D("60")),
        ("2548-Q2", "K1", D("0.00001")), ("2548-Q2", "K2", D("90"))]
    assert query(wh, "SELECT agency_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY agency_code") == [
        ("03009", D("99999999999999.99"), D("12345678901234.57")), ("15001", D("1200000.00"), D("300000.00"))]
    # Q2: K1 0.00001 is below the first threshold (20): s = 1.
    assert query(wh, "SELECT score FROM marts.kpi_scores WHERE period = '2548-Q2' AND kpi_code = 'K1'") == [(D("1.0000"),)]
    assert query(wh, "SELECT total_allocated_thb, disbursed_thb FROM marts.budget_integration "
                     "WHERE period = '2548-Q1'") == [(D("100000001199999.99"), D("12345679201234.57"))]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.2100"),)]
