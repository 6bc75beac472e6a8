"""A run killed with SIGKILL leaves no process behind: the Prefect ephemeral server it started
stops with it (flows/ephemeral.py). Only the job's own pid is killed, as the OOM killer or a
`kill -9 PID` would, not its process group."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.ephemeral import start_time
from tests.support import migrated_prefect_home
from tests.test_flow import AS_OF, make_scenario

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its start time (so a reused pid is not mistaken for it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            started = start_time(child)
            if started is not None:
                found[child] = started
                todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_and_check_nothing_left(proc: subprocess.Popen, started: dict[int, str]) -> None:
    """SIGKILL the job alone (if it still runs); every process it started must then end by
    itself (its watchdog, the gate's end of file), or the test fails; none is left either way."""
    try:
        if proc.poll() is None:  # the job alone: its watchdog and the gate's end of file do the rest
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 20
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(started) == {}, "left running after the job was killed"
    finally:
        for pid in alive(started):  # whatever a failing run left: never leave it to the machine
            os.kill(pid, signal.SIGKILL)


def alive(processes: dict[int, str]) -> dict[int, str]:
    return {pid: cmdline(pid) for pid, started in processes.items() if start_time(pid) == started}


def test_a_killed_run_leaves_no_prefect_server_behind(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    marker = tmp_path / "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}  # the ephemeral server
    env.update(PILOTKPI_PAUSE_AT="ingest", PILOTKPI_PAUSE_MARKER=str(marker), PREFECT_HOME=str(migrated_prefect_home(tmp_path / "ph")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox", str(inbox),
         "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"), "--as-of", AS_OF],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before its pause point: {proc.stdout.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the run never reached its pause point"
            time.sleep(0.1)
        started = descendants(proc.pid)
        assert any("prefect.server.api.server:create_app" in cmdline(pid) for pid in started), started

        kill_and_check_nothing_left(proc, started)  # the job alone
    finally:
        for pid in alive(started):  # whatever a failing run left: never leave it to the machine
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
