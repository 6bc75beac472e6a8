"""A CHECKPOINT that fails after the commit (DuckDB 2.0: FatalException, the database invalidated
for every connection; `PRAGMA debug_checkpoint_abort='before_header'` makes it fail as a full disk
or an I/O error would, before the file's header is written). The night is committed, not
finished: exit 5, ops.runs committed_with_errors with the steps not done, never "the warehouse is
unchanged"; the published copy stays the last one published (the file alone is the state before
the commit, its write-ahead log holds the commit: a copy of it would be old data called new); the
next night completes it, with the marts of an uninterrupted pair of nights.

The scenario is tests/test_flow.py's 6-file inbox, then one new file (tests/test_crash_kill.py's).
"""
from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from flows import cheap
from flows.cli import main
from tests.test_crash_kill import NEW_FILE, accepted, reference  # noqa: F401  (its fixture: two uninterrupted nights)
from tests.test_flow import _csv, figures, make_scenario, run_cli
from tests.test_post_commit_disk_full import _enospc, _runs
from warehouse.publish import published_path

ABORT = "PRAGMA debug_checkpoint_abort='before_header'"
INVALIDATED = "database has been invalidated"
EVERY_STEP = "validation_report,summaries,artifact,letters,file_away,publish"  # kpis/steps.py's order


def _invalidate_at_the_commit(monkeypatch) -> None:
    """The next job's database invalidated just after its commit, before the first output step:
    its CHECKPOINT aborted (FatalException)."""
    real = cheap.after_commit

    def invalidated_first(live, *args, **kwargs):
        live.con.execute(ABORT)
        with pytest.raises(duckdb.FatalException):
            live.con.execute("CHECKPOINT")
        return real(live, *args, **kwargs)

    monkeypatch.setattr(cheap, "after_commit", invalidated_first)


def _first_night_then_a_new_file(tmp_path, scenario_copy):
    """The scenario's first night (tests/conftest.py scenario_copy, in tmp_path), then a new file."""
    registry, inbox = scenario_copy
    (inbox / NEW_FILE[0]).write_bytes(_csv(NEW_FILE[1]))
    return registry, inbox, accepted(tmp_path / "wh.duckdb")


def _step_lines(output: str) -> dict[str, str]:
    """The lines `  step: error` under "NOT done" (flows/cli_common.report_unfinished)."""
    lines = output.split("NOT done (ops.runs: status committed_with_errors):", 1)[1].splitlines()
    found = {}
    for line in lines[1:]:
        if not line.startswith("  ") or ": " not in line:
            break
        step, error = line[2:].split(": ", 1)
        found[step] = error
    return found


def _then_the_next_night_completes_it(tmp_path, registry, inbox, reference, failed_steps: str) -> None:
    wh = tmp_path / "wh.duckdb"
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", failed_steps, True),
                         ("succeeded", None, False)]
    assert _runs(published_path(wh)) == _runs(wh)
    reference_figures, reference_accepted = reference
    assert accepted(wh) == accepted(published_path(wh)) == reference_accepted
    assert figures(wh) == figures(published_path(wh)) == reference_figures
    assert not (inbox / NEW_FILE[0]).exists()  # filed away at last


def test_a_database_invalidated_at_the_commit_leaves_every_step_not_done(tmp_path, scenario_copy, reference,
                                                                         monkeypatch):
    """The checkpoint fails before the first output step: every step after the commit meets an
    invalidated database, each is noted, and the job still ends as committed with errors."""
    registry, inbox, old = _first_night_then_a_new_file(tmp_path, scenario_copy)
    wh = tmp_path / "wh.duckdb"
    _invalidate_at_the_commit(monkeypatch)
    code, output = run_cli(registry, inbox, tmp_path)
    monkeypatch.undo()

    assert code == 5, output
    assert "the warehouse is unchanged" not in output and "the run failed" not in output
    steps = _step_lines(output)
    assert list(steps) == EVERY_STEP.split(","), output
    for step in ("validation_report", "summaries", "letters", "file_away"):
        assert INVALIDATED in steps[step], steps[step]
    assert steps["artifact"] == "not done: the summaries could not be built"
    assert steps["publish"].startswith("NotCheckpointed: not copied: the warehouse's write-ahead log (wh.duckdb.wal)")
    # The final record, on the file opened again (its log replayed): the commit and every step not done.
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", EVERY_STEP, False)]
    assert accepted(wh) == old | {a for a in reference[1] if a[1] == NEW_FILE[0]} and accepted(wh) != old
    assert _runs(published_path(wh)) == [("succeeded", None, False)] and accepted(published_path(wh)) == old
    assert (inbox / NEW_FILE[0]).is_file()  # not filed away: the next night does it
    _then_the_next_night_completes_it(tmp_path, registry, inbox, reference, EVERY_STEP)


