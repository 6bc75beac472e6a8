"""Prefect's temporary server: started by the job itself, and never outliving it.

Where no PREFECT_API_URL names a running server, Prefect runs its API in a temporary server
process for the life of the job (its "ephemeral" mode: uvicorn serving
prefect.server.api.server:create_app, the UI off). This module starts that same server itself:
- **Tied to the job.** Prefect stops its server at exit; a job killed with SIGKILL never gets
  there, and the server, re-parented to init, ran on. Prefect offers no hook into its Popen, so
  the server is started here, with a small watchdog process beside it: the watchdog blocks
  reading a pipe whose only write end this process holds. The kernel closes that end when the
  job dies, however it dies; the watchdog then stops the server, if it is still the same process
  (pid and start time), and exits.
- **Stopped after the job, not waited for.** A job that ends normally leaves the stop to its
  watchdog too: the server gets its SIGTERM the moment the job's process is gone, after every
  exit handler of the job ran (Prefect's log and event workers have sent what they held, and the
  flow run's final state was set before), and shuts down as it did when the job stopped it
  itself (Prefect's own stop: SIGTERM, 5 s, SIGKILL), while the job's caller (cron, a shell, the
  bench) goes on. The server's output reaches the job's stderr through a pipe the job reads
  while it runs (`_forward`), so that nothing the caller waits on (its pipes' end of file) is held
  by the server after the job. A next job on the same PREFECT_HOME may start while this server
  is still shutting down: two servers on one Prefect database, as two jobs at once have always
  been (SQLite's own locking; tests/test_temporary_server.py runs two nights back to back).
  Without /proc (no watchdog) the job stops and waits for its server at exit, as before.
- **Without importing the server in the job.** Prefect's own starter lives in
  prefect.server.api.server, whose import (FastAPI, SQLAlchemy, every API route: about 1.3 s of
  CPU) the job's process never needs: the API runs in the server's process. The job's Prefect
  finds the server through PREFECT_API_URL, set in this process (not in the server's).
- **In two halves.** `launch_server` starts the process and returns at once; `TemporaryServer.ready`
  waits for it. `pilotkpi run` imports the job's modules in between, while the server boots on
  the other core (flows/cli.py). The `server_start` stage times only `ready`: what the job
  waited for the server, never the job's own work (bench/run.py subtracts that stage).
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import threading
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

SERVER_APP = "prefect.server.api.server:create_app"  # what Prefect's SubprocessASGIServer serves
# The server's process: uvicorn's command line (`python -m uvicorn` runs the same `main`), after the
# app's module is imported with the garbage collector off. That import builds thousands of classes
# (pydantic models, SQLAlchemy tables, routes) and frees next to nothing; the collector's walks over
# them were ~12% of its CPU (measured 2026-12-05: 3.5-3.8 s against 3.0-3.35 s at a load of 12).
# What it built is then frozen (never walked again) and the collector is on for the server's life.
SERVER_MAIN = r"""
import gc, sys
gc.disable()
import prefect.server.api.server
gc.freeze()
gc.enable()
if sys.stdin.buffer.readline() != b"serve\n":  # the job refused its run: never served (SERVE_GATE)
    sys.exit(0)
