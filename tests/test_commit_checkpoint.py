"""DuckDB's automatic checkpoint at the job's COMMIT failing: the double fault.

DuckDB 2.0 checkpoints on its own at a COMMIT that takes the write-ahead log past
`checkpoint_threshold` (16 MiB). A commit it estimates small (below
`auto_checkpoint_skip_wal_threshold`) is written to the log first: if the checkpoint then fails,
COMMIT raises FatalException ("Transaction COMMIT succeeded and is durable, but the autocheckpoint
failed") and the database is invalidated, though the commit is in the log (the next open replays
it). A larger commit is checkpointed instead of logged: its checkpoint failing, nothing is kept.

The job cannot tell which from the exception alone: it opens the file again and looks for its own
ops.runs row (flows/nightly.py `_job`). There, the job is committed: the restricted store's working
copy (`.next`) is renamed into place, not thrown away, and the steps after the commit run on the
file opened again. Not there: the job failed, as before, and the file opened again takes its
failure record.

Measured here: with DuckDB's own skip threshold (100,000), even a quiet night's commit is estimated
above it, so a job's commit at the threshold is checkpointed instead of logged (the last test);
the double fault needs a commit DuckDB estimates smaller (which jobs' commits are: not measured).

Here the log's being near the threshold is `checkpoint_threshold` set to 1 KB on the job's
connection (every commit then checkpoints), the commit small enough to be logged is
`auto_checkpoint_skip_wal_threshold` raised (or set to 0: every commit checkpointed instead of
logged), and the failing checkpoint is `PRAGMA debug_checkpoint_abort='before_header'` (the abort a
full disk or an I/O error would cause). Whole flow by `pilotkpi run`; the scenario is
tests/test_restricted_store.py's first night (an open pilot and the restricted pilot PLT-2548-099).
"""
from __future__ import annotations

from decimal import Decimal

from tests.test_failed_checkpoint import ABORT, EVERY_STEP, _step_lines
from tests.test_post_commit_disk_full import _runs
from tests.test_flow import run_cli
from tests.test_restricted_store import FILE_NAME, SECRET, make_restricted_scenario, rows, run
from warehouse.paths import files_of
from warehouse.publish import published_path

LOGGED_THEN_CHECKPOINTED = 10**12  # auto_checkpoint_skip_wal_threshold: every commit logged first
CHECKPOINTED_INSTEAD = 0  # every commit checkpointed instead of logged

# The restricted store after the first night (tests/test_restricted_store.py's hand-computed ids):
# a..g are 1..7 in the open store, r1..r5 are 8..12 here.
RESTRICTED_SUBMISSIONS = [
    (8, FILE_NAME, "accepted", None, None), (9, "r2-dup.csv", "duplicate", None, 8),
    (10, "r3-bad.csv", "quarantined", None, None), (11, "r4-q2.csv", "superseded", 12, None),
    (12, "r5-q2-fix.csv", "accepted", None, None)]
# Q1: 987654.321 >= t5 = 50 -> 5; Q2: t2 = 20 <= 25 < t3 = 30 -> 2 + 5/10 = 2.5 (composite = score).
RESTRICTED_SCORES = [("2548-Q1", Decimal("5.0000"), "on_target"), ("2548-Q2", Decimal("2.5000"), "at_risk")]
OPEN_SUBMISSIONS = [(1, "accepted"), (2, "accepted"), (3, "superseded"), (4, "accepted"), (5, "duplicate"),
                    (6, "quarantined"), (7, "quarantined")]


def _autocheckpoint_fails(monkeypatch, skip_wal_threshold: int | None, *, opened_again_too: bool = False) -> list:
    """The job's connection (flows/nightly.py opens it) checkpoints at every commit, and each
    checkpoint aborts before the file's header; with opened_again_too, the connections it opens
    again after the COMMIT do the same (the disk still full), else they are plain."""
    import flows.nightly as nightly

    real = nightly.connect
    opened = []

    def connect(path, *args, **kwargs):
        con = real(path, *args, **kwargs)
        if not opened or opened_again_too:
            con.execute("SET checkpoint_threshold = '1KB'")
            if skip_wal_threshold is not None:  # None: DuckDB's own (100,000)
                con.execute(f"SET auto_checkpoint_skip_wal_threshold = {skip_wal_threshold}")
            con.execute(ABORT)
        opened.append(path)
        return con

    monkeypatch.setattr(nightly, "connect", connect)
    return opened


