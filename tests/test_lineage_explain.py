"""Lineage: every core row and every KPI score leads back to its submission and source row, and
`pilotkpi explain` shows the arithmetic with the scenario's hand-computed numbers."""
from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import scenario  # noqa: F401  (the hand-computed scenario, run twice)


@pytest.fixture(scope="module")
def wh(scenario):
    root, *_ = scenario
    return root / "wh.published.duckdb"


def explain(wh, *args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["explain", *args, "--warehouse", str(wh)])
    return result.exit_code, result.output


def test_every_core_row_and_score_leads_back_to_a_file_row(wh):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        for table in ("core.kpi_actuals", "core.budget_lines"):
            assert con.execute(f"SELECT count(*) FROM {table} t LEFT JOIN ingest.submissions s USING (submission_id) "
                               "WHERE s.submission_id IS NULL OR t.row_number IS NULL").fetchone()[0] == 0
        # Each reported score points at the very core row holding its period's value.
        assert con.execute("""
            SELECT count(*) FROM marts.kpi_scores m
            LEFT JOIN core.kpi_actuals a
              ON a.submission_id = m.submission_id AND a.row_number = m.row_number AND a.kpi_code = m.kpi_code
            WHERE NOT m.is_missing AND a.submission_id IS NULL""").fetchone()[0] == 0
        # K1 2548-Q1 is row 2 of a_lead_q1.csv (the header is row 1).
        assert con.execute("""
            SELECT s.file_name, m.row_number FROM marts.kpi_scores m JOIN ingest.submissions s USING (submission_id)
            WHERE m.kpi_code = 'K1' AND m.period = '2548-Q1'""").fetchall() == [("a_lead_q1.csv", 2)]
    finally:
        con.close()


def test_explain_a_last_kpi(wh):
    code, out = explain(wh, "PLT-2548-003", "K1", "2548-Q1")
    assert code == 0, out
    assert "actual: 47\n" in out
    assert "2548-Q1: 47 from a_lead_q1.csv row 2" in out
    assert "thresholds applied: 20 / 30 / 40 / 50 / 60" in out
    assert "3 + (47 − 40) / (50 − 40) = 3 + 7 / 10" in out
    assert "score: 3.7000" in out and "= 2.2200, status on_target" in out


def test_explain_a_sum_kpi_with_a_superseded_version(wh):
    code, out = explain(wh, "PLT-2548-003", "K2", "2548-Q2")
    assert code == 0, out
    # 60 (Q1, a_lead_q1.csv row 3) + 90 (Q2, the resubmission d_lead_q2_fix.csv row 3) = 150.
    assert "actual: 150 = sum of quarters 1..2 of FY2548:" in out
    assert "2548-Q1: 60 from a_lead_q1.csv row 3" in out and "2548-Q2: 90 from d_lead_q2_fix.csv row 3" in out
    assert "thresholds registered for FY2548: 100 / 200 / 300 / 400 / 500" in out
    assert "thresholds applied (× 2/4, pro-rated for a sum KPI): 50 / 100 / 150 / 200 / 250" in out
    assert "3 + (150 − 150) / (200 − 150) = 3 + 0 / 50" in out and "score: 3.0000" in out
    assert "c_lead_q2.json" in out and "superseded by" in out


def test_explain_refuses_unknown_codes(wh):
    code, out = explain(wh, "PLT-2548-003", "K9", "2548-Q1")
    assert code == 1 and "no score for PLT-2548-003 K9 2548-Q1" in out
