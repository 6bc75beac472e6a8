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

Code changed on disk while `serve` runs (a deploy without a restart): the forkserver runs the code
it imported, but the steps' skip keys (kpis/steps.code_digest) hash the files on disk, so a warm
night would record the new code's key for results the old code made, and no later night would
rebuild them. The forkserver therefore records the project's source files it imported (and the
ones whose imports kpis/steps parsed) at the end of its preload (record_code); each night compares
them with the disk before the engine runs (stat; a hash only where the stat differs). On any
difference the night runs cold: the runner's own `python -m prefect.engine` command, exec'd in the
same process with the same environment, so it imports the code its keys hash; and once no night
from the old forkserver still runs, `serve` stops it, so the next nights are forked warm from one
that imported the new code.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import time
import warnings
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

PROJECT_PACKAGES = ("flows", "kpis", "pilots", "warehouse")  # kpis/steps.PACKAGES: the project's own code
CODE_CHANGED_LINE = "pilotkpi: the project's code changed on disk"  # printed by a night that runs cold for it

_context: Any = None
_started_at: float | None = None
# In the forkserver: each project source file it imported -> (size, mtime_ns, inode, SHA-256).
_imported_code: dict[str, tuple[int, int, int, bytes]] | None = None
# In `serve`: warm nights running now, and whether one found its forkserver's code stale.
_nights_running = 0
_restart_pending = False


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


# In the forkserver: the CA bundle Prefect's clients verify TLS with, parsed once: (path, its
# stat key, the ssl.SSLContext). See reuse_tls_context.
_tls_context: tuple[str, tuple[int, int, int], Any] | None = None


def preload_tls_context() -> None:
    """In the forkserver (flows/warm_preload.py): the TLS context every Prefect client of a night
    builds, built once. Each client (PrefectClient, SyncPrefectClient: a night makes several)
    calls ssl.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE or certifi.where()), which
    parses the whole bundle: 20-30 ms each on this machine, 0.3 s for the two before a night is
    Running under load (a cProfile of a served night, 2026-12-05). The file is chosen as Prefect's
    client chooses it, from the forkserver's settings; a night whose settings name another file
    builds its own. Nothing here may stop the forkserver."""
    global _tls_context
    try:
        import ssl

        import certifi
        from prefect.settings import PREFECT_API_SSL_CERT_FILE

        path = PREFECT_API_SSL_CERT_FILE.value() or certifi.where()
        _tls_context = (path, _stat_key(os.stat(path)), ssl.create_default_context(cafile=path))
    except Exception:  # noqa: BLE001 - no bundle: each client builds its own, as before
        _tls_context = None


def reuse_tls_context() -> None:
    """In a warm night: ssl.create_default_context returns the forkserver's context for the call
    Prefect's clients make (the same bundle, unchanged on disk since), and builds any other as
    before. An SSLContext is meant to be shared by connections. What changes it in a night:
    httpcore sets its ALPN protocols on each connection (the same list for every Prefect client,
    which share one http2 setting), and an httpx client given a client certificate would load it
    into the context (no night code passes one); the context for
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY asks for no cafile and is built afresh. An in-place edit
    of the bundle that keeps its size, mtime and inode is not seen (as flows/warm.py's code check).
    Against an http:// API no context is ever used."""
    if _tls_context is None:
        return
    import ssl

    path, stat_key, context = _tls_context
    build = ssl.create_default_context

    def create_default_context(purpose=ssl.Purpose.SERVER_AUTH, *, cafile=None, capath=None, cadata=None):
        if purpose == ssl.Purpose.SERVER_AUTH and cafile == path and capath is None and cadata is None:
            try:
                if _stat_key(os.stat(path)) == stat_key:
                    return context
            except OSError:
                pass
        return build(purpose, cafile=cafile, capath=capath, cadata=cadata)

    ssl.create_default_context = create_default_context


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


# Data files the preload parses once and keeps (flows/warm_preload.py): a night would not read
# them again, so a change on disk must send it cold like a changed module. (Templates are not
# here: Jinja compiles one again when its file changed; the registry's memo checks its bytes.)
PRELOADED_DATA = (str(Path(__file__).resolve().parent.parent / "pilots" / "defects.yaml"),)


