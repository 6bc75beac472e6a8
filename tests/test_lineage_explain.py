"""Lineage: every core row and every KPI score leads back to its submission and source row, and
`pilotkpi explain` shows the arithmetic with the scenario's hand-computed numbers."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta

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
    assert "actual: 150 = sum of quarters 1..2 of FY2005 (BE 2548):" in out
    assert "2548-Q1: 60 from a_lead_q1.csv row 3" in out and "2548-Q2: 90 from d_lead_q2_fix.csv row 3" in out
    assert "thresholds registered for FY2005 (BE 2548): 100 / 200 / 300 / 400 / 500" in out
    assert "thresholds applied (× 2/4, pro-rated for a sum KPI): 50 / 100 / 150 / 200 / 250" in out
    assert "3 + (150 − 150) / (200 − 150) = 3 + 0 / 50" in out and "score: 3.0000" in out
    assert "c_lead_q2.json" in out and "superseded by" in out


def test_explain_refuses_unknown_codes(wh):
    code, out = explain(wh, "PLT-2548-003", "K9", "2548-Q1")
    assert code == 1 and "no score for PLT-2548-003 K9 2548-Q1" in out


# Holds the working file open read-write, as a nightly run does (DuckDB then refuses even readers).
HOLDER = ("import sys, duckdb; con = duckdb.connect(sys.argv[1]); con.execute('SELECT 1'); "
          "print('holding', flush=True); sys.stdin.readline(); con.close()")


def test_explain_reads_the_published_copy_while_a_run_holds_the_working_file(scenario):
    root, *_ = scenario
    working = root / "wh.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(working)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n", holder.stderr.read()
        with pytest.raises(duckdb.IOException, match="lock"):  # the lock is real
            duckdb.connect(str(working), read_only=True).close()
        code, out = explain(working, "PLT-2548-003", "K1", "2548-Q1")  # given the working file's path
    finally:
        try:
            holder.communicate("done\n", timeout=30)
        finally:
            holder.kill()
    assert code == 0, out
    assert "2548-Q1: 47 from a_lead_q1.csv row 2" in out and "score: 3.7000" in out


def test_explain_without_a_published_copy_says_so(tmp_path):
    code, out = explain(tmp_path / "wh.duckdb", "PLT-2548-003", "K1", "2548-Q1")
    assert code == 1 and f"{tmp_path / 'wh.published.duckdb'} does not exist yet" in " ".join(out.split())


def test_explain_times_carry_their_zone(wh):
    code, out = explain(wh, "PLT-2548-003", "K2", "2548-Q2")
    assert code == 0, out
    con = duckdb.connect(str(wh), read_only=True)
    try:
        stored = dict(con.execute("SELECT file_name, received_at FROM ingest.submissions "
                                  "WHERE status IN ('accepted', 'superseded')").fetchall())
    finally:
        con.close()
    # Stored UTC, shown in Bangkok time: UTC + 7 hours, written with the +07:00 offset.
    for name in ("a_lead_q1.csv", "d_lead_q2_fix.csv", "c_lead_q2.json"):
        bangkok = (stored[name] + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S")
        assert re.search(re.escape(name) + r".*\(.*received " + re.escape(bangkok) + r"\+07:00\)", out), (name, out)
    assert not re.search(r"received \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\)", out)  # never zoneless


def test_shown_time_is_bangkok_time_with_its_offset():
    from warehouse.times import shown_time

    # 19:00:01.5 UTC on 23 Nov is 02:00:01 on 24 Nov in Bangkok (UTC+7); fractions of a second dropped.
    assert shown_time(datetime(2026, 11, 23, 19, 0, 1, 500000)) == "2026-11-24 02:00:01+07:00"
    assert shown_time(None) == "–"


@pytest.mark.parametrize("kpi, period", [("k1", "ไตรมาส 1/2548"), ("K1", "ไตรมาสที่ ๑/๒๕๔๘"), ("k1", "Q1/48"),
                                         ("K1", "FY2005-Q1"), ("\u200bK1 ", " 2548-Q1")])
def test_explain_accepts_the_spellings_report_files_use(wh, kpi, period):
    # ไตรมาส 1/2548 = Q1/48 = FY2005-Q1 (CE name: FY2548 ends in September 2005) = 2548-Q1.
    code, out = explain(wh, "PLT-2548-003", kpi, period)
    assert code == 0, out
    assert out == explain(wh, "PLT-2548-003", "K1", "2548-Q1")[1]
    assert out.startswith("PLT-2548-003 K1 2548-Q1: ")


def test_explain_names_a_period_it_cannot_read(wh):
    code, out = explain(wh, "PLT-2548-003", "K1", "2005-Q1")  # a CE year is not a period code
    assert code == 1
    assert out == "pilotkpi explain: '2005-Q1' is not a period: write it like 2549-Q3, ไตรมาส 3/2549 or FY2006-Q3\n"
