"""marts.budget_integration and marts.budget_integration_by_layer against scoring.md §3; figures by hand."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from kpis.cases import built_warehouse

LEAD, SEC, SUP, ADV = "03009", "15001", "11002", "20004"
PILOT = {"pilot_id": "P1", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": LEAD}
ROLES = [{"pilot_id": "P1", "agency_code": a, "role": r}
         for a, r in ((LEAD, "lead"), (SEC, "secondary"), (SUP, "supporting"), (ADV, "advisory"))]
FIGURES = ("total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, lead_share, support_thb, "
           "disbursed_thb, disbursement_rate, overlapping_activities, agencies_reporting, agencies_expected")


def sub(sid, agency, period, *, status="accepted"):
    return {"submission_id": sid, "pilot_id": "P1", "agency_code": agency, "period": period,
            "submitted_on": date(2005, 1, 20), "status": status}


def line(sid, activity, source, allocated, disbursed=0, layer=1):
    return {"submission_id": sid, "activity_code": activity, "funding_source": source, "layer": layer,
            "allocated_thb": allocated, "disbursed_thb": disbursed}


def build(submissions, lines, as_of=date(2005, 1, 31), kpi_actuals=()):
    return built_warehouse({"registry.pilots": [PILOT], "registry.pilot_agencies": ROLES,
                            "ingest.submissions": submissions, "core.budget_lines": lines,
                            "core.kpi_actuals": list(kpi_actuals)}, as_of)


def figures(con, period="2548-Q1"):
    return con.execute(f"SELECT {FIGURES} FROM marts.budget_integration WHERE period = ?", [period]).fetchone()


def test_integrated_and_fragmented_by_role_and_funding_source():
    con = build([sub(1, LEAD, "2548-Q1"), sub(2, SEC, "2548-Q1"), sub(3, SUP, "2548-Q1")], [
        line(1, "A1", "own", 100_000, 10_000),                   # lead: integrated whatever the source
        line(1, "A2", "lead_integrated", 200_000, 20_000),       # lead: integrated
        line(2, "A3", "own", 300_000, 30_000),                   # secondary's own money: fragmented
        line(2, "A4", "lead_integrated", 400_000, 40_000),       # planned through the lead: integrated
        line(3, "A5", "support_contribution", 500_000, 50_000),  # asked for by the lead: integrated, support
        line(3, "A6", "own", 600_000, 60_000),                   # supporting agency's own: fragmented
    ])
    # total 2,100,000; integrated 100 + 200 + 400 + 500 = 1,200,000 (1.2/2.1 = 0.571428… → 0.5714);
    # fragmented 900,000; lead 300,000 (0.142857… → 0.1429); support 500,000; disbursed 210,000 (0.1000);
    # no activity shared; 3 agencies reporting of 3 expected (the advisory agency is not expected).
    assert figures(con) == (D("2100000.00"), D("1200000.00"), D("900000.00"), D("0.5714"), D("0.1429"),
                            D("500000.00"), D("210000.00"), D("0.1000"), 0, 3, 3)


def test_overlapping_activities():
    con = build([sub(1, LEAD, "2548-Q1"), sub(2, SEC, "2548-Q1"), sub(3, SUP, "2548-Q1")], [
        line(1, "SHARED", "own", 100),              # two agencies, the secondary's line fragmented: overlap
        line(2, "SHARED", "own", 100),
        line(2, "TWO-SOURCES", "own", 100),         # one agency with two funding sources: no overlap
        line(2, "TWO-SOURCES", "lead_integrated", 100),
        line(1, "ALL-INTEGRATED", "own", 100),      # two agencies, every line integrated: no overlap
        line(3, "ALL-INTEGRATED", "support_contribution", 100),
    ])
    assert figures(con)[8] == 1


def test_latest_report_with_lines_replaces_earlier_ones():
    # Lead: Q1 1,000,000 / 100,000; Q2 a KPI-only report (does not erase); Q3 restated 800,000 / 500,000.
    # Secondary: Q1 own 500,000 / 50,000, nothing later; its superseded Q3 file must not count.
    con = build([sub(1, LEAD, "2548-Q1"), sub(2, SEC, "2548-Q1"), sub(3, LEAD, "2548-Q2"), sub(4, LEAD, "2548-Q3"),
                 sub(5, SEC, "2548-Q3", status="superseded")],
                [line(1, "A1", "own", 1_000_000, 100_000), line(2, "A1", "own", 500_000, 50_000),
                 line(4, "A1", "own", 800_000, 500_000), line(5, "A1", "own", 9_999_999, 0)],
                as_of=date(2005, 7, 31), kpi_actuals=[{"submission_id": 3, "kpi_code": "K1", "actual": 1}])
    # Q1 and Q2: 1,500,000; integrated 1,000,000 (0.6667); lead share 0.6667; disbursed 150,000 (0.1000).
    q1 = (D("1500000.00"), D("1000000.00"), D("500000.00"), D("0.6667"), D("0.6667"), D("0.00"),
          D("150000.00"), D("0.1000"), 1, 2, 3)
    assert figures(con, "2548-Q1") == q1
    assert figures(con, "2548-Q2") == q1
    # Q3: 800,000 + 500,000 = 1,300,000; integrated 800,000 (0.615384… → 0.6154); disbursed 550,000
    # (0.423076… → 0.4231).
    assert figures(con, "2548-Q3") == (D("1300000.00"), D("800000.00"), D("500000.00"), D("0.6154"), D("0.6154"),
                                       D("0.00"), D("550000.00"), D("0.4231"), 1, 2, 3)


def test_ratios_empty_when_the_total_is_zero():
    # Q1: no line at all; Q2: one line of 0 baht. Either way the ratios are empty, not 0.
    con = build([sub(1, SEC, "2548-Q2")], [line(1, "A1", "own", 0, 0)], as_of=date(2005, 4, 30))
    assert figures(con, "2548-Q1") == (D("0.00"), D("0.00"), D("0.00"), None, None, D("0.00"), D("0.00"), None, 0, 0, 3)
    assert figures(con, "2548-Q2") == (D("0.00"), D("0.00"), D("0.00"), None, None, D("0.00"), D("0.00"), None, 0, 1, 3)
    assert con.execute("SELECT period, layer, integration_ratio, lead_share, disbursement_rate "
                       "FROM marts.budget_integration_by_layer").fetchall() == [("2548-Q2", 1, None, None, None)]


def test_by_layer_only_layers_with_lines_and_lead_share_within_the_layer():
    con = build([sub(1, LEAD, "2548-Q1"), sub(2, SEC, "2548-Q1")], [
        line(1, "A1", "own", 300_000, 30_000, layer=2),
        line(2, "A2", "own", 100_000, 0, layer=2),
        line(2, "A3", "lead_integrated", 200_000, 50_000, layer=4),
    ])
    rows = con.execute("SELECT layer, total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, "
                       "lead_share, support_thb, disbursed_thb, disbursement_rate "
                       "FROM marts.budget_integration_by_layer ORDER BY layer").fetchall()
    assert rows == [
        # Layer 2: 400,000, lead 300,000 → lead share 0.7500 and integrated 0.7500; disbursed 30,000 → 0.0750.
        (2, D("400000.00"), D("300000.00"), D("100000.00"), D("0.7500"), D("0.7500"), D("0.00"), D("30000.00"),
         D("0.0750")),
        # Layer 4: the secondary's integrated 200,000 only → lead share 0.0000 within the layer; 0.2500 disbursed.
        (4, D("200000.00"), D("200000.00"), D("0.00"), D("1.0000"), D("0.0000"), D("0.00"), D("50000.00"),
         D("0.2500")),
    ]
    # Across layers the lead's share is 300,000 / 600,000 = 0.5000.
    assert figures(con)[4] == D("0.5000")
