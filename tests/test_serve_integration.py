"""`pilotkpi server` + `pilotkpi serve`: a real Prefect server runs the served nightly flow on its schedule.

Slow (about a minute: the schedule's first time is the next whole minute after `serve` registers
its deployment), but it is the only test that proves the schedule fires, so CI runs it (marker
`server`, not deselected).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.serve import DEFAULT_TIMEZONE
from pilots.demo import write_demo
from tests.support import SERVER

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = "nightly-it"
RUN_TIMEOUT = 240  # seconds from `serve` starting until the scheduled run must have completed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _next_minutes(count: int = 4) -> list[datetime]:
    """The next `count` whole minutes, in the schedule's time zone."""
    now = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).replace(second=0, microsecond=0)
    return [now + timedelta(minutes=i) for i in range(1, count + 1)]


def _cron_of(minutes: list[datetime]) -> str:
    """A daily cron that fires at each of `minutes` (and at other minutes of the same hours, all
    past or after the last of them: the first due time is the first of `minutes` still ahead).
    The hours are Bangkok's: a serve that ignored the time zone would fire none of them."""
    return (f"{','.join(str(m) for m in sorted({t.minute for t in minutes}))} "
            f"{','.join(str(h) for h in sorted({t.hour for t in minutes}))} * * *")


def _env(prefect_home: Path, **extra: str) -> dict[str, str]:
    # The parent's API URL / profile (or a test harness's) must not leak into the children.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "PREFECT_PROFILE"))}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                                     env.get("PYTHONPATH")])))
    env.update(extra)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Own session: teardown signals the whole group (the server's uvicorn, the runner's flow-run children).
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue
    # Children left in the group (a flow run the runner started) go too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _api(api_url: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api_url + path, data=data, headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    # Prefect's own client retries 429 and 503 (the server answers 503 while its SQLite database is
    # busy, e.g. just after a crashed run's states): a busy answer rolled back, so asking again is safe.
    # A timed-out request may have been carried out, so it is not asked again; its bound is generous
    # because a loaded CI machine answered a create_flow_run in more than 10 s once.
    for attempt in range(6):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 503) or attempt == 5:
                raise
            time.sleep(0.5 * 2 ** attempt)


