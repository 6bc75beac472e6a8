"""Warm served nights: each flow run of `pilotkpi serve` is forked from a pre-imported process.

Prefect's Runner starts every scheduled run as a cold `python -m prefect.engine`: each night paid
the imports of Prefect, DuckDB, pandas and this project (2 s of CPU), and a night with new files
Great Expectations' import and first use too (3 s more; bench/results/*-served-paired.md).
Here the runner still builds that command, its environment and its control channel as usual
(prefect.runner._starter_engine.EngineCommandStarter), but the command runs in a child forked
from a forkserver (Python's multiprocessing "forkserver" context) that imported all of that once
(flows/warm_preload.py). The child sets the environment the cold process would have had and runs
`prefect.engine`'s own `__main__` block: the same flow, run lock, job and SIGTERM handling.

Why a forkserver, not a fork of `serve` itself: the server process runs an event loop and
Prefect's threads, and forking a threaded process can copy a held lock. The forkserver only
imports; it is single-threaded (tests/test_serve_warm.py checks it), so forking it is safe.
Isolation is as before: each night is its own process, so a crash, a SIGKILL or a leak ends with
it, and the next night forks afresh. A forkserver that died is started again by multiprocessing.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ENGINE_MODULE = "prefect.engine"
WARM_REGISTRY_ENV = "PILOTKPI_WARM_REGISTRY"  # the registry folder the forkserver parses once (serve sets it)
PRELOAD = ["flows.warm_preload"]
STOP_GRACE_SECONDS = 30.0  # after the SIGTERM of a stopping runner, before SIGKILL
# Printed by each warm night on its stdout (streamed into `pilotkpi serve`'s output), parsed by
# the tests and the bench: the CPU seconds the night's process spent before the engine ran.
START_LINE = "pilotkpi: warm night"
WARM_MODULES = ("prefect", "flows.nightly", "great_expectations")  # named in START_LINE when imported

_context: Any = None
_started_at: float | None = None


def preload_registry() -> bool:
    """Parse the registry named by WARM_REGISTRY_ENV into pilots/registry.py's memo (in the
    forkserver, flows/warm_preload.py); True when it is there. A registry that does not load is
    left for the night to report: nothing here may stop the forkserver (multiprocessing would
    count every night's fork as failed)."""
    folder = os.environ.get(WARM_REGISTRY_ENV)
    if not folder:
        return False
    from pilots.registry import load_registry

    try:
        load_registry(folder)
    except Exception:  # noqa: BLE001 - a broken registry: the night's own load says why
        return False
    return True


def forkserver_context():
    """multiprocessing's forkserver context, with this project's preload (set once per process)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def start_forkserver(registry_dir: str | os.PathLike | None = None) -> None:
    """Start the forkserver now, without waiting: its imports (seconds) run beside the caller's.
    registry_dir: the registry the nights load, parsed there once too (it is inherited through
    the environment, also by a forkserver multiprocessing starts again)."""
    global _started_at
    if registry_dir is not None:
        os.environ[WARM_REGISTRY_ENV] = str(Path(registry_dir).resolve())
    from multiprocessing import forkserver

    forkserver_context()
    if _started_at is None:
        _started_at = time.perf_counter()
    forkserver.ensure_running()


def wait_until_ready() -> float:
    """Wait until the forkserver has imported what a night needs, so even the first night is warm
    (a no-op child is forked from it once it is ready); seconds since it was started."""
    start_forkserver()
    ready = forkserver_context().Process(target=_ready, name="pilotkpi-forkserver-ready")
    ready.start()
    ready.join()
    return time.perf_counter() - _started_at


def _ready() -> None:
    """Forked once at start: the forkserver answers only after its imports."""


def run_engine(env: dict[str, str], cwd: str | None) -> None:
    """The night's process: what `python -m prefect.engine` runs, with its environment.

    Runs in a child of the forkserver (multiprocessing calls it there); an exit code or an
    exception leaves as multiprocessing's exit code, as the cold process's would.
    """
    import runpy

    before_engine = time.process_time()  # CPU of this process so far: the fork and unpickling
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    # The engine reads the flow run's id from argv[1] or PREFECT__FLOW_RUN_ID; argv here is
    # `serve`'s own, as multiprocessing copied it.
    sys.argv = [sys.argv[0]]
    ready = ", ".join(name for name in WARM_MODULES if name in sys.modules) or "none"
    print(f"{START_LINE} {env.get('PREFECT__FLOW_RUN_ID', '')}: forked with {len(sys.modules)} modules "
          f"imported ({ready}), {before_engine:.3f} CPU s before the engine", flush=True)
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import Settings

    # Settings built again from the night's environment (the forkserver's were built at import),
    # as prefect.flow_engine.run_flow_in_subprocess does for its children. The process then ends
    # as that function's children do: multiprocessing runs threading's exit hooks (Prefect's log
    # and event workers drain there) and leaves with os._exit.
    with SettingsContext(profile=get_settings_context().profile, settings=Settings()):
        runpy.run_module(ENGINE_MODULE, run_name="__main__", alter_sys=False)


def _engine_command(command: list[str]) -> bool:
    return list(command) == [sys.executable, "-m", ENGINE_MODULE]


@contextmanager
def warm_engine_runs() -> Iterator[None]:
    """While inside, the runner's `python -m prefect.engine` commands run as warm forks.

    The hook is the one Prefect names for this: EngineCommandStarter "uses module-level
    `run_process` reference -- patch the module to override". Any other command (none in
    `serve`) still goes to Prefect's own run_process.
    """
    import anyio

    from prefect.runner import _starter_engine

    original = _starter_engine.run_process

    async def run_process(command: list[str], *, stream_output: Any = False, task_status: Any = None,
                          task_status_handler: Any = None, env: dict[str, str] | None = None,
                          cwd: Any = None, **kwargs: Any):
        if not _engine_command(command) or kwargs:
            return await original(command, stream_output=stream_output, task_status=task_status,
                                  task_status_handler=task_status_handler, env=env, cwd=cwd, **kwargs)
        process = forkserver_context().Process(target=run_engine, name="pilotkpi-night",
                                               args=(dict(env if env is not None else os.environ),
                                                     None if cwd is None else str(cwd)))
        await anyio.to_thread.run_sync(process.start)  # may start the forkserver: seconds
        try:
            if task_status is not None:
                task_status.started(task_status_handler(process) if task_status_handler else process.pid)
            await anyio.to_thread.run_sync(process.join, abandon_on_cancel=True)
        finally:
            # Cancelled (the runner stops): end the night as Prefect's open_process ends a cold one,
            # with SIGTERM (the flow's job rolls back), and SIGKILL if it does not end in time.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_stop, process)
        return process

    _starter_engine.run_process = run_process
    try:
        yield
    finally:
        _starter_engine.run_process = original


def _stop(process) -> None:
    if process.exitcode is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            break
        process.join(STOP_GRACE_SECONDS)
        if process.exitcode is not None:
            break
