"""A run refused before its flow starts no Prefect server (flows/cli.py, flows/ephemeral.py
SERVE_GATE). `pilotkpi run` launches its temporary server's process as soon as it holds the run
lock, so the server imports its code while the job checks its inputs; the process serves (its
app built, Prefect's database opened, its port listened on) only once the checks passed. A
refused run stops it before that. Whole `pilotkpi run` processes on a fresh PREFECT_HOME, paused
at the project's test points (warehouse/testpoints.py)."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import SERIAL
from tests.test_flow import AS_OF, make_scenario
from tests.test_server_cleanup import alive, cmdline, descendants, kill_and_check_nothing_left

# Whole runs, each with its server's process: one after another, as the other whole-run tests.
pytestmark = [pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"), SERIAL]

SERVER_CODE = "prefect.server.api.server"  # in the server process's command line (ephemeral.SERVER_MAIN)
# The read system call's number, the first field of /proc/PID/syscall (the kernel's syscall tables).
READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}.get(platform.machine())


def _run_paused_at(tmp_path: Path, point: str, registry: Path, inbox: Path,
                   resume: Path | None = None, fail_at: str | None = None) -> tuple[subprocess.Popen, Path]:
    """`pilotkpi run` on its own temporary server, paused at `point` (until `resume` exists, if
    given; failing at `fail_at` first, if given); its process, once there."""
    marker = tmp_path / "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "PILOTKPI_"))}
    env.update(PILOTKPI_PAUSE_AT=point, PILOTKPI_PAUSE_MARKER=str(marker), PREFECT_HOME=str(tmp_path / "ph"))
    if resume is not None:
        env["PILOTKPI_PAUSE_RESUME"] = str(resume)
    if fail_at is not None:
        env["PILOTKPI_FAIL_AT"] = fail_at
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox", str(inbox),
         "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"), "--as-of", AS_OF],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before its pause point: {proc.stdout.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, f"the run never reached {point}"
        time.sleep(0.05)
    return proc, tmp_path / "ph"


def _blocked_reading_its_stdin(pid: int) -> bool:
    """The process sleeps in read(0, ...): /proc/PID/syscall is "NR arg0 ..." while it is in a
    system call ("running" otherwise); NR is read's number, arg0 (in hex) the file descriptor."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == READ_SYSCALL and int(fields[1], 16) == 0


def _wait_at_its_gate(pid: int, timeout: float = 120) -> None:
    """Wait until the server's process has imported its code and is blocked reading its stdin:
    at its gate (SERVE_GATE), where nothing else in it reads file descriptor 0. Seen twice, 0.2 s
    apart."""
    if READ_SYSCALL is None:
        pytest.skip(f"the read system call's number on {platform.machine()} is not known here")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _blocked_reading_its_stdin(pid):
            time.sleep(0.2)
            if _blocked_reading_its_stdin(pid):
                return
        time.sleep(0.05)
    try:
        last = Path(f"/proc/{pid}/syscall").read_text().strip()
    except OSError:
        last = "gone"
    pytest.fail(f"the server's process never waited at its gate (its /proc/{pid}/syscall: {last})")


def test_a_server_launched_before_the_checks_serves_only_after_them_and_a_refused_run_leaves_none(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    (registry / "agencies.yaml").write_text("agencies: [unclosed\n", encoding="utf-8")  # not YAML: exit 4
    resume = tmp_path / "resume"
    proc, home = _run_paused_at(tmp_path, "checks", registry, inbox, resume)
    started = descendants(proc.pid)
    try:
        # Held before its checks until the server has done its imports: a refusal that comes
        # after the import (a slow check, a loaded machine) still finds it waiting at its gate.
        # Without the gate the process never blocks there (the wait fails), and serves.
        [server] = [pid for pid in started if SERVER_CODE in cmdline(pid)]
        args = cmdline(server).split()
        port = int(args[args.index("--port") + 1])
        # Launched before the checks (its code imports while the job checks)... but, its imports
        # done, it waits to be told (blocked reading its stdin): no database, nothing listening on
        # its port. (The registry is read only by the checks, after this pause: a good registry
        # gives the same state here. Until 2026-12-06 a second run with one showed it.)
        _wait_at_its_gate(server)
        assert not (home / "prefect.db").exists()
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        resume.write_text("go on", encoding="utf-8")
        assert proc.wait(timeout=60) == 4, proc.stdout.read().decode()[-2000:]  # EXIT_REGISTRY
        # Refused: stopped at its gate and waited for by the job (`abandon`), so it was gone
        # before the job was; the end of its stdin and the watchdog, the fallbacks, stop it only
        # once the job is gone. Then nothing of the job runs, and the server never served:
        # Prefect's database (PREFECT_HOME/prefect.db, Prefect's default) was never made.
        assert alive({server: started[server]}) == {}
        deadline = time.monotonic() + 20
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(started) == {}
        assert not (home / "prefect.db").exists()
    finally:
        kill_and_check_nothing_left(proc, started)


def test_a_failure_injected_at_the_checks_pause_point_abandons_the_server_too(tmp_path):
    registry, inbox = make_scenario(tmp_path)  # a good registry: only the injected failure refuses the run
    proc, home = _run_paused_at(tmp_path, "refused", registry, inbox, fail_at="checks")
    started = descendants(proc.pid)
    try:
        # The failure at "checks" went through the refusal's path (else the run never pauses at
        # "refused"): the server abandoned, no process of the job runs its code, no database.
        assert [cmdline(pid) for pid in started if SERVER_CODE in cmdline(pid)] == []
        assert not (home / "prefect.db").exists()
    finally:
        kill_and_check_nothing_left(proc, started)


def test_a_run_refused_for_its_registry_exits_4_with_nothing_written(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    (registry / "agencies.yaml").write_text("agencies: [unclosed\n", encoding="utf-8")
    before = sorted(p.name for p in inbox.iterdir())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "PILOTKPI_"))}
    env["PREFECT_HOME"] = str(tmp_path / "ph")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox", str(inbox),
         "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"), "--as-of", AS_OF],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr  # EXIT_REGISTRY
    assert "agencies.yaml" in done.stderr
    # No Prefect server served. A fast refusal (well under the server's import) stops it before its
    # gate even without one: the gate's own proof is the two tests above.
    assert not (tmp_path / "ph" / "prefect.db").exists()
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "out").exists()
    assert sorted(p.name for p in inbox.iterdir()) == before  # nothing filed away
