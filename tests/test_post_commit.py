"""Honest failure after the commit: a step after the warehouse commit that fails (validation report,
summaries, artifact, filing the inbox away, publishing) does not stop the others, the CLI says what
was committed and what was not done, exits 5, and ops.runs records it; the next run completes it.

The inbox is tests/test_flow.py's scenario: 6 files, of which 3 accepted, 1 superseded
(c_lead_q2.json, replaced by d_lead_q2_fix.csv), 1 duplicate (e_dup.csv = a_lead_q1.csv) and
1 quarantined (f_bad.csv).
"""
from __future__ import annotations

import re

import duckdb
import pytest

from tests.test_flow import make_scenario, run_cli
from warehouse.publish import published_path

PROCESSED = ["a_lead_q1.csv", "b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv", "e_dup.csv"]
COUNTS = "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1"

# The function each step calls, as the flow looks it up.
STEP_FUNCTIONS = {
    "validation_report": "flows.cheap.write_validation_report",
    "summaries": "flows.cheap.write_summaries",
    "artifact": "flows.cheap.create_markdown_artifact",
    "letters": "flows.cheap.write_letters",
    "file_away": "pilots.inbox.file_away",
    "publish": "flows.cheap.publish",
}


def runs(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT run_id, status, failed_steps, error, completed_at IS NOT NULL, completed_by "
                           "FROM ops.runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def submission_count(path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM ingest.submissions").fetchone()[0]
    finally:
        con.close()


def run_id_of(output: str) -> str:
    return re.search(r"^run (\S+) as of", output, re.M).group(1)


def inbox_state(inbox) -> tuple[list[str], list[str], list[str]]:
    def names(folder):
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return names(inbox), names(inbox / "processed"), names(inbox / "quarantine")


@pytest.mark.parametrize("step", list(STEP_FUNCTIONS))
def test_a_failed_step_after_the_commit_is_reported_and_the_next_run_completes_it(
        tmp_path, prefect_harness, monkeypatch, step):
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    def boom(*args, **kwargs):
        raise RuntimeError(f"injected {step} failure")

    with monkeypatch.context() as patch:
        patch.setattr(STEP_FUNCTIONS[step], boom)
        code, out = run_cli(registry, inbox, tmp_path)

    assert code == 5, out
    first = run_id_of(out)
    assert f"committed to the warehouse: run {first}, {COUNTS}." in out
    assert f"NOT done (ops.runs: status committed_with_errors):\n  {step}: RuntimeError: injected {step} failure" in out
    assert "the warehouse is unchanged" not in out
    how = {"validation_report": "validation_report: the next run writes its own",
           "summaries": f"  pilotkpi publish --warehouse {wh} --out {tmp_path / 'out'}\n",
           "artifact": "artifact: the next run creates it",
           "letters": f"  pilotkpi publish --warehouse {wh} --out {tmp_path / 'out'}\n",
           "file_away": f"  pilotkpi publish --warehouse {wh} --inbox {inbox}\n",
           "publish": f"  pilotkpi publish --warehouse {wh}\n"}[step]
    assert how in out
    assert runs(wh) == [(first, "committed_with_errors", step, f"RuntimeError: injected {step} failure", False, None)]
    assert submission_count(wh) == 6
    # The other steps still ran.
    assert (tmp_path / "out" / "validation.html").exists() == (step != "validation_report")
    assert (tmp_path / "out" / "summary.th.html").exists() == (step != "summaries")
    assert (tmp_path / "out" / "reminders" / "11002.th.html").exists() == (step != "letters")
    assert published_path(wh).exists() == (step != "publish")
    if step != "publish":  # recorded before publishing: the analysts' copy carries the outcome
        assert runs(published_path(wh))[0][1:4] == ("committed_with_errors", step,
                                                    f"RuntimeError: injected {step} failure")
    left = PROCESSED + ["f_bad.csv"] if step == "file_away" else []
    assert inbox_state(inbox)[0] == sorted(left)

    code, out = run_cli(registry, inbox, tmp_path)  # the next night, on the same inbox

    assert code == 0, out
    second = run_id_of(out)
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])  # every file filed away, by its status
    assert submission_count(wh) == 6  # no new duplicate rows for the files the first run left
    if step == "file_away":
        assert "filed away 6 file(s) that an earlier run recorded but did not move" in out
    assert "files seen 0" in out and f"completed the missing steps of earlier run(s): {first}" in out
    assert [r[:2] + r[4:] for r in runs(wh)] == [(first, "committed_with_errors", True, second),
                                                 (second, "succeeded", False, None)]
    assert runs(published_path(wh)) == runs(wh)
    assert (tmp_path / "out" / "validation.html").exists() and (tmp_path / "out" / "summary.th.html").exists()
    assert (tmp_path / "out" / "reminders" / "11002.th.html").exists()


class Killed(BaseException):
    """Stands for SIGKILL right after the commit: no handler of the job runs."""


def test_a_run_killed_after_its_commit_is_recorded_unfinished_and_completed_next(
        tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    def killed(*args, **kwargs):
        raise Killed()

    with monkeypatch.context() as patch:
        patch.setattr("flows.cheap.after_commit", killed)
        with pytest.raises(Killed):
            run_cli(registry, inbox, tmp_path)

    [(first, status, steps, error, completed, by)] = runs(wh)
    assert (status, steps, completed) == (
        "committed_with_errors", "validation_report,summaries,artifact,letters,file_away,publish", False)
    assert "before the steps in failed_steps finished" in error
    assert len(inbox_state(inbox)[0]) == 6

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])
    assert submission_count(wh) == 6
    assert runs(wh)[0][4:] == (True, run_id_of(out))


def test_publish_command_completes_publishing_and_filing_away(tmp_path, prefect_harness, monkeypatch):
    from click.testing import CliRunner

    from flows.cli import main

    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("flows.cheap.publish", boom)
        patch.setattr("pilots.inbox.file_away", boom)
        code, out = run_cli(registry, inbox, tmp_path)
    assert code == 5, out
    first = run_id_of(out)
    assert runs(wh)[0][1:4] == ("committed_with_errors", "file_away,publish", "OSError: disk full")
    (inbox / "g_new.csv").write_bytes(b"not received yet")  # a new file waits for the next run

    result = CliRunner().invoke(main, ["publish", "--warehouse", str(wh), "--inbox", str(inbox)])

    assert result.exit_code == 0, result.output
    assert "filed away 6 file(s)" in result.output and f"completed run(s): {first}" in result.output
    assert inbox_state(inbox) == (["g_new.csv"], PROCESSED, ["f_bad.csv"])
    assert runs(wh)[0][4:] == (True, "pilotkpi publish")
    assert runs(published_path(wh)) == runs(wh)
    assert submission_count(wh) == 6


def test_the_unfinished_steps_message_shows_agency_text_escaped(capsys):
    from pathlib import Path

    from flows.cli_common import report_unfinished

    code = report_unfinished({"summaries": "ValueError: bad period '\x1b[2J2549\n-Q5'"}, "run r1, files seen 1",
                             Path("wh.duckdb"), Path("out"))
    err = capsys.readouterr().err
    assert code == 5
    assert "  summaries: ValueError: bad period '\\x1b[2J2549\\n-Q5'\n" in err and "\x1b" not in err
    assert "  pilotkpi publish --warehouse wh.duckdb --out out\n" in err