def _cannot_open_again(monkeypatch) -> None:
    """On top of _autocheckpoint_fails: opening the warehouse again after the COMMIT fails."""
    import flows.nightly as nightly

    failing = nightly.connect

    def connect(path, *args, **kwargs):
        if connect.calls:
            raise OSError("opening the warehouse again failed (the test's fault)")
        connect.calls += 1
        return failing(path, *args, **kwargs)

    connect.calls = 0
    monkeypatch.setattr(nightly, "connect", connect)


def _restricted_store_holds_the_first_night(root) -> None:
    rs = files_of(root / "wh.duckdb").restricted
    assert rows(rs, "SELECT submission_id, file_name, status, superseded_by, duplicate_of FROM ingest.submissions "
                    "ORDER BY 1") == RESTRICTED_SUBMISSIONS
    assert rows(rs, "SELECT period, score FROM marts.kpi_scores ORDER BY 1") == [
        (period, score) for period, score, _ in RESTRICTED_SCORES]
    assert not rs.with_name(rs.name + ".next").exists()


def _open_store_holds_the_first_night(path) -> None:
    assert rows(path, "SELECT submission_id, status FROM ingest.submissions ORDER BY 1") == OPEN_SUBMISSIONS
    assert rows(path, "SELECT period, composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? "
                      "ORDER BY 1", [SECRET]) == RESTRICTED_SCORES


def test_a_durable_commit_whose_checkpoint_failed_is_the_job_committed(tmp_path, prefect_harness, monkeypatch):
    """The COMMIT raised, but the log holds it: the job goes on as committed, with the restricted
    store's side of it kept. The file opened again checkpoints (the fault passed), so every step
    is done: the night succeeded. Before, it said "the warehouse is unchanged" (exit 1), threw away
    the restricted store's working copy, and the open store's log replayed the commit alone."""
    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    opened = _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    code, output = run(tmp_path, registry, inbox)
    monkeypatch.undo()

    assert code == 0, output
    assert len(opened) == 2, opened  # the job's connection, then the file opened again after its COMMIT
    assert "the warehouse is unchanged" not in output
    assert "files seen 12: accepted 5, superseded 2, duplicates 2, quarantined 3" in output
    assert _runs(wh) == [("succeeded", None, False)]
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(wh)
    _open_store_holds_the_first_night(published_path(wh))
    assert _runs(published_path(wh)) == _runs(wh)
    assert not [p for p in inbox.iterdir() if p.is_file()]  # every file filed away


def test_a_durable_commit_whose_checkpoints_keep_failing_is_committed_with_errors(tmp_path, prefect_harness,
                                                                                monkeypatch):
    """The file opened again cannot checkpoint either (the disk still full): the steps that only
    read are done, publishing is not (the log holds the commit), exit 5. The restricted store has
    the job; the next night publishes."""
    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED, opened_again_too=True)
    code, output = run(tmp_path, registry, inbox)
    monkeypatch.undo()

    assert code == 5, output
    assert "the warehouse is unchanged" not in output and "the run failed" not in output
    steps = _step_lines(output)
    assert list(steps) == ["publish"], output
    # The reason is in the restricted store's error log: a restricted job's messages stay there.
    assert steps["publish"].startswith("NotCheckpointed in a job that reads restricted pilots' data"), steps
    assert _runs(wh) == [("committed_with_errors", "publish", False)]
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(wh)
    assert not published_path(wh).exists()

    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    assert _runs(wh) == [("committed_with_errors", "publish", True), ("succeeded", None, False)]
    assert _runs(published_path(wh)) == _runs(wh)
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(published_path(wh))


def test_a_commit_checkpointed_instead_of_logged_fails_and_keeps_nothing(tmp_path, prefect_harness, monkeypatch):
    """The COMMIT raised and nothing is kept (no log written): the job failed, the warehouse is
    unchanged, the restricted store's working copy is thrown away; the file opened again records
    the failure (before, the record met the invalidated database and was lost). The next night
    reads every file again."""
    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    _autocheckpoint_fails(monkeypatch, CHECKPOINTED_INSTEAD)
    code, output = run(tmp_path, registry, inbox)
    monkeypatch.undo()

    assert code == 1, output
    assert "the run failed and the warehouse is unchanged" in output
    [(status, failed_steps, completed)] = _runs(wh)
    assert (status, failed_steps) == ("failed", None)
    assert rows(wh, "SELECT count(*) FROM ingest.submissions") == [(0,)]
    rs = files_of(wh).restricted
    assert not rs.exists() and not rs.with_name(rs.name + ".next").exists()
    assert len([p for p in inbox.iterdir() if p.is_file()]) == 12  # nothing filed away

    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    assert "files seen 12: accepted 5, superseded 2, duplicates 2, quarantined 3" in output
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(published_path(wh))


