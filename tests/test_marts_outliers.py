"""marts.kpi_outliers and marts.kpi_outlier_checks against data-quality.md §1; every figure worked
out by hand (0.6745 and 1.253314 are the spec's constants)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
import kpis.build
from kpis.build import build_marts
from kpis.cases import built_warehouse, load_given
from kpis.explain import explain
from kpis.outliers import outlier_test
from warehouse.db import connect

LEAD = "03009"
# FY 2547 Q1 (Oct 2003) to FY 2549 Q4 (Sep 2006): twelve periods across three fiscal years.
PILOT = {"pilot_id": "P1", "start_date": date(2003, 10, 1), "end_date": date(2006, 9, 30), "lead_agency_code": LEAD}
PERIODS = [f"{fy}-Q{q}" for fy in (2547, 2548, 2549) for q in (1, 2, 3, 4)]


def period_end(period: str) -> date:
    fy, q = int(period[:4]), int(period[-1])
    ce = fy - 543
    return {1: date(ce - 1, 12, 31), 2: date(ce, 3, 31), 3: date(ce, 6, 30), 4: date(ce, 9, 30)}[q]


def warehouse(series: dict[str, dict[str, object]], as_of: date, *, aggregation: dict[str, str] | None = None,
              extra_submissions=(), extra_actuals=(), build: bool = True):
    """The lead's accepted report per period (submission id = the period's index + 1) carrying
    series[kpi][period]; built as of `as_of` unless build=False."""
    aggregation = aggregation or {}
    periods = sorted({p for values in series.values() for p in values}, key=PERIODS.index)
    subs = [{"submission_id": PERIODS.index(p) + 1, "pilot_id": "P1", "agency_code": LEAD, "period": p,
             "submitted_on": period_end(p), "status": "accepted"} for p in periods]
    actuals = [{"submission_id": PERIODS.index(p) + 1, "kpi_code": k, "actual": v}
               for k, values in series.items() for p, v in values.items()]
    given = {
        "registry.pilots": [PILOT],
        "registry.kpis": [{"pilot_id": "P1", "kpi_code": k, "weight": D(10),
                           "aggregation": aggregation.get(k, "last")} for k in series],
        # Thresholds matter only to `explain`, which prints the score before the outlier check.
        "registry.kpi_thresholds": [{"pilot_id": "P1", "kpi_code": k, "fiscal_year": fy, "t": [0, 10, 20, 30, 40]}
                                    for k in series for fy in (2547, 2548, 2549)],
        "ingest.submissions": subs + list(extra_submissions),
        "core.kpi_actuals": actuals + list(extra_actuals),
    }
    if build:
        return built_warehouse(given, as_of)
    con = connect(":memory:")
    load_given(con, given)
    return con


def values(*pairs) -> dict[str, object]:
    """{period: value} from consecutive periods starting at the first one named: values("2548-Q1", 10, 12)."""
    start = PERIODS.index(pairs[0])
    return {PERIODS[start + i]: v for i, v in enumerate(pairs[1:])}


CHECK_COLUMNS = "history_n, history_from, history_median, history_mad, z_basis, modified_z, rule"


def check(con, kpi: str, period: str) -> tuple:
    return con.execute(f"SELECT {CHECK_COLUMNS} FROM marts.kpi_outlier_checks WHERE kpi_code = ? AND period = ?",
                       [kpi, period]).fetchone()


def flags(con) -> dict[tuple[str, str], tuple]:
    rows = con.execute("SELECT kpi_code, period, actual, history_n, history_median, history_mad, modified_z, rule, "
                       "submission_id FROM marts.kpi_outliers").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


# --- the median and MAD rule --------------------------------------------------------------------

def test_exactly_four_values_even_count_and_fewer_than_four():
    # H = [10, 11, 12, 13] (even): m = (11 + 12)/2 = 11.5; |h − m| = 1.5, 0.5, 0.5, 1.5, sorted
    # 0.5, 0.5, 1.5, 1.5: MAD = (0.5 + 1.5)/2 = 1.
    # Up: x = 17: z = 0.6745 × 5.5 / 1 = 3.70975 → 3.7098 > 3.5: modified_z.
    # Down (a negative z): x = 5: z = 0.6745 × (−6.5) / 1 = −4.38425 → −4.3843, |z| > 3.5: modified_z.
    # Three: H = [10, 11, 12] only, x = 1000: fewer than 4 values, no flag and no test.
    con = warehouse({"Up": values("2548-Q1", 10, 11, 12, 13, 17),
                     "Down": values("2548-Q1", 10, 11, 12, 13, 5),
                     "Three": values("2548-Q2", 10, 11, 12, 1000)}, date(2005, 12, 31))
    assert flags(con) == {
        ("Up", "2549-Q1"): (D(17), 4, D("11.5"), D(1), D("3.7098"), "modified_z", 9),
        ("Down", "2549-Q1"): (D(5), 4, D("11.5"), D(1), D("-4.3843"), "modified_z", 9),
    }
    assert check(con, "Three", "2549-Q1") == (3, "2548-Q2", None, None, None, None, None)
    assert check(con, "Up", "2548-Q4") == (3, "2548-Q1", None, None, None, None, None)


def test_odd_count():
    # H = [10, 12, 11, 13, 9] sorted 9, 10, 11, 12, 13: m = 11; |h − m| sorted 0, 1, 1, 2, 2: MAD = 1.
    # x = 20: z = 0.6745 × 9 / 1 = 6.0705: modified_z. x = 13: z = 0.6745 × 2 = 1.349: no flag.
    # x = 28.9: z = 0.6745 × 17.9 = 12.07355, half way: 12.0736 (binary floating point gives 12.0735).
    con = warehouse({"K": values("2548-Q1", 10, 12, 11, 13, 9, 20),
                     "Calm": values("2548-Q1", 10, 12, 11, 13, 9, 13),
                     "Half": values("2548-Q1", 10, 12, 11, 13, 9, "28.9")}, date(2006, 3, 31))
    assert flags(con) == {("K", "2549-Q2"): (D(20), 5, D(11), D(1), D("6.0705"), "modified_z", 10),
                          ("Half", "2549-Q2"): (D("28.9"), 5, D(11), D(1), D("12.0736"), "modified_z", 10)}
    assert check(con, "Calm", "2549-Q2") == (5, "2548-Q1", D(11), D(1), "mad", D("1.3490"), None)


def test_z_just_above_and_just_below_three_and_a_half_compares_the_unrounded_z():
    # H = [10, 10.6745, 11.349, 12.0235] (steps of 0.6745): m = (10.6745 + 11.349)/2 = 11.01175;
    # |h − m| = 1.01175, 0.33725, 0.33725, 1.01175: MAD = (0.33725 + 1.01175)/2 = 0.6745,
    # so z = 0.6745 × (x − m) / 0.6745 = x − 11.01175.
    #   x = 14.51175      → z = 3.5 exactly: not above 3.5, no flag;
    #   x = 14.5117500001 → z = 3.5000000001 > 3.5: flagged, stored rounded as 3.5000;
    #   x = 14.5117499999 → z = 3.4999999999: no flag, stored rounded as 3.5000 too;
    #   x = 7.5117499999  → z = −3.5000000001: flagged, −3.5000.
    history = [D("10"), D("10.6745"), D("11.349"), D("12.0235")]
    xs = {"Exact": "14.51175", "Above": "14.5117500001", "Below": "14.5117499999", "Neg": "7.5117499999"}
    con = warehouse({k: values("2548-Q1", *history, x) for k, x in xs.items()}, date(2005, 12, 31))
    assert {k: check(con, k, "2549-Q1")[2:] for k in xs} == {
        "Exact": (D("11.01175"), D("0.6745"), "mad", D("3.5000"), None),
        "Above": (D("11.01175"), D("0.6745"), "mad", D("3.5000"), "modified_z"),
        "Below": (D("11.01175"), D("0.6745"), "mad", D("3.5000"), None),
        "Neg": (D("11.01175"), D("0.6745"), "mad", D("-3.5000"), "modified_z"),
    }
    assert sorted(flags(con)) == [("Above", "2549-Q1"), ("Neg", "2549-Q1")]


# --- MAD = 0: the MeanAD fallback and the flat-history rule -------------------------------------

def test_mean_ad_fallback_when_mad_is_zero():
    # Four: H = [5, 5, 5, 9]: m = (5 + 5)/2 = 5, |h − m| = 0, 0, 0, 4: MAD = (0 + 0)/2 = 0, MeanAD = 4/4 = 1.
    #   x = 10: z = 5 / (1.253314 × 1) = 3.98942… → 3.9894 > 3.5: modified_z.
    #   x = 9:  z = 4 / 1.253314 = 3.19154… → 3.1915: no flag.
    # Seven (odd, MeanAD not a finite decimal): H = [5, 5, 5, 5, 5, 5, 8]: m = 5, MAD = 0,
    #   MeanAD = 3/7; x = 7: z = 2 / (1.253314 × 3/7) = 14 / 3.759942 = 3.72346… → 3.7235: modified_z.
    con = warehouse({"Four": values("2548-Q1", 5, 5, 5, 9, 10),
                     "FourCalm": values("2548-Q1", 5, 5, 5, 9, 9),
                     "Seven": values("2547-Q2", 5, 5, 5, 5, 5, 5, 8, 7)}, date(2005, 12, 31))
    assert check(con, "Four", "2549-Q1") == (4, "2548-Q1", D(5), D(0), "mean_ad", D("3.9894"), "modified_z")
    assert check(con, "FourCalm", "2549-Q1") == (4, "2548-Q1", D(5), D(0), "mean_ad", D("3.1915"), None)
    assert check(con, "Seven", "2549-Q1") == (7, "2547-Q2", D(5), D(0), "mean_ad", D("3.7235"), "modified_z")


def test_flat_history():
    # H = [7, 7, 7, 7]: m = 7, MAD = 0 and MeanAD = 0: z is empty.
    # x = 7 = m: no flag. x = 7.0000000001 ≠ 7: changed_after_flat (however small the change).
    # x = 3 after [0, 0, 0, 0, 0]: changed_after_flat too (downwards, from zero).
    con = warehouse({"Same": values("2548-Q1", 7, 7, 7, 7, 7),
                     "Moved": values("2548-Q1", 7, 7, 7, 7, "7.0000000001"),
                     "Zero": values("2547-Q4", 0, 0, 0, 0, 0, 3)}, date(2005, 12, 31))
    assert check(con, "Same", "2549-Q1") == (4, "2548-Q1", D(7), D(0), "flat", None, None)
    assert flags(con) == {
        ("Moved", "2549-Q1"): (D("7.0000000001"), 4, D(7), D(0), None, "changed_after_flat", 9),
        ("Zero", "2549-Q1"): (D(3), 5, D(0), D(0), None, "changed_after_flat", 9),
    }


# --- which values make the history -------------------------------------------------------------

def test_history_is_the_most_recent_eight_across_fiscal_years():
    # 2547-Q1, Q2 = 1000 are the 10th and 9th values back: left out. H = 2547-Q3 … 2549-Q2 =
    # [10, 11, 12, 13, 14, 15, 16, 17] over FY 2547, 2548 and 2549: m = (13 + 14)/2 = 13.5;
    # |h − m| sorted 0.5, 0.5, 1.5, 1.5, 2.5, 2.5, 3.5, 3.5: MAD = (1.5 + 2.5)/2 = 2.
    # x (2549-Q3) = 25: z = 0.6745 × 11.5 / 2 = 3.878375 → 3.8784: modified_z.
    # (With the two 1000s, m would be 14.5 and z = 0.6745 × 10.5 / 2.5 = 2.8329: no flag.)
    con = warehouse({"K": values("2547-Q1", 1000, 1000, 10, 11, 12, 13, 14, 15, 16, 17, 25)}, date(2006, 6, 30))
    assert check(con, "K", "2549-Q3") == (8, "2547-Q3", D("13.5"), D(2), "mad", D("3.8784"), "modified_z")
    assert flags(con)["K", "2549-Q3"][:2] == (D(25), 8)


def test_sum_kpi_uses_the_raw_quarterly_values():
    # A `sum` KPI reports 10, 12, 11, 13 (FY 2548), 12, 30 (FY 2549 Q1, Q2). Raw quarterly values:
    # 2549-Q2: H = [10, 12, 11, 13, 12] sorted 10, 11, 12, 12, 13: m = 12; |h − m| sorted 0, 0, 1, 1, 2:
    # MAD = 1; x = 30 (not the year to date 12 + 30 = 42): z = 0.6745 × 18 = 12.141: modified_z.
    # 2549-Q1: H = [10, 12, 11, 13]: m = 11.5, MAD = 1; x = 12: z = 0.6745 × 0.5 = 0.33725 → 0.3373.
    # (Year-to-date values would give H = [10, 22, 33, 46] and a median of 27.5.)
    con = warehouse({"S": values("2548-Q1", 10, 12, 11, 13, 12, 30)}, date(2006, 3, 31), aggregation={"S": "sum"})
    assert flags(con) == {("S", "2549-Q2"): (D(30), 5, D(12), D(1), D("12.1410"), "modified_z", 10)}
    assert check(con, "S", "2549-Q1") == (4, "2548-Q1", D("11.5"), D(1), "mad", D("0.3373"), None)
    # The score still takes the year to date: 12 + 30 = 42.
    assert con.execute("SELECT actual FROM marts.kpi_scores WHERE kpi_code = 'S' AND period = '2549-Q2'"
                       ).fetchone() == (D(42),)


def test_only_the_leads_accepted_values_count_and_only_due_periods_are_flagged():
    # The lead's accepted values 10, 11, 12, 13 (2548-Q1 … Q4). Left out of H for 2549-Q1: the lead's
    # superseded 2548-Q2 file (900), a secondary agency's 2548-Q3 file (800) and a blank 2547-Q4 value
    # (submission 4 carries K without a value). H = [10, 11, 12, 13]: m = 11.5, MAD = 1;
    # x = 17: 0.6745 × 5.5 = 3.70975 → 3.7098: modified_z.
    # As of 31 Mar 2006 2549-Q3 has not ended: the lead's early report there (99) is not in the mart.
    # It is tested (due false: the night's validation report lists it): H = [10, 11, 12, 13, 17],
    # m = 12, deviations 0, 1, 1, 2, 5, MAD = 1, z = 0.6745 × 87 = 58.6815.
    # (Counting the blank as 0 would give H = [0, 10, 11, 12, 13], m = 11, MAD = 1, z = 4.0470.)
    extra_subs = [
        {"submission_id": 50, "pilot_id": "P1", "agency_code": LEAD, "period": "2548-Q2",
         "submitted_on": date(2005, 4, 1), "status": "superseded"},
        {"submission_id": 51, "pilot_id": "P1", "agency_code": "15001", "period": "2548-Q3",
         "submitted_on": date(2005, 7, 1), "status": "accepted"},
    ]
    con = warehouse({"K": {**values("2548-Q1", 10, 11, 12, 13, 17), "2547-Q4": None, "2549-Q3": 99}},
                    date(2006, 3, 31), extra_submissions=extra_subs,
                    extra_actuals=[{"submission_id": 50, "kpi_code": "K", "actual": 900},
                                   {"submission_id": 51, "kpi_code": "K", "actual": 800}])
    assert flags(con) == {("K", "2549-Q1"): (D(17), 4, D("11.5"), D(1), D("3.7098"), "modified_z", 9)}
    assert con.execute("SELECT period, modified_z, rule, due FROM marts.kpi_outlier_checks "
                       "WHERE period IN ('2547-Q4', '2549-Q3')").fetchall() == [
        ("2549-Q3", D("58.6815"), "modified_z", False)]


# --- pilotkpi explain ---------------------------------------------------------------------------

def test_explain_a_flagged_value_shows_history_median_mad_z_and_rule():
    # The odd-count case: H = 2548-Q1 … 2549-Q1 = [10, 12, 11, 13, 9] (submissions 5 … 9, each the
    # K line on row 1 … 5 of the loaded rows), m = 11, |h − m| sorted 0, 1, 1, 2, 2, MAD = 1,
    # z = 0.6745 × (20 − 11) / 1 = 6.0705.
    con = warehouse({"K": values("2548-Q1", 10, 12, 11, 13, 9, 20)}, date(2006, 3, 31))
    out = explain(con, "P1", "K", "2549-Q2")
    assert "outlier check (data-quality.md §1): flagged, rule modified_z\n  x = 20\n" in out
    assert "  history H: 5 earlier values (the most recent 8 at most), 2548-Q1 onwards:\n" in out
    assert "    2548-Q1: 10 from 5.csv row 1 (submission 5)\n" in out
    assert "    2549-Q1: 9 from 9.csv row 5 (submission 9)\n" in out
    assert "  m = median(H) = 11\n  MAD = median(|h − m|) = median of 0, 1, 1, 2, 2 = 1\n" in out
    assert "  z = 0.6745 × (x − m) / MAD = 0.6745 × (20 − 11) / 1 = 6.0705 (rounded" in out
    assert "  |z| > 3.5 (compared before rounding): the lead agency is asked to confirm the figure\n" in out

    # 2549-Q1: H = [10, 12, 11, 13], m = 11.5, MAD = 1, z = 0.6745 × (9 − 11.5) = −1.68625 → −1.6863.
    out = explain(con, "P1", "K", "2549-Q1")
    assert "outlier check (data-quality.md §1): not flagged\n" in out
    assert "median of 0.5, 0.5, 1.5, 1.5 = 1\n" in out
    assert "0.6745 × (9 − 11.5) / 1 = -1.6863 (rounded" in out and "  |z| ≤ 3.5 (compared before rounding): no flag" in out
    # 2548-Q4: three earlier values.
    assert "outlier check: 3 earlier value(s) in the history, fewer than 4: no flag\n" in explain(con, "P1", "K", "2548-Q4")


def test_explain_mean_ad_flat_and_sum_kpi():
    # Seven: H = [5, 5, 5, 5, 5, 5, 8], m = 5, MAD = 0, MeanAD = 3/7 = 0.428571…; z = 2 / (1.253314 × 3/7) → 3.7235.
    # Flat: H = [7, 7, 7, 7], x = 8. S (sum KPI): 2549-Q2's own value 30, H = [10, 12, 11, 13, 12], m = 12,
    # MAD = 1, z = 0.6745 × 18 = 12.141; its score uses 12 + 30 = 42.
    con = warehouse({"Seven": values("2547-Q2", 5, 5, 5, 5, 5, 5, 8, 7, 7),
                     "Flat": values("2548-Q1", 7, 7, 7, 7, 8, 7),
                     "S": values("2548-Q1", 10, 12, 11, 13, 12, 30)}, date(2006, 3, 31), aggregation={"S": "sum"})
    out = explain(con, "P1", "Seven", "2549-Q1")
    assert "flagged, rule modified_z" in out and "median of 0, 0, 0, 0, 0, 0, 3 = 0\n" in out
    assert "  MAD = 0, so MeanAD = mean(|h − m|) = 3 / 7 ≈ 0.428571\n" in out
    assert "  z = (x − m) / (1.253314 × MeanAD) = (7 − 5) / (1.253314 × MeanAD) = 3.7235 (rounded" in out

    out = explain(con, "P1", "Flat", "2549-Q1")
    assert "flagged, rule changed_after_flat" in out
    assert "  all of H equal (MAD = 0 and MeanAD = 0): z is empty\n" in out
    assert "  x = 8 ≠ m = 7 after a flat history: the lead agency is asked to confirm the figure" in out

    out = explain(con, "P1", "S", "2549-Q2")
    assert "actual: 42 = sum of quarters 1..2 of FY2006 (BE 2549):" in out
    assert "flagged, rule modified_z\n  x = 30 (the quarter's own value, not the year to date)\n" in out
    assert "0.6745 × (30 − 12) / 1 = 12.1410 (rounded" in out


def test_explain_command_on_a_warehouse_file(tmp_path):
    # Through `pilotkpi explain`: the Four case, H = [5, 5, 5, 9], m = 5, MAD = 0, MeanAD = 4/4 = 1,
    # z = (10 − 5) / 1.253314 = 3.98942… → 3.9894.
    path = tmp_path / "wh.published.duckdb"  # explain reads the analysts' published copy
    con = connect(path)
    load_given(con, {
        "registry.pilots": [PILOT],
        "registry.kpis": [{"pilot_id": "P1", "kpi_code": "M", "weight": 100}],
        "registry.kpi_thresholds": [{"pilot_id": "P1", "kpi_code": "M", "fiscal_year": 2549, "t": [0, 10, 20, 30, 40]}],
        "ingest.submissions": [{"submission_id": i, "pilot_id": "P1", "agency_code": LEAD, "period": p,
                                "submitted_on": period_end(p)} for i, p in enumerate(PERIODS[4:9], start=1)],
        "core.kpi_actuals": [{"submission_id": i, "kpi_code": "M", "actual": v}
                             for i, v in enumerate([5, 5, 5, 9, 10], start=1)],
    })
    build_marts(con, date(2005, 12, 31))
    con.close()
    result = CliRunner().invoke(main, ["explain", "P1", "M", "2549-Q1", "--warehouse", str(path)])
    assert result.exit_code == 0, result.output
    assert "  MAD = 0, so MeanAD = mean(|h − m|) = 4 / 4 = 1\n" in result.output
    assert "  z = (x − m) / (1.253314 × MeanAD) = (10 − 5) / (1.253314 × MeanAD) = 3.9894 (rounded" in result.output

    # A warehouse made before outlier flags (no marts.kpi_outlier_checks) still explains the score.
    con = connect(path)
    con.execute("DROP TABLE marts.kpi_outliers")
    con.execute("DROP TABLE marts.kpi_outlier_checks")
    con.close()
    result = CliRunner().invoke(main, ["explain", "P1", "M", "2549-Q1", "--warehouse", str(path)])
    assert result.exit_code == 0, result.output
    assert "score: 2.0000" in result.output  # a = 10 = t2 of [0, 10, 20, 30, 40]
    assert "outlier check: not in this warehouse" in result.output


def test_explain_escapes_control_characters_in_file_names():
    con = warehouse({"K": values("2548-Q1", 10, 12, 11, 13, 9, 20)}, date(2006, 3, 31))
    con.execute("UPDATE ingest.submissions SET file_name = 'q1\x1b[2J.csv' WHERE submission_id = 5")
    out = explain(con, "P1", "K", "2549-Q2")
    assert "2548-Q1: 10 from q1\\u001b[2J.csv row 1" in out and "\x1b" not in out.split("outlier check")[1]


def test_values_beyond_decimal_38_are_tested_exactly_and_never_stop_the_build():
    # Typo: H = [10, 11, 12, 13], m = 11.5, MAD = 1; x = 10^20 (an agency's slip):
    #   z = 0.6745 × (10^20 − 11.5) = 67450000000000000000 − 7.75675 = 67449999999999999992.24325
    #   → 67449999999999999992.2433 (6745 × (x − m) at scale 12 alone overflows a 38-digit DECIMAL).
    con = warehouse({"Typo": values("2548-Q1", 10, 11, 12, 13, str(10 ** 20))}, date(2005, 12, 31))
    assert flags(con) == {
        ("Typo", "2549-Q1"): (D(10 ** 20), 4, D("11.5"), D(1), D("67449999999999999992.2433"), "modified_z", 9)}
    assert "0.6745 × (100000000000000000000 − 11.5) / 1 = 67449999999999999992.2433 (rounded" in \
        explain(con, "P1", "Typo", "2549-Q1")


def test_the_test_itself_at_the_edge_of_decimal_38_10():
    # H = [9·10^27, 9·10^27, 9·10^27, 9·10^27 + 1] (about the largest DECIMAL(38,10) values): m = 9·10^27,
    # |h − m| = 0, 0, 0, 1, MAD = 0, MeanAD = 1/4; x = 9·10^27 + 5: z = 5 / (1.253314 / 4) = 15.95769… → 15.9577.
    # m does not fit the stored DECIMAL(38,12) (below 10^26): NULL, and the flag is still decided.
    # (marts.kpi_scores cannot yet take such values; this calls the mart's function directly.)
    big = 9 * 10 ** 27
    assert outlier_test(D(big + 5), [D(big)] * 3 + [D(big + 1)]) == {
        "history_median": None, "history_mad": D(0), "z_basis": "mean_ad", "modified_z": D("15.9577"),
        "rule": "modified_z"}
    # Fewer than 4 values: nothing computed. A z beyond DECIMAL(38,4) (H = [0, 0, 0, 10^-10], x = 10^27:
    # z = 10^27 / (1.253314 × 2.5·10^-11) ≈ 3.2·10^37) is stored NULL, still flagged.
    assert outlier_test(D(5), [D(1), D(2), D(3)])["z_basis"] is None
    tiny = D("0.0000000001")
    assert outlier_test(D(10 ** 27), [D(0)] * 3 + [tiny])["modified_z"] is None
    assert outlier_test(D(10 ** 27), [D(0)] * 3 + [tiny])["rule"] == "modified_z"


# --- the Python function behind the SQL ---------------------------------------------------------

def test_a_build_after_a_failed_build_on_the_same_connection(monkeypatch):
    # The connection's first build fails (the last mart's SQL is broken) and its caller rolls back;
    # the same connection then builds, with the flag of test_odd_count (z = 6.0705). DuckDB cannot
    # register a function name again after a rolled-back registration, hence kpis.outliers'
    # name per build.
    con = warehouse({"K": values("2548-Q1", 10, 12, 11, 13, 9, 20)}, date(2006, 3, 31), build=False)
    real_read_sql = kpis.build.read_sql
    monkeypatch.setattr(kpis.build, "read_sql", lambda name: "select broken" if name == "kpi_outliers"
                        else real_read_sql(name))
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.BinderException):
        build_marts(con, date(2006, 3, 31))
    con.execute("ROLLBACK")
    monkeypatch.setattr(kpis.build, "read_sql", real_read_sql)
    for _ in range(2):  # and again, as `pilotkpi rebuild` after a run in one process would
        con.execute("BEGIN TRANSACTION")
        build_marts(con, date(2006, 3, 31))
        con.execute("COMMIT")
    assert con.execute("SELECT modified_z, rule FROM marts.kpi_outliers").fetchall() == [(D("6.0705"), "modified_z")]