def record_code() -> int:
    """In the forkserver, last in its preload: the project's source files it imported, and those
    kpis/steps parsed for the steps' import closures (memoised per process: a night reads that
    parse), each with its stat and a SHA-256 of its bytes; the number of files recorded."""
    global _imported_code
    from kpis import steps

    paths = {os.path.abspath(module.__file__) for name, module in list(sys.modules.items())
             if name.split(".")[0] in PROJECT_PACKAGES and getattr(module, "__file__", None)}
    for step in (*steps.MARTS.values(), *steps.OUTPUTS.values()):
        paths |= {str(path) for path in steps.files_of(step) if path.suffix == ".py"}
    paths |= {os.path.abspath(path) for path in PRELOADED_DATA}
    record = {}
    for path in sorted(paths):
        try:
            with open(path, "rb") as fh:
                record[path] = (*_stat_key(os.fstat(fh.fileno())), hashlib.sha256(fh.read()).digest())
        except OSError:  # gone or unreadable since its import: changed already (nothing here may
            record[path] = (-1, -1, -1, b"")  # stop the forkserver), so no night forks from this code
    _imported_code = record
    return len(record)


def changed_code() -> list[str]:
    """The recorded files whose bytes on disk are no longer those imported (or that are gone);
    [] also where nothing was recorded (not a forkserver's child). A file whose size, mtime and
    inode are as recorded is taken as unchanged without reading it: a normal night pays a stat
    per file."""
    changed = []
    for path, (*stat_key, digest) in (_imported_code or {}).items():
        try:
            if _stat_key(os.stat(path)) == tuple(stat_key):
                continue
            with open(path, "rb") as fh:
                if hashlib.sha256(fh.read()).digest() == digest:
                    continue
        except OSError:
            pass
        changed.append(path)
    return changed


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


def run_engine(env: dict[str, str], cwd: str | None, command: list[str] | None = None,
               stale: Any = None, entrypoint: str | None = None, folders: tuple[str, str] | None = None) -> None:
    """The night's process: what `python -m prefect.engine` runs, with its environment.

    Runs in a child of the forkserver (multiprocessing calls it there); an exit code or an
    exception leaves as multiprocessing's exit code, as the cold process's would. If the code the
    forkserver imported changed on disk since, the night runs `command` (the runner's own) cold in
    this process instead, and says so on `stale` (a Connection to `serve`).

    entrypoint: the served deployment's own (flows.nightly.nightly), given to the warm engine as
    PREFECT__FLOW_ENTRYPOINT (Prefect's variable for it), so the engine takes the flow from the
    module imported already instead of reading the deployment from the API for it: a round trip
    and an event loop thread less before the night is Running. Only the entrypoint is read there
    (a served deployment has no storage and no pull steps), so the flow is the same object.

    folders: the deployment's (registry, inbox): the night's reader reads the inbox ahead from
    before the engine starts (flows/parallel.read_ahead_before_engine).
    """
    import runpy

    checked_at = time.perf_counter()
    changed = changed_code()
    check_ms = (time.perf_counter() - checked_at) * 1000
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    if stale is not None:
        if changed:
            stale.send(changed)
        stale.close()
    if changed and command:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        names = ", ".join(os.path.relpath(path, root) for path in changed[:5]) + (", ..." if len(changed) > 5 else "")
        print(f"{CODE_CHANGED_LINE} since the nights' process imported it ({len(changed)} files: {names}): "
              f"night {env.get('PREFECT__FLOW_RUN_ID', '')} runs cold (a new Python), and the nights' process "
              f"is restarted after it", flush=True)
        sys.stderr.flush()
        os.execv(command[0], command)  # this process becomes the cold night: same pid, environment, cwd
    reuse_tls_context()
    if entrypoint and "PREFECT__FLOW_ENTRYPOINT" not in os.environ:
        os.environ["PREFECT__FLOW_ENTRYPOINT"] = entrypoint
    before_engine = time.process_time()  # CPU of this process so far: the fork, unpickling, code check
    # The engine reads the flow run's id from argv[1] or PREFECT__FLOW_RUN_ID; argv here is
    # `serve`'s own, as multiprocessing copied it.
    sys.argv = [sys.argv[0]]
    ready = ", ".join(name for name in WARM_MODULES if name in sys.modules) or "none"
    print(f"{START_LINE} {env.get('PREFECT__FLOW_RUN_ID', '')}: forked with {len(sys.modules)} modules "
          f"imported ({ready}), code on disk unchanged ({len(_imported_code or {})} files checked in "
          f"{check_ms:.1f} ms), {before_engine:.3f} CPU s before the engine", flush=True)
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import Settings

    # Settings built again from the night's environment (the forkserver's were built at import),
    # as prefect.flow_engine.run_flow_in_subprocess does for its children. The process then ends
    # as that function's children do: multiprocessing runs threading's exit hooks (Prefect's log
    # and event workers drain there) and leaves with os._exit.
    # The night's reading process, forked now, while this process has one thread (the engine
    # starts others): flows/forked_reader.py. Reaped after the engine, so its CPU counts in the night's.
    from flows import forked_reader

    if forked_reader.fork() is not None and folders is not None:
        from flows.parallel import read_ahead_before_engine

        read_ahead_before_engine(*folders)
    try:
        with SettingsContext(profile=get_settings_context().profile, settings=Settings()), warnings.catch_warnings():
            # The helper imported prefect.engine on purpose (warm_preload): runpy's warning that it
            # is in sys.modules already went to every night's log (verifier VG F7).
            warnings.filterwarnings("ignore", message=f"'{ENGINE_MODULE}' found in sys.modules", category=RuntimeWarning)
            runpy.run_module(ENGINE_MODULE, run_name="__main__", alter_sys=False)
    finally:
        forked_reader.close()