def test_a_commit_whose_outcome_cannot_be_read_is_decided_by_the_next_job(tmp_path, prefect_harness, monkeypatch):
    """The COMMIT raised (durable: logged, then its checkpoint aborted) and the file cannot be
    opened again to read the job's row: the job fails, but the restricted store's working copy is
    left for the next job's recover(), which reads the open store's decision (the log replayed:
    committed) and renames it into place; that night then finishes the unfinished one. Before, the
    working copy was thrown away and the next night read the restricted files again."""
    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    rs = files_of(wh).restricted
    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    _cannot_open_again(monkeypatch)
    code, output = run(tmp_path, registry, inbox)
    monkeypatch.undo()

    assert code == 1, output
    # Not "unchanged": the commit may be in the log, which the next open replays.
    assert "the warehouse is unchanged" not in output
    assert "could not be opened again and read to see whether it holds this run" in output, output
    assert FILE_NAME not in output  # the COMMIT's error passes the restricted store's message guard
    assert rs.with_name(rs.name + ".next").exists() and not rs.exists()
    assert _runs(wh) == [("committed_with_errors", EVERY_STEP, False)]  # the commit's own record, replayed

    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    assert "files seen 0" in output  # nothing read again: the first night's files are filed away
    assert _runs(wh) == [("committed_with_errors", EVERY_STEP, True), ("succeeded", None, False)]
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(wh)
    _open_store_holds_the_first_night(published_path(wh))
    assert not [p for p in inbox.iterdir() if p.is_file()]


def test_a_quiet_nights_commit_is_checkpointed_instead_of_logged(tmp_path, scenario_copy, monkeypatch):
    """No restricted store, DuckDB's own skip threshold (100,000): even a quiet night's commit is
    estimated above it, so at the threshold DuckDB checkpoints it instead of logging it, and the
    checkpoint failing keeps nothing. The job reads that on the file opened again (no row of its
    own), fails as "unchanged", and records its failure there (main lost that record on the
    invalidated database). The next quiet night succeeds."""
    registry, inbox = scenario_copy  # the first night (tests/conftest.py)
    wh = tmp_path / "wh.duckdb"
    opened = _autocheckpoint_fails(monkeypatch, None)
    code, output = run_cli(registry, inbox, tmp_path)
    monkeypatch.undo()

    assert code == 1, output
    assert "the run failed and the warehouse is unchanged: FatalException" in output
    assert len(opened) == 2, opened  # the COMMIT raised, and the file was opened again
    assert [r[0] for r in _runs(wh)] == ["succeeded", "failed"]
    assert _runs(published_path(wh)) == [("succeeded", None, False)]
    assert run_cli(registry, inbox, tmp_path)[0] == 0
    assert [r[0] for r in _runs(wh)] == ["succeeded", "failed", "succeeded"]


def test_a_rebuild_whose_commit_cannot_be_read_back_says_so_and_the_next_job_finishes_it(tmp_path, scenario_copy,
                                                                                          monkeypatch):
    """`pilotkpi rebuild` runs the same job: its COMMIT raised (logged, then the checkpoint aborted:
    durable) and the file could not be opened again. Its one line says the next run decides, never
    "unchanged" (flows/cli_maintenance.py); the next rebuild finds the first one's commit replayed
    and completes it."""
    from click.testing import CliRunner

    from flows.cli import main

    registry, inbox = scenario_copy  # the first night (tests/conftest.py)
    wh = tmp_path / "wh.duckdb"
    rebuild = ["rebuild", "--registry", str(registry), "--warehouse", str(wh), "--out", str(tmp_path / "out")]
    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    _cannot_open_again(monkeypatch)
    result = CliRunner().invoke(main, rebuild)
    monkeypatch.undo()

    assert result.exit_code == 1, result.output
    assert "the warehouse is unchanged" not in result.output
    assert "could not be opened again and read to see whether it holds this run" in result.output
    # (status, failed steps, completed later): the rebuild's own commit record, replayed; a rebuild
    # files nothing away (no inbox), so its steps are every step but that one
    rebuild_steps = "validation_report,summaries,artifact,letters,publish"
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", rebuild_steps, False)]

    result = CliRunner().invoke(main, rebuild)
    assert result.exit_code == 0, result.output
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", rebuild_steps, True),
                         ("succeeded", None, False)]


