"""The marts against an independent oracle computed from the spec (tests/oracle/).

tests/oracle/reference.py recomputes every mart the spec defines (KPI and pilot scores, budget
integration and its by-layer view, reporting compliance, reminders, outlier flags) and the helpers
they are built from (due periods, the budget lines in effect, every outlier test) from the
warehouse's accepted lines and the registry, with Python's decimal module and without kpis/; here
the real marts must equal it cell for cell, with each restricted pilot's line-level rows in the
restricted store alone:
- after the README's demo;
- after each job of tests/oracle/story.py: four nights of a generated 6-pilot workload with the
  committee's close, approve, reject and reopen between them, a pilot moved to restricted and
  a night of registry changes, then rebuilds as of the days where dueness and reminder levels turn.
A few figures of the story are also checked by hand, so that the oracle is itself anchored to
the spec; and a mart altered by one unit in the last place is caught.
"""
from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest

from pilots import demo
from tests.oracle import story
from tests.oracle.compare import differences


@pytest.fixture(scope="module")
def story_run(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("oracle-story")
    found = {label: differences(root / "w.duckdb", as_of) for label, as_of in story.checkpoints(root)}
    return root, found


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_demo_marts_equal_the_oracle(demo_run):
    folder, _ = demo_run
    assert differences(folder / "warehouse.duckdb", demo.AS_OF) == []


def test_every_job_of_the_story_leaves_marts_equal_to_the_oracle(story_run):
    _, found = story_run
    assert list(found) == ["night 1", "closed", "night 2", "approved", "rejected", "reopened", "night 3",
                           "night 4", "reprocessed",
                           *(f"rebuilt as of {d}" for d in story.REBUILDS)]
    assert found == {label: [] for label in found}


def test_the_story_reaches_the_cases_it_is_about(story_run):
    """Hand-computed from the spec, so that agreement above is agreement on the right figures."""
    root, _ = story_run
    open_, restricted = root / "w.duckdb", root / "w.restricted.duckdb"
    # PLT-2548-006's lead restated K2 (sum; outliers use the quarter's own value) as 3, 3, 3, 4
    # for 2548-Q1..Q4 and 6 for 2549-Q1: m = 3, MAD = median(0, 0, 0, 1) = 0, mean absolute
    # deviation 0.25, z = (6 - 3) / (1.253314 × 0.25) = 9.57464... -> 9.5746 (data-quality.md §1).
    # K1 (last) was 50 four times, then 60: flat history, x ≠ m -> changed_after_flat, z empty.
    assert query(open_, "SELECT kpi_code, history_n, history_median, history_mad, z_basis, modified_z, rule "
                        "FROM marts.kpi_outliers WHERE pilot_id = 'PLT-2548-006' AND period = '2549-Q1' "
                        "ORDER BY kpi_code") == [
        ("K1", 4, D("50"), D("0"), "flat", None, "changed_after_flat"),
        ("K2", 4, D("3"), D("0"), "mean_ad", D("9.5746"), "modified_z")]
    # Every test of K1, flagged or not (marts.kpi_outlier_checks): fewer than 4 earlier values,
    # no test; in 2549-Q1 H = 50 x 4 (from 2548-Q1), flat.
    assert query(open_, "SELECT period, actual, history_n, history_from, history_median, z_basis, rule "
                        "FROM marts.kpi_outlier_checks WHERE pilot_id = 'PLT-2548-006' AND kpi_code = 'K1' "
                        "AND period <= '2549-Q1' ORDER BY period") == [
        ("2548-Q1", D(50), 0, None, None, None, None), ("2548-Q2", D(50), 1, "2548-Q1", None, None, None),
        ("2548-Q3", D(50), 2, "2548-Q1", None, None, None), ("2548-Q4", D(50), 3, "2548-Q1", None, None, None),
        ("2549-Q1", D(60), 4, "2548-Q1", D(50), "flat", "changed_after_flat")]
    # PLT-2548-006 runs 2004-11-15 .. 2006-05-20: 2548-Q1 (Oct-Dec 2004) and 2549-Q3 (Apr-Jun
    # 2006) overlap it, so 2548-Q1..2549-Q3 are due: 7 periods.
    assert query(open_, "SELECT count(*), min(period), max(period) FROM marts.pilot_scores "
                        "WHERE pilot_id = 'PLT-2548-006'") == [(7, "2548-Q1", "2549-Q3")]
    # PLT-2548-002's lead replaced its 2548-Q4 report with budget lines only: every KPI missing,
    # composite empty, no_data; each of the five KPIs (weight 20) scores 1, weighted 0.2000.
    assert query(open_, "SELECT composite_score, status, kpis_reported, kpis_expected FROM marts.pilot_scores "
                        "WHERE pilot_id = 'PLT-2548-002' AND period = '2548-Q4'") == [(None, "no_data", 0, 5)]
    assert query(open_, "SELECT DISTINCT actual, score, weighted_score, is_missing, status FROM marts.kpi_scores "
                        "WHERE pilot_id = 'PLT-2548-002' AND period = '2548-Q4'") == [
        (None, D("1.0000"), D("0.2000"), True, "no_data")]
    # PLT-2548-001's 2549 K1 thresholds fell by 10% after 2549-Q2 was closed: changed since closing.
    assert query(open_, "SELECT closed, changed_since_closing FROM marts.pilot_scores "
                        "WHERE pilot_id = 'PLT-2548-001' AND period = '2549-Q2'") == [(True, True)]
    # PLT-2548-004's held correction of 2549-Q2 was rejected: it still counts as a version.
    assert query(open_, "SELECT versions FROM marts.reporting_compliance WHERE pilot_id = 'PLT-2548-004' "
                        "AND period = '2549-Q2' AND agency_code = '06001'") == [(2,)]
    # Rebuilt last as of 2006-09-13: PLT-2548-003 (report_due_days 45) still lacks its first
    # supporting agency's 2549-Q3 report, due 2006-06-30 + 45 = 2006-08-14: 30 days overdue, level
    # 2; PLT-2548-004's secondary never sent 2549-Q2, due 2006-04-30: 136 days, level 3.
    assert query(open_, "SELECT pilot_id, period, due_date, days_overdue, level, reason FROM marts.reminders "
                        "WHERE pilot_id <> 'PLT-2548-001' ORDER BY pilot_id") == [
        ("PLT-2548-003", "2549-Q3", date(2006, 8, 14), 30, 2, "missing"),
        ("PLT-2548-004", "2549-Q2", date(2006, 4, 30), 136, 3, "missing")]
    # PLT-2548-001's new supporting agency: its 2549-Q3 file, quarantined before it joined, was
    # reprocessed and accepted (the original stays quarantined and counts); its six earlier
    # quarters are missing, 2548-Q1 due 2005-01-30 is 591 days overdue on 2006-09-13.
    assert query(open_, "SELECT period, submitted, versions, quarantined FROM marts.reporting_compliance "
                        "WHERE pilot_id = 'PLT-2548-001' AND role = 'supporting' AND agency_code NOT IN "
                        "(SELECT agency_code FROM marts.reporting_compliance WHERE pilot_id = 'PLT-2548-001' "
                        "AND period = '2548-Q1' AND submitted) ORDER BY period DESC LIMIT 2") == [
        ("2549-Q3", True, 1, 1), ("2549-Q2", False, 0, 0)]
    assert query(open_, "SELECT count(*), max(days_overdue) FROM marts.reminders WHERE pilot_id = 'PLT-2548-001'") == [
        (6, 591)]
    # A quarantined file whose second row says 2549-Q2 counts for its first row's 2549-Q3.
    assert query(open_, "SELECT period, quarantined FROM marts.reporting_compliance WHERE pilot_id = 'PLT-2548-005' "
                        "AND quarantined > 0 AND period = '2549-Q3'") == [("2549-Q3", 1)]
    # PLT-2548-003, moved to restricted, keeps its due periods open (they say which quarters can be
    # closed): 2549-Q3 runs 2006-04-01 .. 2006-06-30, due 45 days later.
    assert query(open_, "SELECT fiscal_year, quarter, period_start, period_end, due_date FROM marts.due_periods "
                        "WHERE pilot_id = 'PLT-2548-003' AND period = '2549-Q3'") == [
        (2549, 3, date(2006, 4, 1), date(2006, 6, 30), date(2006, 8, 14))]
    # PLT-2548-003 moved to restricted: its KPI scores are in the restricted store only.
    assert query(open_, "SELECT count(*) FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-003'") == [(0,)]
    assert query(restricted, "SELECT count(*) FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-003'") == [(28,)]


@pytest.mark.parametrize("mart, change", [
    ("kpi_scores", "UPDATE marts.kpi_scores SET score = score + 0.0001 WHERE pilot_id = 'PLT-2548-005' "
                   "AND kpi_code = 'K1' AND period = '2549-Q3'"),
    ("budget_integration", "UPDATE marts.budget_integration SET overlapping_activities = overlapping_activities + 1 "
                           "WHERE pilot_id = 'PLT-2548-001' AND period = '2548-Q1'"),
    ("reporting_compliance", "DELETE FROM marts.reporting_compliance WHERE pilot_id = 'PLT-2548-002' "
                             "AND period = '2548-Q1' AND role = 'lead'"),
    # The helpers the marts above are built from, row by row: a due date a day late (of a pilot
    # moved to restricted: its due periods stay open), one line in effect a satang off, and a
    # value tested without enough history (no flag) given a history it does not have.
    ("due_periods", "UPDATE marts.due_periods SET due_date = due_date + 1 WHERE pilot_id = 'PLT-2548-003' "
                    "AND period = '2549-Q3'"),
    ("budget_snapshot", "UPDATE marts.budget_snapshot SET disbursed_thb = disbursed_thb + 0.01 WHERE rowid = "
                        "(SELECT min(rowid) FROM marts.budget_snapshot WHERE pilot_id = 'PLT-2548-001')"),
    ("kpi_outlier_checks", "UPDATE marts.kpi_outlier_checks SET history_from = '2547-Q4' WHERE "
                           "pilot_id = 'PLT-2548-006' AND kpi_code = 'K1' AND period = '2548-Q1'"),
])
def test_the_oracle_catches_a_mart_off_by_one_unit(story_run, tmp_path, mart, change):
    root, _ = story_run
    for name in ("w.duckdb", "w.restricted.duckdb"):
        shutil.copy(root / name, tmp_path / name)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        con.execute(change)
    finally:
        con.close()
    found = differences(tmp_path / "w.duckdb", story.REBUILDS[-1])
    assert len(found) == 1 and found[0].startswith(mart), found
