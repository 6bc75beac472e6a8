"""docs/operations.md, "Reading a failed run": a failed run does not publish, so its own row in
ops.runs is in the working file only. The runbook read the published copy (`pilotkpi sql`) and
showed no failure (verifier VG F1); `pilotkpi sql --working` reads the working file, read-only.

Whole flow: a night that succeeds and publishes, then a night that fails before its commit
(PILOTKPI_FAIL_AT=ingest, after the files are received).
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import make_scenario, run_cli

HISTORY = "SELECT kind, status FROM ops.runs ORDER BY started_at;"
ERROR = "SELECT error FROM ops.runs WHERE error IS NOT NULL ORDER BY started_at DESC LIMIT 1;"


def _sql(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["sql", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def failed_night(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("sql_working")
    registry, inbox = make_scenario(root)
    assert run_cli(registry, inbox, root)[0] == 0
    (inbox / "late.csv").write_bytes((inbox / "processed" / "a_lead_q1.csv").read_bytes() + b"\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("PILOTKPI_FAIL_AT", "ingest")
    mp.setenv("PILOTKPI_FAIL_MESSAGE", "injected: the night stopped")
    try:
        code, out = run_cli(registry, inbox, root)
    finally:
        mp.undo()
    assert code == 1, out
    return root / "wh.duckdb"


def test_the_working_file_shows_the_failed_run_and_its_error(failed_night):
    code, out = _sql("--warehouse", str(failed_night), "--working", "-c", HISTORY)
    assert code == 0, out
    assert [[cell.strip() for cell in line.split("│")[1:3]] for line in out.splitlines() if line.startswith("│ run")] == [
        ["run", "succeeded"], ["run", "failed"]], out
    code, out = _sql("--warehouse", str(failed_night), "--working", "-c", ERROR)
    assert code == 0 and "injected: the night stopped" in out, out


def test_the_published_copy_holds_only_the_run_that_published(failed_night):
    code, out = _sql("--warehouse", str(failed_night), "-c", HISTORY)
    assert code == 0, out
    assert [[cell.strip() for cell in line.split("│")[1:3]] for line in out.splitlines() if line.startswith("│ run")] == [
        ["run", "succeeded"]], out


def test_working_refuses_a_published_copy(failed_night):
    copy = failed_night.with_name("wh.published.duckdb")
    assert copy.exists()
    code, out = _sql("--warehouse", str(copy), "--working", "-c", HISTORY)
    assert code == 1 and "is a published copy: give the working file" in out, out


def test_working_takes_the_run_lock_and_is_refused_while_a_run_holds_it(failed_night):
    """A run lets go of the working file for a moment (publishing afresh, its final record after a
    failed checkpoint): a shell opened then would fail that step (reviewer RV8 F5). `--working`
    holds the run lock, so it is refused while a run holds it (exit 3, as `pilotkpi run`)."""
    import fcntl
    import os

    from warehouse.lock import lock_path

    fd = os.open(lock_path(failed_night), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a nightly run in another process holds it
        code, out = _sql("--warehouse", str(failed_night), "--working", "-c", HISTORY)
    finally:
        os.close(fd)
    assert code == 3 and "pilotkpi sql --working: another run is in progress on" in out, out
    code, out = _sql("--warehouse", str(failed_night), "--working", "-c", HISTORY)
    assert code == 0 and "failed" in out, out


SHELL_CLI = "import sys; sys.argv[0] = 'pilotkpi'; from flows.cli import main; main()"


def test_the_lock_messages_name_what_holds_the_lock(tmp_path, prefect_harness):
    """Verifier VJ F5: `sql --working` refused during a run suggested `--wait`, which sql does not
    have (exit 2, "No such option"); and a night refused by an operator's open `sql --working`
    shell said "another run is in progress", with the shell's pid: a cron night meeting a
    forgotten shell was skipped each night, naming the wrong thing."""
    import subprocess
    import sys
    import time

    from tests.support import child_env
    from tests.test_lock import hold_lock
    from warehouse.lock import lock_path

    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    assert run_cli(registry, inbox, tmp_path)[0] == 0

    holder = hold_lock(wh, 60, tmp_path)  # a job in another process
    try:
        code, out = _sql("--warehouse", str(wh), "--working", "-c", HISTORY)
    finally:
        holder.kill()
        holder.wait()
    assert code == 3 and f"another run is in progress on {wh} (pid {holder.pid} on " in out, out
    assert "--wait" not in out, out  # sql has no --wait

    # An operator's shell left open (reading its statements from a pipe that stays open).
    shell = subprocess.Popen([sys.executable, "-c", SHELL_CLI, "sql", "--warehouse", str(wh), "--working"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=child_env())
    try:
        deadline = time.monotonic() + 60
        while f"pid {shell.pid} on" not in lock_path(wh).read_text():
            assert shell.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        (inbox / "late.csv").write_bytes((inbox / "processed" / "a_lead_q1.csv").read_bytes() + b"\n")
        code, out = run_cli(registry, inbox, tmp_path)
        assert code == 3, out
        assert (f"an operator's `pilotkpi sql --working` shell is open on {wh} (pid {shell.pid} on " in out
                and "no job starts until it is closed" in out), out
        assert "another run" not in out, out
    finally:
        shell.stdin.close()  # the operator leaves the shell (Ctrl-D)
        shell.wait(timeout=60)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0 and "files seen 1:" in out, out  # once the shell is closed, the night runs
