"""marts.kpi_scores and marts.pilot_scores against scoring.md §1–2; every figure worked out by hand."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from kpis.cases import built_warehouse
from warehouse.db import connect

LEAD = "03009"
FY2548 = {"pilot_id": "P1", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": LEAD}


def sub(sid, period, submitted_on, *, pilot="P1", agency=LEAD, status="accepted"):
    return {"submission_id": sid, "pilot_id": pilot, "agency_code": agency, "period": period,
            "submitted_on": submitted_on, "status": status}


def kpi(code, t, *, weight=D(50), direction="higher", aggregation="last", pilot="P1", fy=2548):
    """Registry rows for one KPI: (kpis row, thresholds row)."""
    return ({"pilot_id": pilot, "kpi_code": code, "direction": direction, "aggregation": aggregation, "weight": weight},
            {"pilot_id": pilot, "kpi_code": code, "fiscal_year": fy, "t": t})


def given(pilots, kpis, submissions, actuals):
    return {"registry.pilots": pilots, "registry.kpis": [k for k, _ in kpis],
            "registry.kpi_thresholds": [t for _, t in kpis], "ingest.submissions": submissions,
            "core.kpi_actuals": [{"submission_id": s, "kpi_code": k, "actual": a} for s, k, a in actuals]}


def scores(con, where="true"):
    """{(kpi_code, period): (actual, t1..t5, score, weighted_score, is_missing, status, submission_id)}"""
    rows = con.execute(f"SELECT kpi_code, period, actual, t1, t2, t3, t4, t5, score, weighted_score, is_missing, "
                       f"status, submission_id FROM marts.kpi_scores WHERE {where}").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


# --- the exact rounding macro ------------------------------------------------------------------

@pytest.mark.parametrize(("n", "d", "expected"), [
    ("212345", "100000", D("2.1235")),    # 2.12345: half way, away from zero
    ("-212345", "100000", D("-2.1235")),  # negative half way: away from zero too
    ("0.0013", "2", D("0.0007")),         # 0.00065: binary floating point gives 0.0006
    ("1", "3", D("0.3333")),
    ("2", "3", D("0.6667")),
    ("44.25", "75.75", D("0.5842")),      # 0.58415841…
    ("5", "0", None),                     # an empty ratio, not an error
])
def test_round4_div_is_exact_half_away_from_zero(n, d, expected):
    con = built_warehouse({}, date(2005, 1, 1))
    got = con.execute("SELECT marts.round4_div(?::DECIMAL(38,10), ?::DECIMAL(38,10))", [n, d]).fetchone()[0]
    assert got == expected and (got is None or got.as_tuple().exponent == -4)


# --- KPI scores --------------------------------------------------------------------------------

def test_higher_kpi_at_below_above_and_between_thresholds():
    # Thresholds [20, 30, 40, 50, 60], direction higher, weight 50 each (six KPIs in one file).
    t = [20, 30, 40, 50, 60]
    actuals = {"A": 47, "B": 40, "C": 30, "D": 20, "E": 5, "F": 99}
    con = built_warehouse(given([FY2548], [kpi(k, t) for k in actuals], [sub(1, "2548-Q1", date(2005, 1, 20))],
                                [(1, k, a) for k, a in actuals.items()]), date(2005, 1, 31))
    got = {k: v[6:10] for (k, _), v in scores(con).items()}
    assert got == {
        "A": (D("3.7000"), D("1.8500"), False, "on_target"),  # k = 3: 3 + 7/10; 3.7 × 50/100
        "B": (D("3.0000"), D("1.5000"), False, "on_target"),  # exactly t3: k = 3, s = 3
        "C": (D("2.0000"), D("1.0000"), False, "at_risk"),    # exactly t2: 2 ≤ s < 3
        "D": (D("1.0000"), D("0.5000"), False, "off_track"),  # a ≤ t1
        "E": (D("1.0000"), D("0.5000"), False, "off_track"),  # below t1
        "F": (D("5.0000"), D("2.5000"), False, "on_target"),  # above t5
    }


def test_lower_is_better_kpi():
    # Thresholds [10, 8, 6, 4, 2], lower better.
    # a = 7: k = 2 (t2 = 8 ≥ 7 > t3 = 6), s = 2 + (8 − 7)/(8 − 6) = 2.5.
    # a = 2 = t5: 5. a = 12 ≥ t1: 1. a = 3: k = 4, s = 4 + (4 − 3)/(4 − 2) = 4.5.
    t = [10, 8, 6, 4, 2]
    actuals = {"A": 7, "B": 2, "C": 12, "D": 3}
    con = built_warehouse(given([FY2548], [kpi(k, t, direction="lower", weight=D(25)) for k in actuals],
                                [sub(1, "2548-Q1", date(2005, 1, 20))], [(1, k, a) for k, a in actuals.items()]),
                          date(2005, 1, 31))
    got = {k: v[6:10] for (k, _), v in scores(con).items()}
    assert got == {
        "A": (D("2.5000"), D("0.6250"), False, "at_risk"),
        "B": (D("5.0000"), D("1.2500"), False, "on_target"),
        "C": (D("1.0000"), D("0.2500"), False, "off_track"),
        "D": (D("4.5000"), D("1.1250"), False, "on_target"),
    }


def test_score_rounds_half_away_from_zero_exactly():
    # H: [0, 10, 30, 40, 50], a = 12.469: 2 + 2.469/20 = 2.12345 → 2.1235;
    #    weighted 2.1235 × 50/100 = 1.06175 → 1.0618.
    # G: [0, 10, 12, 40, 50], a = 10.0013: 2 + 0.0013/2 = 2.00065 → 2.0007; weighted 1.00035 → 1.0004.
    con = built_warehouse(given([FY2548], [kpi("H", [0, 10, 30, 40, 50]), kpi("G", [0, 10, 12, 40, 50])],
                                [sub(1, "2548-Q1", date(2005, 1, 20))], [(1, "H", "12.469"), (1, "G", "10.0013")]),
                          date(2005, 1, 31))
    got = {k: v[6:8] for (k, _), v in scores(con).items()}
    assert got == {"H": (D("2.1235"), D("1.0618")), "G": (D("2.0007"), D("1.0004"))}


def test_sum_kpi_pro_rated_summed_over_the_fiscal_year_and_missing_without_a_value_this_quarter():
    # Sum KPI, thresholds [101, 202, 303, 404, 505] in FY 2548 (and FY 2547), weight 40. Lead values:
    # 2547-Q4 = 1000 (another fiscal year: never added), 2548-Q1 = 50, 2548-Q2 a file without K, 2548-Q3 = 70.
    pilot = {**FY2548, "start_date": date(2004, 7, 1)}
    k_row, thresholds = kpi("K", [101, 202, 303, 404, 505], weight=D(40), aggregation="sum")
    data = given([pilot], [(k_row, thresholds)],
                 [sub(1, "2547-Q4", date(2004, 10, 20)), sub(2, "2548-Q1", date(2005, 1, 20)),
                  sub(3, "2548-Q2", date(2005, 4, 20)), sub(4, "2548-Q3", date(2005, 7, 20))],
                 [(1, "K", 1000), (2, "K", 50), (3, "OTHER", 1), (4, "K", 70)])
    data["registry.kpi_thresholds"].append({**thresholds, "fiscal_year": 2547})
    con = built_warehouse(data, date(2005, 7, 31))
    got = scores(con, "period LIKE '2548-%'")
    # Q1: × 1/4 = [25.25, 50.5, 75.75, 101, 126.25]; a = 50: 1 + 24.75/25.25 = 1.980198… → 1.9802;
    #     × 40/100 = 0.79208 → 0.7921.
    assert got["K", "2548-Q1"] == (D(50), D("25.25"), D("50.5"), D("75.75"), D(101), D("126.25"),
                                   D("1.9802"), D("0.7921"), False, "off_track", 2)
    # Q2: no value this quarter although Q1 had one: missing; thresholds × 2/4 still filled; 1 and 40/100.
    assert got["K", "2548-Q2"] == (None, D("50.5"), D(101), D("151.5"), D(202), D("252.5"),
                                   D("1.0000"), D("0.4000"), True, "no_data", 3)
    # Q3: a = 50 + 70 = 120 (Q2 adds nothing); × 3/4 = [75.75, 151.5, 227.25, 303, 378.75], unrounded;
    # 1 + 44.25/75.75 = 1.584158… → 1.5842; × 40/100 = 0.63368 → 0.6337.
    assert got["K", "2548-Q3"] == (D(120), D("75.75"), D("151.5"), D("227.25"), D(303), D("378.75"),
                                   D("1.5842"), D("0.6337"), False, "off_track", 4)


def test_missing_kpi_and_composite_with_every_kpi_missing():
    # The lead's Q1 file carries budget lines only; Q2 has no file at all. Weights 60 and 40.
    con = built_warehouse(given([FY2548], [kpi("K1", [20, 30, 40, 50, 60], weight=D(60)),
                                           kpi("K2", [1, 2, 3, 4, 5], weight=D(40))],
                                [sub(1, "2548-Q1", date(2005, 1, 20))], []), date(2005, 4, 30))
    got = scores(con)
    # actual NULL, thresholds filled, score 1.0000, weighted = weight/100, missing, no_data; the lead's
    # accepted file of the period is still named (submission_id 1 in Q1, none in Q2).
    assert got["K1", "2548-Q1"] == (None, D(20), D(30), D(40), D(50), D(60), D("1.0000"), D("0.6000"), True,
                                    "no_data", 1)
    assert got["K2", "2548-Q2"] == (None, D(1), D(2), D(3), D(4), D(5), D("1.0000"), D("0.4000"), True, "no_data", None)
    assert con.execute("SELECT period, composite_score, status, kpis_reported, kpis_expected FROM marts.pilot_scores "
                       "ORDER BY period").fetchall() == [("2548-Q1", None, "no_data", 0, 2),
                                                         ("2548-Q2", None, "no_data", 0, 2)]


# --- pilot composite ---------------------------------------------------------------------------

def test_composite_counts_missing_kpis_as_one():
    # K1 (60) a = 47 → 3.7; K2 (40) missing → 1: (3.7 × 60 + 1 × 40)/100 = 2.62, at_risk, 1 of 2 reported.
    con = built_warehouse(given([FY2548], [kpi("K1", [20, 30, 40, 50, 60], weight=D(60)),
                                           kpi("K2", [20, 30, 40, 50, 60], weight=D(40))],
                                [sub(1, "2548-Q1", date(2005, 1, 20))], [(1, "K1", 47)]), date(2005, 1, 31))
    assert con.execute("SELECT composite_score, status, kpis_reported, kpis_expected FROM marts.pilot_scores"
                       ).fetchall() == [(D("2.6200"), "at_risk", 1, 2)]


def test_composite_is_rounded_once_from_the_rounded_scores():
    # Thresholds [0, 10, 20, 30, 40], weights 50/50.
    # P1: a = 20.0005 → s = 3.00005 → 3.0001; a = 20.0003 → 3.00003 → 3.0000.
    #     From rounded s: (3.0001 × 50 + 3.0000 × 50)/100 = 3.00005 → 3.0001
    #     (unrounded s would give 3.00004 → 3.0000).
    # P2: a = 20.001 twice → s = 3.0001 each; weighted 1.50005 → 1.5001 each.
    #     Composite (3.0001 × 50 × 2)/100 = 3.0001 (adding the rounded weighted scores would give 3.0002).
    t = [0, 10, 20, 30, 40]
    p2 = {**FY2548, "pilot_id": "P2"}
    con = built_warehouse(given(
        [FY2548, p2], [kpi("A", t), kpi("B", t), kpi("A", t, pilot="P2"), kpi("B", t, pilot="P2")],
        [sub(1, "2548-Q1", date(2005, 1, 20)), sub(2, "2548-Q1", date(2005, 1, 20), pilot="P2")],
        [(1, "A", "20.0005"), (1, "B", "20.0003"), (2, "A", "20.001"), (2, "B", "20.001")]), date(2005, 1, 31))
    kpi_rows = con.execute("SELECT pilot_id, kpi_code, score, weighted_score FROM marts.kpi_scores ORDER BY ALL")
    assert kpi_rows.fetchall() == [
        ("P1", "A", D("3.0001"), D("1.5001")), ("P1", "B", D("3.0000"), D("1.5000")),
        ("P2", "A", D("3.0001"), D("1.5001")), ("P2", "B", D("3.0001"), D("1.5001"))]
    assert con.execute("SELECT pilot_id, composite_score, status FROM marts.pilot_scores ORDER BY ALL").fetchall() == [
        ("P1", D("3.0001"), "on_target"), ("P2", D("3.0001"), "on_target")]


def test_only_due_periods_and_only_the_lead_accepted_values():
    # As of 30 Apr 2005, Q3 has not ended: the lead's early Q3 report yields no row yet. In Q1 the
    # lead's superseded file and a secondary's file do not count; the accepted lead file (a = 35 → 2.5) does.
    con = built_warehouse(given([FY2548], [kpi("K1", [20, 30, 40, 50, 60], weight=D(100))],
                                [sub(1, "2548-Q1", date(2005, 1, 10), status="superseded"),
                                 sub(2, "2548-Q1", date(2005, 1, 20)),
                                 sub(3, "2548-Q1", date(2005, 1, 20), agency="15001"),
                                 sub(4, "2548-Q3", date(2005, 4, 25))],
                                [(1, "K1", 59), (2, "K1", 35), (3, "K1", 60), (4, "K1", 60)]), date(2005, 4, 30))
    got = scores(con)
    assert sorted(got) == [("K1", "2548-Q1"), ("K1", "2548-Q2")]
    assert got["K1", "2548-Q1"][0] == D(35)
    assert got["K1", "2548-Q1"][6:] == (D("2.5000"), D("2.5000"), False, "at_risk", 2)
    periods = con.execute("SELECT period FROM marts.pilot_scores ORDER BY 1").fetchall()
    assert periods == [("2548-Q1",), ("2548-Q2",)]


def test_build_runs_inside_the_callers_transaction():
    from kpis.build import build_marts

    con = connect(":memory:")
    con.execute("BEGIN TRANSACTION")
    build_marts(con, date(2005, 1, 31))
    con.execute("ROLLBACK")  # nothing committed behind the caller's back
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'").fetchone()[0] == 0
