"""A run refused before its flow starts no Prefect server (flows/cli.py, flows/ephemeral.py
SERVE_GATE). `pilotkpi run` launches its temporary server's process as soon as it holds the run
lock, so the server imports its code while the job checks its inputs; the process serves (its
app built, Prefect's database opened, its port listened on) only once the checks passed. A
refused run stops it before that. Whole `pilotkpi run` processes on a fresh PREFECT_HOME, paused
at the project's test points (warehouse/testpoints.py)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_flow import AS_OF, make_scenario
from tests.test_server_cleanup import alive, cmdline, descendants

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

SERVER_CODE = "prefect.server.api.server"  # in the server process's command line (ephemeral.SERVER_MAIN)


def _run_paused_at(tmp_path: Path, point: str, registry: Path, inbox: Path) -> tuple[subprocess.Popen, Path]:
    """`pilotkpi run` on its own temporary server, paused at `point`; its process, once there."""
    marker = tmp_path / "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "PILOTKPI_"))}
    env.update(PILOTKPI_PAUSE_AT=point, PILOTKPI_PAUSE_MARKER=str(marker), PREFECT_HOME=str(tmp_path / "ph"))
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


def _kill_and_check_nothing_left(proc: subprocess.Popen, started: dict[int, str]) -> None:
    try:
        os.kill(proc.pid, signal.SIGKILL)  # the job alone: its watchdog and the gate's end of file do the rest
        proc.wait()
        deadline = time.monotonic() + 20
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(started) == {}, "left running after the job was killed"
    finally:
        for pid in alive(started):  # whatever a failing run left: never leave it to the machine
            os.kill(pid, signal.SIGKILL)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _idle_at_its_gate(pid: int, timeout: float = 120) -> None:
    """Wait until the process has done its imports and sleeps (blocked on its stdin): its CPU
    ticks unchanged for a whole second."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        ticks = _cpu_ticks(pid)
        if ticks == last:
            return
        last = ticks
        time.sleep(1.0)
    pytest.fail("the server's process never went idle")


def test_a_run_refused_for_its_registry_has_stopped_its_server_before_it_served(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    (registry / "agencies.yaml").write_text("agencies: [unclosed\n", encoding="utf-8")  # not YAML: exit 4
    proc, home = _run_paused_at(tmp_path, "refused", registry, inbox)
    started = descendants(proc.pid)
    try:
        # The refusal is decided: no process of the job runs the server's code any more, and none
        # ever served: Prefect's database (PREFECT_HOME/prefect.db, Prefect's default) was never made.
        assert [cmdline(pid) for pid in started if SERVER_CODE in cmdline(pid)] == []
        assert not (home / "prefect.db").exists()
    finally:
        _kill_and_check_nothing_left(proc, started)


def test_the_server_is_launched_before_the_checks_but_serves_only_after_them(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    proc, home = _run_paused_at(tmp_path, "checks", registry, inbox)
    started = descendants(proc.pid)
    try:
        # Launched already (its code imports while the job checks: the good path does not wait)...
        [server] = [pid for pid in started if SERVER_CODE in cmdline(pid)]
        args = cmdline(server).split()
        port = int(args[args.index("--port") + 1])
        _idle_at_its_gate(server)
        # ...but, its imports done, it waits to be told: no database, nothing listening on its port.
        assert not (home / "prefect.db").exists()
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        _kill_and_check_nothing_left(proc, started)


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
    assert not (tmp_path / "ph" / "prefect.db").exists()  # no Prefect server ever served
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "out").exists()
    assert sorted(p.name for p in inbox.iterdir()) == before  # nothing filed away
