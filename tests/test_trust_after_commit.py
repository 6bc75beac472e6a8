"""A night that fails or is interrupted after its commit says it committed (verifier VC).

`pilotkpi run` said "the run failed and the warehouse is unchanged" and exited 1 (docs: nothing
committed) for a night whose temporary Prefect server died after the commit: the night had
committed, filed its files away and published. A Ctrl-C (SIGINT to the terminal's process group)
killed the server with the job, and a job interrupted after its commit printed only "Aborted!",
exit 1. Now the server and its watchdog run in sessions of their own, and a run that committed ends
with exit 5 and the steps ops.runs says were not done.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.support import migrated_prefect_home
from tests.test_flow import AS_OF, make_scenario
from tests.test_server_cleanup import alive, cmdline, descendants

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _interruptible() -> None:
    """Ctrl-C as a terminal's foreground job has it: a shell that starts jobs in the background (CI's)
    sets SIGINT ignored, and an ignored signal stays ignored through exec, so Python would never
    raise KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Night:
    """`pilotkpi run` on its own temporary server, in its own process group (as a terminal's
    foreground job), paused at a test point."""

    def __init__(self, root: Path, point: str, resume: bool = False, command: str = "run", **env: str):
        self.root, self.marker = root, root / f"paused-{point}"
        self.registry, self.inbox = (root / "registry", root / "inbox") if (root / "registry").exists() \
            else make_scenario(root)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}  # its own server
        environ.update(PILOTKPI_PAUSE_AT=point, PILOTKPI_PAUSE_MARKER=str(self.marker),
                       PREFECT_HOME=str(migrated_prefect_home(root / "ph")), **env)
        if resume:
            environ["PILOTKPI_PAUSE_RESUME"] = str(root / "resume")
        inbox = ["--inbox", str(self.inbox)] if command == "run" else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", command, "--registry", str(self.registry), *inbox,
             "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF],
            env=environ, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_interruptible)
        self.started: dict[int, str] = {}

    def paused(self) -> None:
        deadline = time.monotonic() + 180
        while not self.marker.exists():
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended before its pause point: {self.proc.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "the run never reached its pause point"
            time.sleep(0.1)
        self.started = descendants(self.proc.pid)

    def server(self) -> int:
        [pid] = [pid for pid in self.started if "prefect.server.api.server:create_app" in cmdline(pid)]
        return pid

    def end(self, timeout: float = 120) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 20  # what it started ends with it (its watchdog)
        while alive(self.started) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(self.started)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == {}, "left running after the run ended"
        return self.proc.returncode, out, err


def _runs(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT run_id, status, files_seen, accepted, failed_steps FROM ops.runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def _accepted(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM ingest.submissions WHERE status = 'accepted'").fetchall()[0][0]
    finally:
        con.close()


def test_a_night_whose_temporary_server_dies_after_its_commit_says_it_committed(tmp_path):
    night = Night(tmp_path, "letters", resume=True, PREFECT_CLIENT_MAX_RETRIES="0")
    night.paused()
    os.kill(night.server(), signal.SIGKILL)  # the OOM killer's likely pick
    (tmp_path / "resume").touch()
    code, out, err = night.end()
    [(run_id, status, seen, accepted, failed)] = _runs(tmp_path / "wh.duckdb")
    # Its steps may all be done (the artifact sent before the server died): only Prefect's record
    # of the flow run's end then fails; else the artifact is among the steps not done.
    assert status in ("succeeded", "committed_with_errors") and seen == 6, (status, seen)
    assert accepted == _accepted(tmp_path / "wh.duckdb") > 0
    assert code == 5, (out, err)
    assert "unchanged" not in err
    assert f"pilotkpi: run {run_id} failed: " in err and ", after its commit" in err, err
    assert f"pilotkpi: committed to the warehouse: run {run_id}, files seen 6" in err, err
    if status == "succeeded":
        assert "every step after the commit was done (ops.runs: succeeded)" in err
    for step in (failed or "").split(",") if failed else ():
        assert f"  {step}: " in err
    assert not any(p.is_file() for p in night.inbox.iterdir())  # filed away: the inbox holds folders only


def test_ctrl_c_after_the_commit_exits_5_and_the_next_night_completes_it(tmp_path):
    night = Night(tmp_path, "letters")
    night.paused()
    os.killpg(night.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches its foreground process group
    code, out, err = night.end()
    [(run_id, status, seen, _, failed)] = _runs(tmp_path / "wh.duckdb")
    assert (status, seen) == ("committed_with_errors", 6)
    assert code == 5, (out, err)
    assert f"pilotkpi: run {run_id} was interrupted (Ctrl-C), after its commit" in err
    assert f"pilotkpi: committed to the warehouse: run {run_id}, files seen 6" in err
    assert "letters" in failed.split(",") and "unchanged" not in err

    again = Night(tmp_path, "none")
    code, out, err = again.end()
    assert code == 0, (out, err)
    runs = _runs(tmp_path / "wh.duckdb")
    assert [r[1] for r in runs] == ["committed_with_errors", "succeeded"] and runs[1][2] == 0


def test_ctrl_c_before_the_commit_says_the_warehouse_is_unchanged(tmp_path):
    night = Night(tmp_path, "marts")
    night.paused()
    started = time.monotonic()
    os.killpg(night.proc.pid, signal.SIGINT)
    code, out, err = night.end()
    assert code == 1, (out, err)
    assert "pilotkpi: the run was interrupted (Ctrl-C) before its commit: the warehouse is unchanged" in err
    assert time.monotonic() - started < 60  # its server still answered: no minutes of retries
    assert [r for r in _runs(tmp_path / "wh.duckdb") if r[1] != "failed"] == []
    assert _accepted(tmp_path / "wh.duckdb") == 0
    assert sum(p.is_file() for p in night.inbox.iterdir()) == 6  # nothing filed away


def test_a_night_killed_with_its_process_group_leaves_no_server(tmp_path):
    """The server and its watchdog are outside the job's process group now: a SIGKILL of the group
    ends the job, and the watchdog then stops the server."""
    night = Night(tmp_path, "ingest")
    night.paused()
    assert night.server()
    os.killpg(night.proc.pid, signal.SIGKILL)
    night.end()


def test_a_rebuild_interrupted_after_its_commit_says_it_committed(tmp_path):
    """The jobs of the other commands (a rebuild here; reprocess and the committee's decisions go
    the same way, flows/cli_maintenance.py) say the same."""
    assert Night(tmp_path, "none").end()[0] == 0
    rebuild = Night(tmp_path, "letters", command="rebuild")
    rebuild.paused()
    os.killpg(rebuild.proc.pid, signal.SIGINT)
    code, out, err = rebuild.end()
    runs = _runs(tmp_path / "wh.duckdb")
    assert [r[1] for r in runs] == ["succeeded", "committed_with_errors"]
    assert code == 5, (out, err)
    assert f"pilotkpi: run {runs[1][0]} was interrupted (Ctrl-C), after its commit" in err
    assert f"pilotkpi: committed to the warehouse: run {runs[1][0]}, files seen 0" in err
    assert "the next run does them: " in err and "letters" in err and "unchanged" not in err


def test_what_a_job_stopped_around_its_commit_says(tmp_path, capsys, monkeypatch):
    """flows/cli_common.after_the_commit over the commit events a job leaves (flows/nightly.py):
    committed, then any error or a Ctrl-C: exit 5; a Ctrl-C during the COMMIT: not known, exit 1;
    before it: unchanged, exit 1; an error before any commit (a refusal, a ValueError) is the
    caller's to say (reviewer RV6: a ValueError after a decision's commit was "refused", exit 1)."""
    from flows import commits
    from flows.cli_common import after_the_commit, commit_mark

    monkeypatch.setattr(commits, "_commit_events", [])
    missing = tmp_path / "nowhere.duckdb"
    mark = commit_mark()
    assert after_the_commit(mark, ValueError("bad period"), missing, None) is None
    assert after_the_commit(mark, KeyboardInterrupt(), missing, None) == 1
    assert capsys.readouterr().err == ("pilotkpi: the run was interrupted (Ctrl-C) before its commit: the warehouse "
                                       "is unchanged\n")
    commits._commit_events.append(("committing", "run-a"))
    assert after_the_commit(mark, KeyboardInterrupt(), missing, None) == 1
    assert "pilotkpi: run run-a was interrupted (Ctrl-C) during its commit: whether the commit was kept is not " \
           "known" in capsys.readouterr().err
    commits._commit_events.append(("committed", "run-a"))
    assert after_the_commit(mark, ValueError("bad period"), missing, None) == 5
    err = capsys.readouterr().err
    assert err.startswith("pilotkpi: run run-a failed: ValueError: bad period, after its commit\n")
    assert "pilotkpi: committed to the warehouse: run run-a; its record in ops.runs could not be read" in err
    assert after_the_commit(commit_mark(), KeyboardInterrupt(), missing, None) == 1  # a later job's own mark
