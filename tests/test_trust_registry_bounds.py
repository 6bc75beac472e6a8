"""A registry the check accepts never fails a night: values beyond what the marts compute with
are refused by the registry check (exit 4, the pilot and KPI named, the warehouse unchanged).

A verifier found (2026-12-07) that a threshold between 10^26 and 10^28 ("Overflow in
multiplication of DECIMAL(38)"), thresholds more than 8.5 x 10^21 apart with an actual between
them (INT128 overflow in marts.round4_div), or a report_due_days past 2^31 ("Date out of range")
passed the check and failed every later night with a DuckDB message naming no pilot or KPI.

The registry is tests/test_flow.py's: K2 count/higher/sum, thresholds 2548 [100..500].
"""
from __future__ import annotations

from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def test_a_threshold_or_due_period_the_marts_cannot_compute_with_is_refused_by_the_registry_check(
        tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    pilot = registry / "pilots" / f"{P}.yaml"
    good = pilot.read_text(encoding="utf-8")
    (inbox / "a_q1.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                          f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    wh = tmp_path / "wh.duckdb"
    before = query(wh, "SELECT count(*), max(run_id) FROM ops.runs")

    for edit, message in (
            (("[100, 200, 300, 400, 500]", "[0, 100000000000000000000000, 200000000000000000000000, "
              "300000000000000000000000, 400000000000000000000000]"),
             "thresholds for 2548 must be below 10^20 in absolute value"),
            (("end: 2005-09-30", "end: 2005-09-30\nreport_due_days: 2147483647"),
             "report_due_days must be at most 3650 (ten years)")):
        pilot.write_text(good.replace(*edit), encoding="utf-8")
        (inbox / "b_q2.csv").write_bytes(_csv(f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,50,,,,",
                                              f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,40000000000000000000000,,,,"))
        code, out = run_cli(registry, inbox, tmp_path)
        assert code == 4, out
        assert message in out and P in out, out
        # Refused before the job: nothing recorded, nothing read.
        assert query(wh, "SELECT count(*), max(run_id) FROM ops.runs") == before
        assert (inbox / "b_q2.csv").exists()

    pilot.write_text(good, encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