def test_a_served_run_whose_commit_outcome_cannot_be_read_says_the_next_run_decides(tmp_path, prefect_harness,
                                                                                    monkeypatch):
    """The scheduled run's one line (flows/nightly.py `_failure_line`) for the same fault as
    test_a_commit_whose_outcome_cannot_be_read_is_decided_by_the_next_job: "failed", never "the
    warehouse is unchanged" (its commit may be in the log), and no restricted pilot's file name
    (the COMMIT's text passes the restricted store's message guard). The next served night finishes
    the job."""
    monkeypatch.setattr("flows.nightly._deployed", lambda: True)
    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    _cannot_open_again(monkeypatch)
    code, output = run(tmp_path, registry, inbox)
    monkeypatch.undo()

    assert code == 1, output
    [line] = [ln for ln in output.splitlines() if ln.startswith("pilotkpi: scheduled run ")]
    assert line.startswith("pilotkpi: scheduled run failed: CommitUnknown: the COMMIT raised ("), line
    assert line.endswith("and the warehouse could not be opened again and read to see whether it holds this run: "
                         "the next run finishes it if the commit was kept, else the warehouse is as it was "
                         "before it"), line
    assert "unchanged" not in line and FILE_NAME not in output and SECRET not in line

    monkeypatch.setattr("flows.nightly._deployed", lambda: True)
    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    [line] = [ln for ln in output.splitlines() if ln.startswith("pilotkpi: scheduled run ")]
    assert " succeeded: files seen 0: " in line, line
    assert _runs(wh) == [("committed_with_errors", EVERY_STEP, True), ("succeeded", None, False)]
    _restricted_store_holds_the_first_night(tmp_path)
    _open_store_holds_the_first_night(published_path(wh))


def test_an_approval_whose_commit_outcome_cannot_be_read_is_applied_once_by_the_next_job(tmp_path, prefect_harness,
                                                                                         monkeypatch):
    """The committee's `approve` runs the same job (flows/approval.py): the same fault there says
    the next run decides (never "unchanged", no restricted file name), and the next job, a quiet
    night, completes it. tests/test_restricted_decisions.py's story: 2548-Q2 of the restricted pilot
    closed at 2.5000; u1 (S9 = 35) held; approved, it scores 3 + (35 - 30)/(40 - 30) = 3.5000,
    on_target, changed since closing. The decision is recorded once, in the restricted store."""
    from tests.test_pilot_moves import cli, q
    from tests.test_restricted_decisions import U1, q2

    registry, inbox = make_restricted_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    rs = files_of(wh).restricted
    assert run(tmp_path, registry, inbox)[0] == 0
    base = ["--registry", registry, "--warehouse", wh, "--out", tmp_path / "out", "--as-of", "2005-05-15"]
    assert cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", *base)[0] == 0
    late = tmp_path / "inbox2"
    late.mkdir()
    (late / U1[0]).write_bytes(U1[1])
    assert run(tmp_path, registry, late)[0] == 0
    [(u1,)] = q(rs, "SELECT submission_id FROM ingest.submissions WHERE file_name = ?", [U1[0]])

    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    _cannot_open_again(monkeypatch)
    code, output = cli("approve", u1, "--by", "Somchai", "--note", "typo fixed", *base)
    monkeypatch.undo()
    assert code == 1, output
    assert "the warehouse is unchanged" not in output and "Z8Q" not in output
    assert "could not be opened again and read to see whether it holds this run" in output, output
    assert rs.with_name(rs.name + ".next").exists()

    code, output = cli("run", "--registry", registry, "--inbox", late, "--warehouse", wh, "--out", tmp_path / "out",
                       "--as-of", "2005-05-15")
    assert code == 0, output
    assert not rs.with_name(rs.name + ".next").exists()
    applied = [(Decimal("3.5000"), "on_target", True, True)]
    assert q2(wh) == q2(rs) == q2(published_path(wh)) == applied
    assert q(rs, "SELECT action, submission_id, note, status_after FROM approval.decisions ORDER BY decision_id") == [
        ("approve", u1, "typo fixed", "accepted")]
    assert q(rs, "SELECT status FROM ingest.submissions WHERE submission_id = ?", [u1]) == [("accepted",)]
