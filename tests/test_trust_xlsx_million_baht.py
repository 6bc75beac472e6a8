"""Excel amounts shown in million baht, through two nights.

agency-report-v1.md reads `1.25 ล้านบาท` (million baht) as 1,250,000 where a unit of baht may
stand, and a percentage cell as what it shows (82.5% stored as 0.825 is 82.5). Thai budget sheets
often type amounts in millions under a number format with the unit as literal text,
`#,##0.00 "ล้านบาท"`: the cell shows `1.25 ล้านบาท` and stores 1.25. The reader gave the stored
1.25: an allocation of 1.25 baht, accepted without a word, and every budget figure of the pilot
wrong by a factor of a million. Now such a cell is read as the text it shows (xlsx_reader
`_as_shown`), so the normaliser applies the spec's rule: 1,250,000 on an amount; on a percent
KPI's actual, not a number. A format that also divides by 1,000 per trailing comma
(`#,##0.00,, "ล้านบาท"`, showing a stored 500000 as 0.50) is read as shown too: 500,000, unchanged.
An amount shown in thousand baht (`#,##0 "พันบาท"`: 1,250 stored for 1,250,000), which the spec
does not read, is NOT_A_NUMBER, never 1,250 baht.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
IN_MILLIONS = '#,##0.00 "ล้านบาท"'
SCALED_TO_MILLIONS = '#,##0.00,, "ล้านบาท"'
COLUMNS = HEADER.split(",")


def report(period: str, submitted: str, lines: list[tuple[str, str, int | None, dict]], agency: str = "03009") -> bytes:
    """An agency's report (the lead's by default): per line its type, item code, layer, and
    {column: value or (value, number format)}."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(COLUMNS)
    for line_type, code, layer, cells in lines:
        sheet.append([P, agency, period, submitted, line_type, code, layer])
        for column, cell in cells.items():
            value, number_format = cell if isinstance(cell, tuple) else (cell, None)
            target = sheet.cell(row=sheet.max_row, column=COLUMNS.index(column) + 1, value=value)
            if number_format:
                target.number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


Q1 = report("2548-Q1", "2005-01-20", [
    ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60}),
    ("budget", "ACT-1", 3, {"allocated_thb": (1.25, IN_MILLIONS), "disbursed_thb": (0.3, IN_MILLIONS),
                            "funding_source": "lead_integrated"}),
    ("budget", "ACT-2", 3, {"allocated_thb": 250_000, "disbursed_thb": 100_000, "funding_source": "own"}),
    ("budget", "ACT-3", 3, {"allocated_thb": (500_000, SCALED_TO_MILLIONS), "disbursed_thb": 0,
                            "funding_source": "own"})])


def test_amounts_shown_in_million_baht_are_read_as_shown(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 with amounts in million baht; and its Q2 whose K1 actual (a percent
    # KPI) sits in a cell shown as 55 ล้านบาท, with a budget line allocated 1,250 พันบาท.
    (inbox / "a_lead_q1.xlsx").write_bytes(Q1)
    (inbox / "b_lead_q2.xlsx").write_bytes(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": (55, '0 "ล้านบาท"')}), ("kpi", "K2", None, {"actual": 90}),
        ("budget", "ACT-4", 3, {"allocated_thb": (1_250, '#,##0 "พันบาท"'), "disbursed_thb": 0,
                                "funding_source": "own"})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: both accepted.
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY 1") == [
        # Before: ACT-1 1.25 and 0.30 baht.
        ("ACT-1", D("1250000.00"), D("300000.00")), ("ACT-2", D("250000.00"), D("100000.00")),
        ("ACT-3", D("500000.00"), D("0.00"))]
    # scoring.md: total 1,250,000 + 250,000 + 500,000 = 2,000,000, all the lead's (integrated);
    # disbursed 300,000 + 100,000 = 400,000; rate 400,000 / 2,000,000 = 0.2. Before: 750,001.25
    # and 100,000.30 (0.1333).
    assert query(wh, "SELECT total_allocated_thb, integrated_thb, integration_ratio, disbursed_thb, disbursement_rate "
                     "FROM marts.budget_integration WHERE period = '2548-Q1'") == [
        (D("2000000.00"), D("2000000.00"), D("1.0000"), D("400000.00"), D("0.2000"))]
    # "55 ล้านบาท" on a percent KPI: `ล้านบาท` stands only on amounts and baht KPIs (Units);
    # "1250 พันบาท" is no number the spec reads. Before: K1 55 and ACT-4 1,250 baht, accepted.
    assert [issue[:3] for issue in issues_of(wh, "b_lead_q2.xlsx")] == [
        (2, "actual", "NOT_A_NUMBER"), (4, "allocated_thb", "NOT_A_NUMBER")]
    # Q1: K1 47 -> 3.7, K2 60 (Q1 [25..125]) -> 2.4: 3.18. Q2: no accepted file. Before: 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: the lead's Q2 with its K1 actual a plain number (Q2 3.9); Q1's figures are kept.
    clean_night(registry, inbox, tmp_path, {"c_lead_q2.xlsx": report("2548-Q2", "2005-04-21", [
        ("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": 90})])})
    assert query(wh, "SELECT total_allocated_thb, disbursed_thb FROM marts.budget_integration "
                     "WHERE period = '2548-Q1'") == [(D("2000000.00"), D("400000.00"))]
