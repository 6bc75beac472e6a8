"""Prefect's ephemeral server must not outlive the job that started it.

Prefect 3.8.8 runs its ephemeral API server as a subprocess (SubprocessASGIServer) and stops it
at exit; a job killed with SIGKILL never gets there, and the server, re-parented to init, runs on.
Prefect offers no hook into that Popen, so instead the CLI starts the server itself (the same
instance Prefect then uses) and a small watchdog process beside it: the watchdog blocks reading a
pipe whose only write end this process holds. The kernel closes that end when the job dies,
however it dies; the watchdog then stops the server, if it is still the same process (pid and
start time), and exits. A job that ends normally stops the server itself (Prefect's atexit).
"""
from __future__ import annotations

import subprocess
import sys
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

_watchdogs: list[subprocess.Popen] = []  # referenced for the life of the process: its pipe is the signal


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def start_server_tied_to_this_process() -> int | None:
    """Start the ephemeral server now, watched; its pid, or None where another server is configured."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # a real server (serve, tests' harness): nothing of ours to stop
        return None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    pid = server.server_process.pid
    started = start_time(pid)
    if started is not None:  # Linux (/proc); elsewhere Prefect's own atexit is all there is
        _watchdogs.append(subprocess.Popen([sys.executable, "-c", WATCHDOG, str(pid), started],
                                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
    return pid
