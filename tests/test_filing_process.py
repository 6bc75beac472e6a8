"""A big night files its inbox away in a child process (pilots/filing.py), beside the rendering.

Whole-flow tests on tests/test_flow.py's scenario (6 files: 5 to processed/, f_bad.csv to
quarantine/), with the threshold at one file so that the scenario takes the child's path:
- the child files every file where the thread would, and the night records the same;
- a night SIGKILLed while its child is paused after filing one file: the warehouse holds the
  night (it had committed), one file is filed, five wait; the next night files those five away
  without a new row, and its figures are those of an uninterrupted night;
- the night alone SIGKILLed (not its process group) while its child is paused after filing one
  file: the orphaned child checks that its parent lives before its next file, so it files no
  other and ends; the next night files the other five away, none twice, with no new row;
- a child that dies after filing one file (`PILOTKPI_FAIL_AT=filing`, on the restricted scenario
  of tests/test_restricted_store.py, its message quoting a restricted file and a national ID):
  the night files the rest away itself and succeeds, its log warns of the child's failure, with
  the ID masked and the restricted name hidden, and it counts every file filed, the child's one
  too (on the plain scenario as well, through the flow's RunResult);
- a night started from a folder holding another `pilots` package: the child imports the night's
  own code, not that one;
- a child that prints while it files away (an audit hook on each rename): the answer still
  arrives, and every file is filed.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time
from datetime import date

import pytest

from pilots import filing
from tests.support import SERIAL
from tests.test_crash_kill import killed_run
from tests.test_flow import AS_OF, figures, make_scenario, run_cli
from tests.log_capture import every_log_record
from tests.test_post_commit import COUNTS, PROCESSED, inbox_state, runs, submission_count
from tests.test_restricted_store import FILE_NAME, make_restricted_scenario


@pytest.fixture(scope="module")
def reference(scenario_night):
    """The scenario's night filed away in the thread (the threshold left as it is): the session's
    scenario_night (tests/conftest.py, `run_cli` on make_scenario), read only."""
    return figures(scenario_night / "wh.duckdb"), inbox_state(scenario_night / "inbox")


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
    assert started == [[sys.executable, "-P", "-c", filing._CHILD_CODE]]
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


def _parent_of(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])  # field 4, ppid


@SERIAL  # starts a run with its own Prefect server, and waits for it
def test_a_child_orphaned_by_a_kill_of_the_night_alone_files_nothing_more_and_ends(tmp_path, prefect_harness,
                                                                                   reference):
    registry, inbox = make_scenario(tmp_path)
    resume, marker = tmp_path / "resume", tmp_path / "paused-filing"
    ended = []

    def kill_the_night_alone() -> None:
        child = int(marker.read_text(encoding="utf-8").split()[0])  # the pause point's process: the child
        night = _parent_of(child)
        watch = os.pidfd_open(child)  # the child's end, whoever reaps it (it is not this process's child)
        try:
            os.kill(night, signal.SIGKILL)  # the night only: its child and its server live on
            deadline = time.monotonic() + 60
            while _parent_of(child) == night:  # re-parented when the night has died
                assert time.monotonic() < deadline, "the night never died"
                time.sleep(0.05)
            resume.write_text("go on", encoding="utf-8")  # the orphan leaves its pause, before its second file
            ended.extend(select.select([watch], [], [], 60)[0])
        finally:
            os.close(watch)

    killed_run(tmp_path, registry, inbox, "filing", at_pause=kill_the_night_alone,
               env_extra={"PILOTKPI_FILING_PROCESS_FILES": "1", "PILOTKPI_PAUSE_RESUME": str(resume)})

    assert ended, "the orphaned child did not end within 60 s of its pause"
    # It had filed the first file (by name) and checked its parent before the second: nothing more.
    assert inbox_state(inbox) == (PROCESSED[1:] + ["f_bad.csv"], PROCESSED[:1], [])
    assert submission_count(tmp_path / "wh.duckdb") == 6  # committed before the kill
    [(_, status, failed, _, completed, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, completed) == ("committed_with_errors", False) and "file_away" in failed

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 0" in out and "moved 5 file(s)" in out  # the five left: the committed night's, no new row
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"]) == reference[1]  # none filed twice (no x.1.csv)
    assert submission_count(tmp_path / "wh.duckdb") == 6
    assert figures(tmp_path / "wh.duckdb") == reference[0]


def test_a_night_whose_child_failed_returns_every_file_filed_the_childs_too(tmp_path, prefect_harness, monkeypatch):
    from flows.nightly import nightly

    registry, inbox = make_scenario(tmp_path)
    monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    monkeypatch.setenv("PILOTKPI_FAIL_AT", "filing")  # the child raises before its second file
    result = nightly(registry, inbox, tmp_path / "wh.duckdb", tmp_path / "out", as_of=date.fromisoformat(AS_OF))
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])
    # Six files filed: the first (by name) by the child before it died, the other five by the night.
    assert sorted(result.moved) == sorted([inbox / "processed" / name for name in PROCESSED]
                                          + [inbox / "quarantine" / "f_bad.csv"])
    assert result.failed_steps == {}


NATIONAL_ID = "3101700230704"  # 13 digits, check digit valid: masked wherever it is stored or shown
# The restricted scenario, filed away: accepted, superseded and duplicates to processed/; f (bad
# KPI), g (no pilot) and r3 (unknown KPI) to quarantine/ (tests/test_restricted_store.py's doc).
RESTRICTED_PROCESSED = sorted(PROCESSED + [FILE_NAME, "r2-dup.csv", "r4-q2.csv", "r5-q2-fix.csv"])
RESTRICTED_QUARANTINED = ["f_bad.csv", "g_no_pilot.csv", "r3-bad.csv"]


def test_a_child_that_fails_is_reported_and_the_night_files_away_itself(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_restricted_scenario(tmp_path)
    monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    monkeypatch.setenv("PILOTKPI_FAIL_AT", "filing")  # the child raises before its second file
    monkeypatch.setenv("PILOTKPI_FAIL_MESSAGE", f"injected: {FILE_NAME} of {NATIONAL_ID}")
    with every_log_record() as lines:
        code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert inbox_state(inbox) == ([], RESTRICTED_PROCESSED, RESTRICTED_QUARANTINED)
    assert "moved 12 file(s)" in out  # 9 + 3 filed: the one the child filed before it died counted too
    # Every step done (filing away too, here): no failed step, nothing for a later job to complete.
    [(_, status, failed, error, completed, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, failed, error, completed) == ("succeeded", None, None, False)
    warnings = [line for line in lines if "filing away in its own process stopped" in line]
    assert warnings == [
        "WARNING prefect.flow_runs filing away in its own process stopped (exit code 1): RuntimeError: injected: "
        "[file of a restricted pilot] of [masked-id]; filed away in the night's own process instead"], lines
    for text in ["\n".join(lines), out, repr(runs(tmp_path / "wh.duckdb"))]:
        assert "K7W3" not in text and NATIONAL_ID not in text


def test_the_child_imports_the_nights_own_code_whatever_the_folder(tmp_path, prefect_harness, monkeypatch,
                                                                    reference):
    registry, inbox = make_scenario(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "pilots").mkdir(parents=True)
    marker = tmp_path / "other-code-ran"
    (elsewhere / "pilots" / "__init__.py").write_text("", encoding="utf-8")
    (elsewhere / "pilots" / "filing.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def main(*args):\n    pass\n", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert not marker.exists()
    assert COUNTS in out and "moved 6 file(s)" in out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"]) == reference[1]


def test_a_child_that_prints_while_it_files_away_still_answers(tmp_path, prefect_harness, monkeypatch, reference):
    registry, inbox = make_scenario(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    # Started by every Python process given this PYTHONPATH: the parent is running already, so
    # only the child prints, once per rename, on whatever its fd 1 is.
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.addaudithook(lambda event, args: event == 'os.rename' and print('stray output', flush=True))\n",
        encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert COUNTS in out and "moved 6 file(s)" in out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"]) == reference[1]
    assert [r[1:3] for r in runs(tmp_path / "wh.duckdb")] == [("succeeded", None)]
