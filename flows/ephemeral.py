"""Prefect's ephemeral server: started by the CLI itself, tied to the job, and never imported here.

Prefect 3.8.8 runs its ephemeral API server as a subprocess (SubprocessASGIServer) and stops it
at exit; a job killed with SIGKILL never gets there, and the server, re-parented to init, runs on.
So the CLI starts the server itself and a small watchdog process beside it: the watchdog blocks
reading a pipe whose only write end this process holds. The kernel closes that end when the job
dies, however it dies; the watchdog then stops the server, if it is still the same process (pid
and start time), and exits. A job that ends normally stops the server itself (atexit).

Why not Prefect's own class: importing `prefect.server.api.server` (for SubprocessASGIServer)
loads the whole server into the job's process, FastAPI, SQLAlchemy and 1,000 modules more, for a
class whose work is one `Popen` and a health check: 74 MiB of the flow process's peak and 1.25 CPU
s of its start (measured, 2026-12-05), code that only ever runs in the server's own process. So
this module runs Prefect's command itself (`server_command`, the same arguments and environment as
SubprocessASGIServer._run_uvicorn_command; tests/test_ephemeral_server.py compares the two, so a
Prefect upgrade that changes them fails a test) and points this process's Prefect at it
(PREFECT_API_URL, as `pilotkpi serve` does for a running server).
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

# Runs as `python -c`; kept free of imports from this project so it starts in milliseconds.
WATCHDOG = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the job's to handle; it stops the server then
pid, started = int(sys.argv[1]), sys.argv[2]
sys.stdin.buffer.read()  # returns at end of file: the job has exited
def alive():
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode() == started
    except OSError:
        return False
for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
    if not alive():
        break
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        break
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
"""

# What SubprocessASGIServer adds to the server's environment: no UI, the ephemeral app (no
# background services), the settings final.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
PORT_IN_USE = 3  # uvicorn's exit status when it cannot bind: Prefect then tries another port, as here

_watchdogs: list[subprocess.Popen] = []  # referenced for the life of the process: its pipe is the signal


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def server_command(port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment Prefect's SubprocessASGIServer starts its server with."""
    import prefect
    from prefect.settings import get_current_settings

    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level",
            "error", "--lifespan", "on"]
    return args, {**os.environ, **SERVER_ENV, **get_current_settings().to_environment_variables(exclude_unset=True)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """As Prefect stops its server at exit: SIGTERM, 5 s, then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_server() -> tuple[subprocess.Popen, str]:
    """The server started and answering its health check: (its process, its API URL)."""
    import httpx
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    port = _free_port()
    process = _launch(port)
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if process.poll() == PORT_IN_USE:  # the port was taken in between: another one
                port = _free_port()
                process = _launch(port)
                continue
            if process.poll() is not None:
                break
            try:
                if client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                    atexit.register(_stop, process)
                    return process, f"http://127.0.0.1:{port}/api"
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    _stop(process)
    ended = "" if process.returncode is None else f"; it exited with status {process.returncode}"
    raise RuntimeError(f"Prefect's temporary API server did not answer within {timeout} s{ended}")


def _launch(port: int) -> subprocess.Popen:
    args, env = server_command(port)
    return subprocess.Popen(args, env=env)


def _use_api(url: str) -> None:
    """Point Prefect at `url`, in every thread of this process (its settings are read once, at
    import, into a global context: refreshed here from the environment) and in its children."""
    import prefect.context

    os.environ["PREFECT_API_URL"] = url
    prefect.context.refresh_global_settings_context()


def start_server_tied_to_this_process() -> int | None:
    """Start the ephemeral server now, watched; its pid, or None where another server is configured."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # a real server (serve, tests' harness), or ours already: nothing to start
        return None
    process, url = _start_server()
    _use_api(url)
    started = start_time(process.pid)
    if started is not None:  # Linux (/proc); elsewhere the atexit stop is all there is
        _watchdogs.append(subprocess.Popen([sys.executable, "-c", WATCHDOG, str(process.pid), started],
                                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
    return process.pid