def test_the_checkpoint_before_the_copy_failing_publishes_nothing(tmp_path, scenario_copy, reference, monkeypatch):
    """Every output step done, then the CHECKPOINT before the copy fails: before, the job went on
    to copy the file alone (the state before its commit) and then called the night succeeded."""
    registry, inbox, old = _first_night_then_a_new_file(tmp_path, scenario_copy)
    wh = tmp_path / "wh.duckdb"
    real = cheap._publish_and_record

    def aborting(live, *args, **kwargs):
        live.con.execute(ABORT)
        return real(live, *args, **kwargs)

    monkeypatch.setattr(cheap, "_publish_and_record", aborting)
    code, output = run_cli(registry, inbox, tmp_path)
    monkeypatch.undo()

    assert code == 5, output
    steps = _step_lines(output)
    assert list(steps) == ["publish"], output
    assert steps["publish"].startswith("NotCheckpointed: not copied: the warehouse's write-ahead log (wh.duckdb.wal)")
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", "publish", False)]
    assert accepted(wh) != old
    assert _runs(published_path(wh)) == [("succeeded", None, False)] and accepted(published_path(wh)) == old
    assert not (inbox / NEW_FILE[0]).exists()  # filed away: that step was done
    _then_the_next_night_completes_it(tmp_path, registry, inbox, reference, "publish")


def test_pilotkpi_publish_whose_checkpoint_fails_completes_nothing(tmp_path, prefect_harness, monkeypatch):
    """`pilotkpi publish` marks the runs it completes, then checkpoints: failing there, the runs
    stay unfinished (marked again on the file opened again) and nothing is copied."""
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    with monkeypatch.context() as patch:  # the night's copy fails: committed, not published
        patch.setattr("warehouse.publish.shutil.copyfile", lambda s, t, *a, **k: (_ for _ in ()).throw(_enospc(t)))
        assert run_cli(registry, inbox, tmp_path)[0] == 5
    assert _runs(wh) == [("committed_with_errors", "publish", False)]

    import flows.completion as completion
    real = completion.connect
    opened = []

    def aborting_first(path, *args, **kwargs):
        con = real(path, *args, **kwargs)
        if not opened:
            con.execute(ABORT)
        opened.append(path)
        return con

    with monkeypatch.context() as patch:
        patch.setattr(completion, "connect", aborting_first)
        result = CliRunner().invoke(main, ["publish", "--warehouse", str(wh)])
    assert result.exit_code != 0, result.output
    assert len(opened) == 2  # the second: the runs marked unfinished again
    assert _runs(wh) == [("committed_with_errors", "publish", False)]
    assert not published_path(wh).exists()

    result = CliRunner().invoke(main, ["publish", "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output
    assert _runs(wh)[0][2] and _runs(published_path(wh)) == _runs(wh)


def test_a_quiet_night_invalidated_at_the_commit(tmp_path, scenario_copy, monkeypatch):
    """Nothing new. Which earlier jobs wait for which steps cannot be read, so no step is skipped
    (flows/cheap.py _waiting): each that reads the warehouse fails (the validation report: which
    one waits cannot be read either); filing away, with no file, reads nothing and is done; the
    night's own records are in the log only, so publishing copies nothing. Committed with
    errors, completed by the next quiet night."""
    registry, inbox = scenario_copy  # the first night (tests/conftest.py)
    wh = tmp_path / "wh.duckdb"
    _invalidate_at_the_commit(monkeypatch)
    code, output = run_cli(registry, inbox, tmp_path)
    monkeypatch.undo()

    assert code == 5, output
    assert "the warehouse is unchanged" not in output
    steps = _step_lines(output)
    assert list(steps) == ["validation_report", "summaries", "artifact", "letters", "publish"], output
    assert all(INVALIDATED in steps[s] for s in ("validation_report", "summaries", "letters"))
    assert steps["publish"].startswith("NotCheckpointed: not copied")
    assert _runs(wh) == [("succeeded", None, False),
                         ("committed_with_errors", "validation_report,summaries,artifact,letters,publish", False)]
    assert _runs(published_path(wh)) == [("succeeded", None, False)]
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert [r[0] for r in _runs(wh)] == ["succeeded", "committed_with_errors", "succeeded"] and _runs(wh)[1][2]
    assert _runs(published_path(wh)) == _runs(wh)
