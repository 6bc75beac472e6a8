"""`pilotkpi serve` runs each night warm: forked from a process that imported the flow once
(flows/warm.py), on a real Prefect server, through the deployment as production runs it.

Two nights on the demo give the figures `pilotkpi run` gives; the second starts without the
import cost; a night killed with SIGKILL leaves the warehouse as it was and `serve` serving, even
when the process the nights fork from is killed too; `serve` stopped by SIGTERM during a night
stops the night, whose job rolls back.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
import pytest

from flows.warm import START_LINE
from pilots.demo import AS_OF, inbox_files, write_demo
from tests.support import SERVER, child_env
from tests.test_flow import figures
from tests.test_serve_integration import _api, _env, _start, _stop

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = "nightly-warm"
NIGHT_TIMEOUT = 240
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Served:
    api_url: str
    deployment_id: str
    demo: Path
    warehouse: Path
    out: Path
    logs: dict[str, Path]
    processes: list[subprocess.Popen]
    home: Path
    registry: Path
    inbox: Path

    def serve(self, log: Path, **extra_env: str) -> None:
        """Start `pilotkpi serve` (the one process of `processes`), its output in `log`. Its schedule
        never fires during a test (29 February, 02:00): the nights are started by hand."""
        self.logs["serve"] = log
        process = _start(["-m", "flows.cli", "serve", "--registry", str(self.registry), "--inbox", str(self.inbox),
                          "--warehouse", str(self.warehouse), "--out", str(self.out), "--name", DEPLOYMENT,
                          "--cron", "0 2 29 2 *"],
                         _env(self.home, PREFECT_API_URL=self.api_url, PREFECT_RUNNER_POLL_FREQUENCY="1", **extra_env),
                         log)
        self.processes[:] = [process]

    def output(self) -> str:
        return "\n".join(f"--- {name} output ---\n{log.read_text(errors='replace')[-6000:]}"
                         for name, log in self.logs.items() if log.exists())

    def start_night(self, as_of) -> str:
        run = _api(self.api_url, f"/deployments/{self.deployment_id}/create_flow_run",
                   {"parameters": {"as_of": as_of.isoformat(), "settle_seconds": 0}})
        return run["id"]

    def wait(self, run_id: str, timeout: float = NIGHT_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for process, name in zip(self.processes, self.logs):
                assert process.poll() is None, f"`pilotkpi {name}` exited with {process.returncode}\n{self.output()}"
            run = _api(self.api_url, f"/flow_runs/{run_id}")
            if run["state_type"] in TERMINAL:
                return run
            assert time.monotonic() < deadline, (f"night {run_id} not done in {timeout} s: {run['state_type']}\n"
                                                 f"{self.output()}")
            time.sleep(0.25)

    def states(self, run_id: str) -> list[dict]:
        return _api(self.api_url, f"/flow_run_states/?flow_run_id={run_id}")


@pytest.fixture(scope="module")
def served(tmp_path_factory, prefect_harness):
    """`pilotkpi serve` on the demo, on the session's Prefect server (tests/conftest.py
    prefect_harness): the subject is `serve` and its nights, not a server's start (the served
    schedule on a `pilotkpi server` of its own: tests/test_serve_integration.py)."""
    from prefect.settings import PREFECT_API_URL

    root = tmp_path_factory.mktemp("served")
    api_url = PREFECT_API_URL.value()
    home = root / "prefect-home"
    home.mkdir()
    demo = root / "demo"
    paths = write_demo(demo)
    write_demo(root / "cli-demo")  # the same demo for `pilotkpi run` (the served nights file theirs away)
    logs = {"serve": root / "serve.log"}
    served = Served(api_url, "", demo, root / "warehouse.duckdb", root / "out", logs, [], home, paths.registry,
                    paths.inbox)
    try:
        served.serve(logs["serve"])
        deadline = time.monotonic() + 120
        while not served.deployment_id:
            assert served.processes[0].poll() is None, served.output()
            try:
                served.deployment_id = _api(api_url, f"/deployments/name/nightly/{DEPLOYMENT}")["id"]
                assert served.deployment_id
            except OSError:
                assert time.monotonic() < deadline, f"the deployment was not registered\n{served.output()}"
                time.sleep(0.25)
        yield served
    finally:
        for process in reversed(served.processes):
            _stop(process)


def _cli_night(demo: Path, root: Path, as_of) -> None:
    """`pilotkpi run` on its own copy of the demo (in this process, on the tests' Prefect server)."""
    from click.testing import CliRunner

    from flows.cli import main

    result = CliRunner().invoke(main, ["run", "--registry", str(demo / "registry"), "--inbox", str(demo / "inbox"),
                                       "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                                       "--as-of", as_of.isoformat(), "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output


PRELOAD_SCRIPT = """if True:
    import gc, json, os, threading, time
    import flows.warm_preload
    cpu = time.process_time()  # the imports a cold night pays, the interpreter's start with them
    threads = threading.active_count()
    fds = sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                 if os.path.exists(f"/proc/self/fd/{fd}"))
    frozen = gc.get_freeze_count()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        gc.collect()
        os.write(w, json.dumps({"tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}).encode())
        os._exit(0)
    os.close(w)
    child = json.loads(os.read(r, 1 << 16))
    os.waitpid(pid, 0)
    print(json.dumps({"cpu": cpu, "threads": threads, "fds": fds, "frozen": frozen, "child": child}))
"""


@pytest.fixture(scope="module")
def preloaded() -> tuple[dict, str]:
    """One new process that imports what `serve`'s helper imports (flows/warm_preload.py), as the
    helper does: what it holds then (threads, open files, frozen objects), what a process forked
    from it collects, the CPU seconds of its start and imports (what a cold night pays), and its
    stderr up to its normal exit: (that record, stderr). Three tests read it; each ran the same
    import in a process of its own until 2026-12-06."""
    done = subprocess.run([sys.executable, "-c", PRELOAD_SCRIPT], env=child_env(), cwd=ROOT, check=True,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, close_fds=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _alive(process: psutil.Process) -> bool:
    """True while the process runs: a zombie (dead, not yet reaped) or no process is gone."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _runs(path: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT run_id, status FROM ops.runs ORDER BY run_id").fetchall()
    finally:
        con.close()


def _pending_to_running(states: list[dict]) -> float:
    """Seconds from the runner's last Pending to the night's Running: the process's start, as the
    server recorded it (the imports of a cold night are in it)."""
    from datetime import datetime

    def at(state: dict) -> datetime:
        return datetime.fromisoformat(state["timestamp"].replace("Z", "+00:00"))

    ordered = sorted(states, key=at)
    running = next(s for s in ordered if s["type"] == "RUNNING")
    pending = [s for s in ordered if s["type"] == "PENDING" and at(s) <= at(running)][-1]
    return (at(running) - at(pending)).total_seconds()


@pytest.mark.server
@SERVER
def test_two_served_nights_give_the_figures_of_pilotkpi_run_the_second_without_the_imports(served, preloaded):
    cli_root = served.demo.parent / "cli"
    cli_root.mkdir()
    night_ids = []
    for days in (0, 1):  # the full first night, then the next night: nothing new, as-of one day later
        as_of = AS_OF + timedelta(days=days)
        night_ids.append(served.start_night(as_of))
        run = served.wait(night_ids[-1])
        assert run["state_type"] == "COMPLETED", f"{run}\n{served.output()}"
        _cli_night(served.demo.parent / "cli-demo", cli_root, as_of)
        assert figures(served.warehouse) == figures(cli_root / "wh.duckdb"), as_of

    log = served.logs["serve"].read_text(errors="replace")
    # Each night said how it ended (the demo's counts: docs/demo.md), and that it started warm.
    ended = [line for line in log.splitlines() if line.startswith("pilotkpi: scheduled run ")]
    assert [line.split(" succeeded: ")[1].split(";")[0] for line in ended] == [
        "files seen 130: accepted 121, superseded 1, duplicates 1, quarantined 7",
        "files seen 0: accepted 0, superseded 0, duplicates 0, quarantined 0"], log
    (started,) = [line for line in log.splitlines() if line.startswith(f"{START_LINE} {night_ids[1]}: ")]
    # The night's process began with Prefect, the flow and GE already imported, and spent next
    # to no CPU before Prefect's engine ran (its own measure: CPU seconds, not the wall clock).
    assert "(prefect, flows.nightly, great_expectations)" in started, started
    assert float(started.split(", ")[-1].split(" CPU s")[0]) < 0.5, started
    # runpy's warning that the helper imported prefect.engine already is not in the night's log
    # (verifier VG F7): the import is on purpose.
    assert "RuntimeWarning" not in log, log
    # The server's own timestamps: from Pending (the runner) to Running (the night's engine) took
    # less wall time than the imports alone cost a new process in CPU time.
    cold = preloaded[0]["cpu"]
    assert cold > 1.0, cold  # else this comparison proves nothing
    assert _pending_to_running(served.states(night_ids[1])) < cold, (served.states(night_ids[1]), cold)


@pytest.mark.server
@SERVER
def test_a_served_night_reads_a_registry_changed_since_serve_started(served):
    """The forkserver parsed the registry once (flows/warm.py preload_registry); a night after the
    registry changed on disk stores the new one, not that parse. Then the old bytes come back,
    and the next night stores the registry as it was."""
    import duckdb

    def name_en(pilot: str) -> str:
        con = duckdb.connect(str(served.warehouse), read_only=True)
        try:
            return con.execute("SELECT name_en FROM registry.pilots WHERE pilot_id = ?", [pilot]).fetchone()[0]
        finally:
            con.close()

    path = served.registry / "pilots" / "PLT-2548-001.yaml"
    original = path.read_bytes()
    assert b"name_en: Government Information Network (GIN)\n" in original
    try:
        path.write_bytes(original.replace(b"name_en: Government Information Network (GIN)",
                                          b"name_en: Government Information Network (GIN), renamed"))
        run = served.wait(served.start_night(AS_OF + timedelta(days=1)))
        assert run["state_type"] == "COMPLETED", f"{run}\n{served.output()}"
        assert name_en("PLT-2548-001") == "Government Information Network (GIN), renamed"
    finally:
        path.write_bytes(original)
    run = served.wait(served.start_night(AS_OF + timedelta(days=1)))
    assert run["state_type"] == "COMPLETED", f"{run}\n{served.output()}"
    assert name_en("PLT-2548-001") == "Government Information Network (GIN)"


@pytest.mark.server
@SERVER
def test_a_night_killed_with_sigkill_leaves_the_warehouse_as_it_was_and_serve_serving(served):
    root = served.demo.parent
    if not served.warehouse.exists():  # run alone: a committed night first, so "as it was" is a warehouse
        assert served.wait(served.start_night(AS_OF))["state_type"] == "COMPLETED", served.output()
    # `serve` stops on SIGTERM, cleanly, its forkserver with it.
    old_serve = served.processes[0]
    _stop(old_serve)
    log = served.logs["serve"].read_text(errors="replace")
    assert old_serve.returncode == 0 and "pilotkpi: stopped serving" in log and "never awaited" not in log, log
    # Served again, with each night told to stop in its ingest (warehouse/testpoints.py) and say where.
    marker = root / "paused"
    served.serve(root / "serve-paused.log", PILOTKPI_PAUSE_AT="ingest", PILOTKPI_PAUSE_MARKER=str(marker))
    serve = served.processes[0]
    # One new file: an agency's report sent again under a new name, one byte longer.
    name, data = sorted((n, d) for n, d in inbox_files().items() if n.endswith(".csv"))[0]
    new_file = served.inbox / f"again-{name}"
    new_file.write_bytes(data + b"\n")
    before, runs_before = figures(served.warehouse), _runs(served.warehouse)

    killed = served.start_night(AS_OF + timedelta(days=2))
    deadline = time.monotonic() + NIGHT_TIMEOUT
    while not marker.exists():
        assert serve.poll() is None and time.monotonic() < deadline, f"the night never paused\n{served.output()}"
        time.sleep(0.2)
    night_pid = int(marker.read_text().split()[0])
    assert night_pid != serve.pid
    os.kill(night_pid, signal.SIGKILL)  # the night alone, as the OOM killer would
    assert served.wait(killed)["state_type"] == "CRASHED", served.output()

    # The warehouse is as it was before the night (no run recorded either); `serve` is still
    # serving, and the next night is forked warm, even after the helper itself was killed too.
    assert figures(served.warehouse) == before and _runs(served.warehouse) == runs_before
    assert serve.poll() is None, served.output()
    new_file.unlink()  # withdrawn: the next night has nothing to read, so it does not pause
    # The helper the nights are forked from dies too: the next night starts it again.
    (forkserver,) = [p for p in psutil.Process(serve.pid).children()
                     if "multiprocessing.forkserver" in " ".join(p.cmdline())]
    forkserver.kill()
    deadline = time.monotonic() + 10
    while _alive(forkserver):  # dead, it stays a zombie until `serve` (its parent) next looks
        assert time.monotonic() < deadline, "the helper survived SIGKILL"
        time.sleep(0.1)
    after = served.start_night(AS_OF + timedelta(days=2))
    assert served.wait(after)["state_type"] == "COMPLETED", served.output()
    log = served.logs["serve"].read_text(errors="replace")
    assert any(line.startswith(f"{START_LINE} {after}: ") and "flows.nightly" in line for line in log.splitlines()), log
    assert serve.poll() is None, log

    # systemd stops `serve` (SIGTERM) during a night: the night gets SIGTERM, its job rolls back,
    # and `serve` ends cleanly.
    marker.unlink()
    new_file.write_bytes(data + b"\n")
    before, runs_before = figures(served.warehouse), _runs(served.warehouse)
    stopped = served.start_night(AS_OF + timedelta(days=3))
    deadline = time.monotonic() + NIGHT_TIMEOUT
    while not marker.exists():
        assert serve.poll() is None and time.monotonic() < deadline, served.output()
        time.sleep(0.2)
    night = psutil.Process(int(marker.read_text().split()[0]))
    os.kill(serve.pid, signal.SIGTERM)  # serve alone, as systemd's KillMode=mixed would
    assert serve.wait(120) == 0, served.output()
    assert not _alive(night), "the night outlived serve"
    assert figures(served.warehouse) == before and _runs(served.warehouse) == runs_before
    assert _api(served.api_url, f"/flow_runs/{stopped}")["state_type"] in {"CRASHED", "CANCELLED", "FAILED"}
    assert "pilotkpi: stopped serving" in served.logs["serve"].read_text(errors="replace")


def test_the_process_nights_are_forked_from_has_one_thread_and_no_connection(preloaded):
    """Forking is safe only from a process with one thread (a lock held by another thread would be
    copied held) and nothing open that a night must not share: what the preload leaves."""
    result, _ = preloaded
    assert result["threads"] == 1, result
    assert not any(".duckdb" in fd or "socket:" in fd for fd in result["fds"]), result


def test_the_forkserver_parses_the_served_registry_once_and_a_changed_one_again(tmp_path):
    """What a night's load_registry gets in a process forked from the preload: the preload's parse
    while the files' bytes are the same (no parse in the night), a new parse once a file changed.
    The preload leaves no file open."""
    paths = write_demo(tmp_path / "demo")
    script = """if True:
        import json, os, sys, threading
        import flows.warm_preload
        from pilots import registry
        preloaded = list(registry._LAST.values())
        fds = sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                     if os.path.exists(f"/proc/self/fd/{fd}"))
        parses = []
        parse = registry._load_registry
        registry._load_registry = lambda folder: parses.append(str(folder)) or parse(folder)
        same = registry.load_registry(sys.argv[1])
        path = os.path.join(sys.argv[1], "pilots", "PLT-2548-002.yaml")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("# a comment: other bytes, the same registry\\n")
        changed = registry.load_registry(sys.argv[1])
        print(json.dumps({"preloaded": len(preloaded), "threads": threading.active_count(), "fds": fds,
                          "same_is_preloaded": same is preloaded[0], "parses": len(parses),
                          "pilots": sorted(changed.pilots), "changed_is_preloaded": changed is preloaded[0]}))
    """
    out = subprocess.run([sys.executable, "-c", script, str(paths.registry)], cwd=ROOT, check=True, close_fds=True,
                         env=child_env(PILOTKPI_WARM_REGISTRY=str(paths.registry)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["preloaded"] == 1 and result["same_is_preloaded"] is True
    assert result["parses"] == 1 and result["changed_is_preloaded"] is False
    assert result["pilots"] == [f"PLT-2548-00{i}" for i in range(1, 8)]
    assert result["threads"] == 1 and not any("registry" in fd or ".yaml" in fd for fd in result["fds"]), result

    # A registry that does not load at serve's start: the helper still starts (its import ends
    # well, nothing kept); the night's own load reports the problem, as a cold night's would.
    (paths.registry / "agencies.yaml").write_text("- {code: 11002\n", encoding="utf-8")
    broken = subprocess.run([sys.executable, "-c", "import flows.warm_preload; from pilots import registry; "
                             "print(len(registry._LAST))"], cwd=ROOT, close_fds=True,
                            env=child_env(PILOTKPI_WARM_REGISTRY=str(paths.registry)), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    assert broken.returncode == 0 and broken.stdout.strip().splitlines()[-1] == "0", broken.stderr[-3000:]


def test_the_helper_freezes_what_it_imported_so_a_nights_collections_do_not_walk_it(preloaded):
    """flows/warm_preload.py ends with gc.freeze(): a process forked from the helper does not
    have the helper's objects in its collector's generations (a full collection would otherwise
    touch, and so copy, every page of the helper's heap), and the helper's own normal exit gives
    them back (no "leaked" report from DuckDB's bindings on stderr)."""
    result, stderr = preloaded
    assert result["frozen"] > 100_000, result  # Prefect, DuckDB, pandas, GE and the project's modules
    assert result["child"]["frozen"] > result["frozen"] * 0.99, result  # a few freed by refcount since
    assert result["child"]["tracked"] < result["frozen"] // 10, result
    assert "leaked" not in stderr, stderr[-3000:]
