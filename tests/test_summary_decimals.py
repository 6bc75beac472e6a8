"""The summary model's figures are the marts' DECIMALs, digits and scale as stored (the model reads
its KPI rows, budget and trend as text and makes them Decimal again: kpis/summary/model.py `_rows`).
Every value worked out by hand from scoring.md and the columns' types (warehouse/migrations)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from kpis.cases import built_warehouse
from kpis.summary.model import build_model

LEAD, SUP = "03009", "11002"
PILOT = {"pilot_id": "P1", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": LEAD}
T = [20, 30, 40, 50, 60]


def _model():
    submissions = [{"submission_id": 1, "pilot_id": "P1", "agency_code": LEAD, "period": "2548-Q1",
                    "submitted_on": date(2005, 1, 20), "status": "accepted"},
                   {"submission_id": 2, "pilot_id": "P1", "agency_code": SUP, "period": "2548-Q1",
                    "submitted_on": date(2005, 1, 20), "status": "accepted"}]
    kpis = [{"pilot_id": "P1", "kpi_code": code, "direction": "higher", "aggregation": "last", "weight": D(weight)}
            for code, weight in (("A", 50), ("B", 30), ("C", 20))]
    con = built_warehouse({
        "registry.pilots": [PILOT],
        "registry.pilot_agencies": [{"pilot_id": "P1", "agency_code": LEAD, "role": "lead"},
                                    {"pilot_id": "P1", "agency_code": SUP, "role": "supporting"}],
        "registry.kpis": kpis,
        "registry.kpi_thresholds": [{"pilot_id": "P1", "kpi_code": k["kpi_code"], "fiscal_year": 2548, "t": T}
                                    for k in kpis],
        "ingest.submissions": submissions,
        # A: 47 (between t4 and t5 of [20..60]); B: -5.25 (below t1); C: blank.
        "core.kpi_actuals": [{"submission_id": 1, "kpi_code": "A", "actual": "47"},
                             {"submission_id": 1, "kpi_code": "B", "actual": "-5.25"},
                             {"submission_id": 1, "kpi_code": "C", "actual": None}],
        "core.budget_lines": [
            {"submission_id": 1, "activity_code": "A1", "funding_source": "own", "layer": 1,
             "allocated_thb": "300000.50", "disbursed_thb": "100000"},
            {"submission_id": 2, "activity_code": "S1", "funding_source": "own", "layer": 1,
             "allocated_thb": "100000", "disbursed_thb": "0"}],
    }, date(2005, 1, 31))
    return build_model(con, date(2005, 1, 31))


def _exact(value):
    """A Decimal by value and scale: D('1.0') and D('1.00') are equal numbers but not the same figure."""
    return None if value is None else (value, value.as_tuple().exponent)


def test_the_models_kpi_figures_keep_the_marts_scale():
    section = _model().pilots[0]
    rows = {k.kpi_code: k for k in section.kpis}
    # weight DECIMAL(9,4); actual DECIMAL(38,10); thresholds as scored DECIMAL(38,12); score DECIMAL(9,4).
    assert _exact(rows["A"].weight) == (D("50"), -4) and _exact(rows["B"].weight) == (D("30"), -4)
    assert _exact(rows["A"].actual) == (D("47"), -10)
    assert _exact(rows["B"].actual) == (D("-5.25"), -10)  # negative: the sign and the scale kept
    assert rows["C"].actual is None  # a blank value stays None, not "None" nor 0
    assert [_exact(t) for t in rows["A"].thresholds] == [(D(t), -12) for t in T]
    # A: k = 4 (t4 = 50 > 47 >= t3 = 40): 3 + (47 - 40)/(50 - 40) = 3.7; B below t1: 1.
    assert _exact(rows["A"].score) == (D("3.7"), -4) and _exact(rows["B"].score) == (D("1"), -4)
    # composite: (3.7 × 50 + 1 × 30 + 1 × 20) / 100 = 2.35 (C missing scores 1 at its weight).
    assert _exact(section.composite) == (D("2.35"), -4)
    assert [(period, _exact(score)) for period, score, _ in section.trend] == [("2548-Q1", (D("2.35"), -4))]


def test_the_models_budget_figures_keep_the_marts_scale():
    budget = _model().pilots[0].budget
    # Lead 300,000.50 (integrated: the lead's), supporting 100,000 own (fragmented; no
    # support_contribution line: support 0.00); DECIMAL(18,2) money, DECIMAL(9,4) ratios:
    # 300000.50 / 400000.50 = 0.74999906… → 0.7500 (integration and lead share alike);
    # disbursed 100,000 / 400000.50 = 0.24999968… → 0.2500.
    assert {c: _exact(budget[c]) for c in ("total_allocated_thb", "integrated_thb", "fragmented_thb",
                                           "integration_ratio", "lead_share", "support_thb", "disbursed_thb",
                                           "disbursement_rate")} == {
        "total_allocated_thb": (D("400000.50"), -2), "integrated_thb": (D("300000.50"), -2),
        "fragmented_thb": (D("100000"), -2), "integration_ratio": (D("0.75"), -4), "lead_share": (D("0.75"), -4),
        "support_thb": (D("0"), -2), "disbursed_thb": (D("100000"), -2), "disbursement_rate": (D("0.25"), -4)}
    assert list(budget)[:4] == ["pilot_id", "period", "fiscal_year", "quarter"]  # the mart's column order
