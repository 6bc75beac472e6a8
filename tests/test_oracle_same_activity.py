"""One agency, one activity, two funding sources in one report: valid (agency-report-v1.md's defect
is "the same (activity, funding source) twice in one file"), so marts.budget_snapshot holds both
lines and its declared key must tell them apart (kpis/budget_snapshot.yml: funding_source is part
of it). Found by the oracle (tests/oracle/): the figures were right, the declared key was not, so
tests/fuzz/checks.py's key check (and `make fuzz`) called valid data a broken mart.

tests/test_flow.py's scenario as of 2005-05-15, plus the secondary 15001's 2548-Q2 report:
ACT-3, layer 4, own 200,000 (disbursed 50,000) and lead_integrated 100,000 (disbursed 0).
2548-Q2's snapshot: the lead's ACT-1 (layer 5, own, 1,000,000, disbursed 450,000) and those two.
- total 1,300,000; integrated = the lead's 1,000,000 + 100,000 lead_integrated = 1,100,000;
  fragmented 200,000; integration_ratio 1,100,000 / 1,300,000 = 0.84615… → 0.8462; lead_share
  1,000,000 / 1,300,000 = 0.76923… → 0.7692; support 0; disbursed 500,000, rate 0.38461… → 0.3846;
- overlapping_activities 0: ACT-3 is one agency's ("one agency with two funding sources is no
  overlap", scoring.md §6); agencies reporting 2 of 3 expected;
- by layer: 4 → total 300,000, integrated 100,000, fragmented 200,000, ratio 0.3333, lead_share
  0.0000, disbursed 50,000, rate 0.16666… → 0.1667; 5 → 1,000,000, all integrated, lead_share
  1.0000, rate 0.4500.
A second night, as of a day later, still runs and keeps the figures.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.fuzz.checks import mart_key_problems
from tests.oracle.compare import differences
from tests.test_flow import _csv, make_scenario

P = "PLT-2548-003"


def night(registry, inbox, root, as_of: str) -> None:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", as_of])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def nights(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("same-activity")
    registry, inbox = make_scenario(root)
    (inbox / "g_sec_q2_two_sources.csv").write_bytes(_csv(
        f"{P},15001,2548-Q2,2005-04-20,budget,ACT-3,4,,200000,50000,own,",
        f"{P},15001,2548-Q2,2005-04-20,budget,ACT-3,4,,100000,0,lead_integrated,"))
    night(registry, inbox, root, "2005-05-15")
    first = figures(root / "wh.duckdb")
    night(registry, inbox, root, "2005-05-16")
    return root, first


def figures(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "snapshot": con.execute("SELECT agency_code, activity_code, funding_source, allocated_thb FROM "
                                    "marts.budget_snapshot WHERE period = '2548-Q2' ORDER BY ALL").fetchall(),
            "budget": con.execute("SELECT total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, "
                                  "lead_share, support_thb, disbursed_thb, disbursement_rate, overlapping_activities, "
                                  "agencies_reporting, agencies_expected FROM marts.budget_integration "
                                  "WHERE period = '2548-Q2'").fetchall(),
            "by_layer": con.execute("SELECT layer, total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, "
                                    "lead_share, disbursed_thb, disbursement_rate FROM marts.budget_integration_by_layer "
                                    "WHERE period = '2548-Q2' ORDER BY layer").fetchall(),
            "keys": mart_key_problems(con, "warehouse"),
        }
    finally:
        con.close()


def test_both_lines_count_and_the_declared_keys_hold(nights):
    root, first = nights
    assert first["snapshot"] == [("03009", "ACT-1", "own", D("1000000.00")),
                                 ("15001", "ACT-3", "lead_integrated", D("100000.00")),
                                 ("15001", "ACT-3", "own", D("200000.00"))]
    assert first["budget"] == [(D("1300000.00"), D("1100000.00"), D("200000.00"), D("0.8462"), D("0.7692"),
                                D("0.00"), D("500000.00"), D("0.3846"), 0, 2, 3)]
    assert first["by_layer"] == [
        (4, D("300000.00"), D("100000.00"), D("200000.00"), D("0.3333"), D("0.0000"), D("50000.00"), D("0.1667")),
        (5, D("1000000.00"), D("1000000.00"), D("0.00"), D("1.0000"), D("1.0000"), D("450000.00"), D("0.4500"))]
    assert first["keys"] == []


def test_a_later_night_keeps_the_figures_and_equals_the_oracle(nights):
    root, first = nights
    assert figures(root / "wh.duckdb") == first
    assert differences(root / "wh.duckdb", date(2005, 5, 16)) == []
