"""A served run (`pilotkpi serve`) prints one line when it ends: its counts, its status and where
the summaries went, or why it failed. `pilotkpi run` prints its own lines, never this one.

The real served schedule is tests/test_serve_integration.py; here the flow is told it belongs to a
deployment, so each ending is shown quickly and exactly."""
from __future__ import annotations

import duckdb
import pytest

from tests.test_flow import AS_OF, make_scenario, run_cli

PREFIX = "pilotkpi: scheduled run "


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(PREFIX)]


@pytest.fixture
def served(monkeypatch, prefect_harness):
    monkeypatch.setattr("flows.nightly._deployed", lambda: True)


def test_a_served_run_prints_one_line_with_counts_status_and_summaries(served, tmp_path):
    registry, inbox = make_scenario(tmp_path)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        (run_id,) = con.execute("SELECT run_id FROM ops.runs").fetchone()
    finally:
        con.close()
    # tests/test_flow.py's six files: a, b, d accepted; c superseded by d; e a duplicate; f quarantined.
    assert _lines(out) == [f"{PREFIX}{run_id} as of {AS_OF} succeeded: files seen 6: accepted 3, superseded 1, "
                           f"duplicates 1, quarantined 1; summaries in {tmp_path / 'out'}"]


def test_a_served_run_that_committed_with_errors_says_which_steps(served, tmp_path, monkeypatch):
    def no_summaries(*args, **kwargs):
        raise OSError("out/ is read-only")

    monkeypatch.setattr("flows.cheap.write_summaries", no_summaries)
    registry, inbox = make_scenario(tmp_path)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 5, out
    (line,) = _lines(out)
    assert line.endswith(" committed with errors (not done: summaries; see ops.runs): files seen 6: accepted 3, "
                         "superseded 1, duplicates 1, quarantined 1; no summary written"), line


def test_a_served_run_that_fails_prints_one_line(served, tmp_path, monkeypatch):
    def boom(con, as_of, **kwargs):
        raise OSError("disk full while building the marts")

    monkeypatch.setattr("flows.nightly.build_marts", boom)
    registry, inbox = make_scenario(tmp_path)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 1, out
    assert _lines(out) == [f"{PREFIX}failed, the warehouse is unchanged: OSError: disk full while building the marts"]


def test_pilotkpi_run_does_not_print_the_served_line(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" in out and _lines(out) == []