def _engine_command(command: list[str]) -> bool:
    return list(command) == [sys.executable, "-m", ENGINE_MODULE]


@contextmanager
def warm_engine_runs(entrypoints: dict[str, str] | None = None,
                     folders: dict[str, tuple[str, str]] | None = None) -> Iterator[None]:
    """While inside, the runner's `python -m prefect.engine` commands run as warm forks.

    The hook is the one Prefect names for this: EngineCommandStarter "uses module-level
    `run_process` reference -- patch the module to override". Any other command (none in
    `serve`) still goes to Prefect's own run_process. entrypoints: deployment name -> its
    entrypoint, for the runs of those deployments (the runner names a run's deployment in
    PREFECT__DEPLOYMENT_NAME); a run of another deployment loads its flow as Prefect does.
    folders: deployment name -> its (registry, inbox), read ahead from the night's start (run_engine).
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
        global _nights_running, _restart_pending
        context = forkserver_context()
        stale, stale_writer = context.Pipe(duplex=False)
        env = dict(env if env is not None else os.environ)
        deployment = env.get("PREFECT__DEPLOYMENT_NAME") or ""
        entrypoint = (entrypoints or {}).get(deployment)
        process = context.Process(target=run_engine, name="pilotkpi-night",
                                  args=(env, None if cwd is None else str(cwd), list(command), stale_writer,
                                        entrypoint, (folders or {}).get(deployment)))
        _nights_running += 1
        try:
            try:
                await anyio.to_thread.run_sync(process.start)  # may start the forkserver: seconds
            finally:
                stale_writer.close()
            if task_status is not None:
                task_status.started(task_status_handler(process) if task_status_handler else process.pid)
            await anyio.to_thread.run_sync(process.join, abandon_on_cancel=True)
        finally:
            # Cancelled (the runner stops): end the night as Prefect's open_process ends a cold one,
            # with SIGTERM (the flow's job rolls back), and SIGKILL if it does not end in time.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_stop, process)
                _nights_running -= 1
                _restart_pending = _restart_pending or _said_stale(stale)
                if _restart_pending and _nights_running == 0:
                    # Here, not in a thread: no night can be forked from the old forkserver between
                    # this check and its stop (an idle forkserver exits at once; the new one's
                    # imports run in the background).
                    _restart_pending = False
                    restart_forkserver()
        return process

    _starter_engine.run_process = run_process
    try:
        yield
    finally:
        _starter_engine.run_process = original


def _said_stale(stale) -> bool:
    """True if the night said its forkserver's code was stale (it then ran cold)."""
    try:
        return bool(stale.poll() and stale.recv())
    except (EOFError, OSError):
        return False
    finally:
        stale.close()


def restart_forkserver() -> None:
    """Stop the forkserver (no night forked from it may still run: its children's exit codes
    reach `serve` through it) and start a new one, which imports the code on disk now; its
    imports run in the background, the next night forks from it once they are done."""
    from multiprocessing import forkserver

    try:
        forkserver._forkserver._stop()  # closes its "alive" pipe: it exits, and is reaped here
    except ChildProcessError:  # it had died already (and was reaped): a new one is started below
        forkserver._forkserver._forkserver_pid = None
    print("pilotkpi: the nights' process was restarted: the project's code changed on disk since it "
          "imported it; the next nights are forked from the new code", file=sys.stderr, flush=True)
    start_forkserver()


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