from uvicorn.main import main
main()
"""
# SERVE_GATE: the server's process imports its code at once, but starts serving (uvicorn: the app
# built, Prefect's database opened and migrated, the port listened on) only once the job writes
# "serve" to its stdin (`TemporaryServer.serve`), after the run's checks passed. A run refused
# before its flow (a broken warehouse, restricted store or registry) stops the process before
# that (`abandon`): no Prefect server is started for it. The good path usually does not wait for
# the gate: the checks usually end before the server's import does (measured 2026-12-05, the
# import is 1.5-3.5 s of CPU, the checks at 400 pilots 0.3-1.9 s: the ranges overlap). When they
# end later, the server waits at its gate for them, and `server_start` grows by the difference.
# The environment Prefect's SubprocessASGIServer gives its server: no UI, and marked ephemeral.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
# Not Prefect's: its block types are not registered at the start of a temporary server. pilotkpi
# uses no block (no result storage, notification or credentials block), and a client saving one
# registers its type itself. The registration cost every start CPU even when its memo skipped it:
# the memo's check loads every installed Prefect collection (prefect_dask, hence dask, distributed
# and numpy: ~0.6 s of CPU), and the first start on a new database registered ~80 block types
# (~0.6 s more; measured 2026-12-05, bench/results/2026-12-05-C-server-start.md). The memo is off
# too, so that this server writes no memo of a registration it skipped: a full server on the same
# PREFECT_HOME (`pilotkpi server`) still registers them at its own start. Defaults only: an
# operator's own value of either setting wins.
SERVER_DEFAULTS = {"PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "0",
                   "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "0"}
UVICORN_PORT_IN_USE = 3  # uvicorn's exit code when its port was taken meanwhile: launched again
# uvicorn also exits with 3 when the app fails to start (a locked or unwritable Prefect database):
# a few relaunches, then the exit code is the error, not 90 s of relaunching.
MAX_RELAUNCHES = 3
DEFAULT_STARTUP_TIMEOUT = 90.0

_watchdogs: list[subprocess.Popen] = []  # referenced for the life of the process: its pipe is the signal


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _configured_api_url() -> str | None:
    """The API URL Prefect is configured with (environment, profile, a harness's settings)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" not in sys.modules:  # not imported yet: checked again in `ready`
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


class TemporaryServer:
    """Prefect's temporary server process, watched (module docstring)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.launched_at = 0.0
        self.watched = False  # a watchdog stops it when this process ends
        self.serving = False  # told to serve (SERVE_GATE)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        """Start the server's process and its watchdog; return at once."""
        spec = importlib.util.find_spec("prefect")  # where Prefect is, without importing it
        self.port = _free_port()
        env = dict(os.environ)
        if "prefect.settings" in sys.modules:  # settings applied in code (a harness's home, database): as Prefect passes them
            from prefect.settings import get_current_settings

            env.update(get_current_settings().to_environment_variables(exclude_unset=True))
        env.pop("PREFECT_API_URL", None)  # the server serves the API: it needs none
        env.update(SERVER_ENV)
        for name, value in SERVER_DEFAULTS.items():
            env.setdefault(name, value)
        self.launched_at = time.perf_counter()
        # Where a watchdog can tie it to the job (/proc), the server and its watchdog run in sessions
        # of their own: a Ctrl-C (SIGINT to the terminal's process group) or a signal to the job's
        # group reaches the job only, which handles it while its server still answers (verifier VC:
        # the server died with the Ctrl-C, and a job interrupted after its commit, or a job going on
        # without its server, said "the warehouse is unchanged"); the watchdog still stops the server
        # once the job is gone, however it went.
        own_session = Path("/proc/self/stat").exists()
        # Its output (stderr, and stdout, which it does not use) comes through a pipe (module docstring).
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_MAIN, "--app-dir", str(Path(spec.origin).parent.parent), "--factory",
             SERVER_APP, "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error",
             "--lifespan", "on"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=own_session)
        if self.serving:  # launched again (its port taken meanwhile): it was told to serve already
            self._tell_to_serve()
        threading.Thread(target=_forward, args=(self.process.stdout,), name="temporary-server-output",
                         daemon=True).start()
        started = start_time(self.process.pid)
        self.watched = started is not None  # Linux (/proc); elsewhere the atexit stop is all there is
        if self.watched:
            _watchdogs.append(subprocess.Popen([sys.executable, "-c", WATCHDOG, str(self.process.pid), started],
                                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=own_session))

    def serve(self) -> None:
        """The run's checks passed: the server may start serving (SERVE_GATE)."""
        self.serving = True
        self._tell_to_serve()

    def _tell_to_serve(self) -> None:
        try:
            self.process.stdin.write(b"serve\n")
            self.process.stdin.flush()
        except OSError:  # it exited already: `ready` reports its exit code
            pass

    def abandon(self) -> None:
        """The run was refused before its flow: stop the process before it ever serves."""
        if not self.serving:
            self.stop()

    def ready(self) -> int | None:
        """Point this process's Prefect at the server and wait until it answers; its pid. None,
        the server stopped, where Prefect's settings name another server (a profile, a harness)."""
        from prefect.context import refresh_global_settings_context
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url and settings.api.url != self.api_url:
            self.stop()
            return None
        timeout = float(settings.server.ephemeral.startup_timeout_seconds or DEFAULT_STARTUP_TIMEOUT)
        if not self.serving:
            self.serve()
        self._wait_until_healthy(timeout, refresh_global_settings_context)
        return self.process.pid

    def _wait_until_healthy(self, timeout: float, refresh) -> None:
        import httpx

        from warehouse.stages import record

        self._use(refresh)
        deadline, relaunches = time.monotonic() + timeout, 0
        with httpx.Client() as client:
            while True:
                code = self.process.poll()
                if code == UVICORN_PORT_IN_USE and relaunches < MAX_RELAUNCHES:  # the port taken meanwhile: again
                    relaunches += 1
                    self.launch()
                    self._use(refresh)
                elif code is not None:
                    raise RuntimeError(f"Prefect's temporary server exited with code {code} before it answered")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        self._answers_its_api(client)
                        # Its launch to its API's first answer: the job's imports ran beside it
                        # (not subtracted by bench/run.py, which subtracts `server_start`).
                        record("server_boot", time.perf_counter() - self.launched_at)
                        return
                except httpx.TransportError:
                    pass
                except httpx.HTTPStatusError as exc:  # a server still starting may answer 5xx: wait on
                    if exc.response.status_code < 500:
                        raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Prefect's temporary server did not answer within {timeout:.0f} s")
                time.sleep(0.05)

    def _answers_its_api(self, client) -> None:
        """Ask the API the question Prefect's client asks first (its version handshake), and wait
        for the answer: the server is started when its API answers, not only its health route.

        The health route is the API app's own first route; every other route sits in one of ~30
        routers that FastAPI (0.150) turns into routes only when a request first walks past them.
        The first API request therefore waits while the server builds them: about 0.3 s of the
        server's CPU, 1.1-1.2 s of wall time at a load of 8 (measured 2026-12-05: 1.1 s for
        the first /admin/version after /health answered, 0.01 s for the next ones). That is the
        server's start, done late; the job's first call to the flow run's API waited for it
        until now. The answer is this Prefect's own version (the server runs from the same
        installation), so the flow's client need not ask again (nightly_settings)."""
        from prefect import __version__

        answer = client.get(f"{self.api_url}/admin/version")
        answer.raise_for_status()
        if answer.json() != __version__:
            raise RuntimeError(f"Prefect's temporary server runs Prefect {answer.json()}, this job {__version__}")

    def _use(self, refresh) -> None:
        os.environ["PREFECT_API_URL"] = self.api_url  # the children the job starts use it too
        refresh()  # Prefect read its settings from the environment when imported

    def stop_at_exit(self) -> None:
        """At this process's exit: a watched server is stopped by its watchdog once this process is
        gone (module docstring); an unwatched one is stopped here, and waited for."""
        if not self.watched:
            self.stop()

    def stop(self) -> None:
        """Stop the server and wait for it (at most 5 s, then killed), as Prefect's own stop does."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _forward(pipe) -> None:
    """The server's output to this process's stderr (file descriptor 2, where it went when the
    server shared it), for as long as this process runs."""
    with pipe:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            try:
                while chunk:
                    chunk = chunk[os.write(2, chunk):]
            except OSError:  # stderr closed: the output has nowhere to go
                pass


def launch_server() -> TemporaryServer | None:
    """Launch the temporary server now, watched, without waiting for it; None where a running
    server is configured (PREFECT_API_URL: `serve`, the tests' harness)."""
    if _configured_api_url():
        return None
    server = TemporaryServer()
    server.launch()
    atexit.register(server.stop_at_exit)  # registered before Prefect's own handlers, so it runs after them
    return server


# What Prefect imports only once a flow runs: the modules new in a quiet night's process after its
# server answered (140 of them, measured 2026-12-06 at 400 pilots: FastAPI and Starlette for the
# parameters' encoder, the flow and task engines, graphviz for the flow's visualisation hook,
# OpenTelemetry, anyio's backend). Imported by `pilotkpi run` while its server boots, when its
# process has nothing else to do (a quiet night waits for the server), instead of after, when the
# night waits for them; bench/prefect_floor.py imports them as the night does.
RUN_ENGINE_MODULES = (
    "fastapi.encoders", "prefect.utilities.visualization", "prefect.flow_engine", "prefect.task_engine",
    "prefect.engine", "prefect.concurrency.context", "prefect.concurrency.v1.context", "prefect.concurrency._sync",
    "prefect._internal.control_listener", "prefect._internal.attempt_control", "prefect._internal.retries",
    "prefect.telemetry.run_telemetry", "anyio._backends._asyncio", "anyio.streams.memory", "anyio.streams.stapled",
    "anyio.streams.tls", "anyio._core._sockets", "anyio.abc._testing", "encodings.unicode_escape",
    "encodings.utf_8_sig")


def temporary_server_settings():
    """Prefect's settings for a run on this temporary server (flows/nightly.py nightly_settings
    says why each): no heartbeats, no version check, no CSRF token where the server asks none.
    Here, free of the job's imports, so that bench/prefect_floor.py runs with the very same."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, "client.server_version_check_enabled": False}
    if not get_current_settings().server.api.csrf_protection_enabled:
        updates["client.csrf_support_enabled"] = False
    return temporary_settings(updates=updates)


def import_run_engine() -> None:
    """Import RUN_ENGINE_MODULES now (a module another Prefect release moved is left to Prefect)."""
    import importlib

    for name in RUN_ENGINE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def start_server_tied_to_this_process() -> int | None:
    """Start the temporary server and wait for it; its pid, or None where another server is configured."""
    server = launch_server()
    return server.ready() if server is not None else None
