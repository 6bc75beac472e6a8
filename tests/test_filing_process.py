"""A big night files its inbox away in a child process (pilots/filing.py), beside the rendering.

Whole-flow tests on tests/test_flow.py's scenario (6 files: 5 to processed/, f_bad.csv to
quarantine/), with the threshold at one file so that the scenario takes the child's path:
- the child files every file where the thread would, and the night records the same;
- a night SIGKILLed while its child is paused after filing one file: the warehouse holds the
  night (it had committed), one file is filed, five wait; the next night files those five away
  without a new row, and its figures are those of an uninterrupted night.
"""
from __future__ import annotations

import sys

import pytest

from pilots import filing
from tests.support import SERIAL
from tests.test_crash_kill import killed_run
from tests.test_flow import figures, make_scenario, run_cli
from tests.test_post_commit import COUNTS, PROCESSED, inbox_state, runs, submission_count


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prefect_harness):
    """The scenario's night filed away in the thread (the threshold left as it is)."""
    root = tmp_path_factory.mktemp("thread")
    registry, inbox = make_scenario(root)
    code, out = run_cli(registry, inbox, root)
    assert code == 0, out
    return figures(root / "wh.duckdb"), inbox_state(inbox)


def test_a_big_night_files_away_in_a_child_process_as_the_thread_would(tmp_path, prefect_harness, monkeypatch,
                                                                       reference):
    registry, inbox = make_scenario(tmp_path)
    started = []
    real_popen = filing.subprocess.Popen

    def spied(args, **kwargs):
        started.append(list(args))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    monkeypatch.setattr(filing.subprocess, "Popen", spied)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert started == [[sys.executable, "-m", "pilots.filing"]]
    assert COUNTS in out and "moved 6 file(s)" in out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"]) == reference[1]
    assert [r[1:3] for r in runs(tmp_path / "wh.duckdb")] == [("succeeded", None)]
    assert figures(tmp_path / "wh.duckdb") == reference[0]


@SERIAL  # starts a run with its own Prefect server, and waits for it
def test_a_night_killed_while_its_filing_process_runs_loses_nothing_and_counts_nothing_twice(
        tmp_path, prefect_harness, reference):
    registry, inbox = make_scenario(tmp_path)
    killed_run(tmp_path, registry, inbox, "filing", env_extra={"PILOTKPI_FILING_PROCESS_FILES": "1"})

    # Committed before the kill: the night's six rows, its run still waiting for its last steps.
    assert submission_count(tmp_path / "wh.duckdb") == 6
    [(_, status, failed, _, completed, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, completed) == ("committed_with_errors", False) and "file_away" in failed
    # The child filed the first file (in the order received: by name) and was killed before the next.
    assert inbox_state(inbox) == (PROCESSED[1:] + ["f_bad.csv"], PROCESSED[:1], [])

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 0" in out  # the five left are the committed night's files: no new row
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"]) == reference[1]
    assert submission_count(tmp_path / "wh.duckdb") == 6
    assert figures(tmp_path / "wh.duckdb") == reference[0]