def _wait_healthy(api_url: str, server: subprocess.Popen, output, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, f"`pilotkpi server` exited with {server.returncode}\n{output()}"
        try:
            _api(api_url, "/health")
            return
        except OSError:
            assert time.monotonic() < deadline, f"the server did not answer within {timeout} s\n{output()}"
            time.sleep(1)


@pytest.mark.server
@SERVER  # a real server and a cron minute to wait for: a group of its own (tests/support.py)
def test_served_schedule_runs_the_nightly_flow(tmp_path):
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "prefect-home"
    home.mkdir()
    paths = write_demo(tmp_path / "demo")
    warehouse = tmp_path / "warehouse.duckdb"
    logs = {"server": tmp_path / "server.log", "serve": tmp_path / "serve.log"}
    processes: list[subprocess.Popen] = []

    def output() -> str:
        return "\n".join(f"--- {name} output ---\n{log.read_text(errors='replace')[-6000:]}"
                         for name, log in logs.items() if log.exists())

    try:
        # The main scheduler loop every 5 s instead of 60 (the recent-deployments loop, 5 s by
        # default, normally schedules a new deployment first; either is enough).
        processes.append(_start(["-m", "flows.cli", "server", "--host", "127.0.0.1", "--port", str(port)],
                                _env(home, PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
                                     PREFECT_SERVER_UI_ENABLED="false"), logs["server"]))
        # The minutes are chosen once the server answers (`serve` itself also waits for /api/health).
        # Several, so the first run is the next whole minute after `serve` registers, however long
        # its start takes on a busy machine, and the test waits for no minute chosen in advance.
        _wait_healthy(api_url, processes[0], output)
        due_minutes = _next_minutes()
        # The runner polls for due runs every 2 s instead of 10.
        processes.append(_start(["-m", "flows.cli", "serve", "--registry", str(paths.registry),
                                 "--inbox", str(paths.inbox), "--warehouse", str(warehouse),
                                 "--out", str(tmp_path / "out"), "--name", DEPLOYMENT,
                                 "--cron", _cron_of(due_minutes), "--timezone", DEFAULT_TIMEZONE],
                                _env(home, PREFECT_API_URL=api_url, PREFECT_RUNNER_POLL_FREQUENCY="2",
                                     PILOTKPI_STAGE_LOG=str(tmp_path / "stages.log")),
                                logs["serve"]))
        deadline = time.monotonic() + RUN_TIMEOUT
        runs: list[dict] = []
        while time.monotonic() < deadline:
            for process, name in zip(processes, logs):
                assert process.poll() is None, f"`pilotkpi {name}` exited with {process.returncode}\n{output()}"
            try:
                runs = _api(api_url, "/flow_runs/filter", {"deployments": {"name": {"any_": [DEPLOYMENT]}}})
            except OSError:  # the server is still starting
                runs = []
            states = {run["state_type"] for run in runs}
            assert not states & {"FAILED", "CRASHED", "CANCELLED"}, f"{runs}\n{output()}"
            if "COMPLETED" in states:
                break
            time.sleep(2)
        else:
            pytest.fail(f"no completed run of {DEPLOYMENT} within {RUN_TIMEOUT} s: "
                        f"{[(r['name'], r['state_type']) for r in runs]}\n{output()}")

        (run,) = [r for r in runs if r["state_type"] == "COMPLETED"]
        assert run["auto_scheduled"], run  # made by the server's scheduler, not by hand
        expected = datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
        # On a cron minute, in Asia/Bangkok: the first one after the deployment was registered (the
        # server's scheduler looks for new deployments every 5 s, so one more minute at most).
        (deployment,) = _api(api_url, "/deployments/filter", {"deployments": {"name": {"any_": [DEPLOYMENT]}}})
        registered = datetime.fromisoformat(deployment["created"].replace("Z", "+00:00"))
        assert expected in due_minutes, (expected, due_minutes)
        assert registered < expected <= registered + timedelta(seconds=65), (registered, expected)
    finally:
        for process in reversed(processes):
            _stop(process)

    # The served run said how it ended, in one line, like `pilotkpi run`: the demo's counts.
    log = logs["serve"].read_text(errors="replace")
    announced = [line for line in log.splitlines() if line.startswith("pilotkpi: scheduled run ")]
    assert len(announced) == 1, log
    assert announced[0].endswith(" succeeded: files seen 130: accepted 121, superseded 1, duplicates 1, "
                                 f"quarantined 7; summaries in {tmp_path / 'out'}"), log
    # The warm night's forked reader read the inbox (one batch of 750: 4 chunks) ahead and, GE being
    # built in `serve`'s forkserver, validated it too; the night took that validation whole for its
    # 129 files to read (the 130th is a byte-identical copy, never read) and validated nothing itself
    # (flows/parallel.py, "Validated ahead"): the counts above are what it wrote.
    stages = [line.split()[1] for line in (tmp_path / "stages.log").read_text().splitlines() if line.startswith("stage ")]
    assert stages.count("read") == 4 and stages.count("validate") == 1 and stages.count("validated_ahead") == 1, stages
    assert "read_ahead" not in stages and "read_here" not in stages, stages
    # Stopped by SIGTERM: cleanly, without Prefect's un-awaited Runner.astop.
    assert "never awaited" not in log and "pilotkpi: stopped serving" in log, log

    import duckdb

    # 121 accepted (docs/demo.md): 93 in the open warehouse, and the restricted pilot's 28
    # (4 agencies x 7 quarters) in the restricted store beside it (warehouse.md).
    for path, accepted in ((warehouse, 93), (warehouse.with_name(warehouse.stem + ".restricted.duckdb"), 28)):
        con = duckdb.connect(str(path), read_only=True)
        try:
            assert con.sql("SELECT count(*) FROM ingest.submissions WHERE status = 'accepted'").fetchall() == [(accepted,)]
        finally:
            con.close()
