"""`pilotkpi run` with no Prefect server configured starts Prefect's temporary server itself
(flows/ephemeral.py): its flow run is recorded there, the job's own process never imports the
server's code, the wait for it is its own stage, and nothing is left running after the job."""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT, SERIAL
from tests.test_flow import AS_OF, make_scenario
from warehouse.stages import read_stage_log

pytestmark = [SERIAL, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")]
IMPORTED = re.compile(r"^import time:\s+-?\d+ \|\s+\d+ \| *(\S+)$", re.M)


def _with_home(home: Path) -> list[int]:
    """The processes of this user whose environment names this PREFECT_HOME (the job's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"PREFECT_HOME={home}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _night(registry: Path, inbox: Path, root: Path, home: Path, as_of: str, *python_options: str,
           **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}  # no server configured
    env.update(PREFECT_HOME=str(home), PILOTKPI_SETTLE_SECONDS="0", PYTHONPATH=str(ROOT), PYTHONSAFEPATH="1",
               PREFECT_LOGGING_LEVEL="WARNING", **extra_env)
    return subprocess.run([sys.executable, *python_options, "-m", "flows.cli", "run", "--registry", str(registry),
                           "--inbox", str(inbox), "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                           "--as-of", as_of], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def first_nights(tmp_path_factory):
    """Two `pilotkpi run`s with no server configured, back to back on one fresh PREFECT_HOME (the
    second started the moment the first ended, as of the next day: a quiet night), a link in the
    inbox: (folder, first finished process, second). The first runs with -X importtime (the job's
    own imports only: its children are started without it) and its stage log in folder/stages.log.
    Read by the first two tests, and copied by the last (a full server on their home). Until
    2026-12-06 the first test's night was a third run of its own, on a home of its own."""
    tmp_path = tmp_path_factory.mktemp("first-nights")
    registry, inbox = make_scenario(tmp_path)
    (inbox / "z_link.csv").symlink_to(tmp_path / "nowhere")
    home = tmp_path / "prefect-home"
    first = _night(registry, inbox, tmp_path, home, AS_OF, "-X", "importtime",
                   PILOTKPI_STAGE_LOG=str(tmp_path / "stages.log"))
    second = _night(registry, inbox, tmp_path, home, "2005-05-16")  # the next day: a quiet night
    return tmp_path, first, second


def test_a_run_records_its_flow_run_on_its_own_temporary_server_and_leaves_nothing_running(first_nights):
    tmp_path, done, second = first_nights
    home, log = tmp_path / "prefect-home", tmp_path / "stages.log"
    assert done.returncode == 0, done.stderr[-3000:]
    assert "files seen 6: accepted 3," in done.stdout, done.stdout

    imported = set(IMPORTED.findall(done.stderr))
    assert "flows.nightly" in imported and "prefect.flows" in imported  # the log is the job's own
    assert {"prefect.server.api.server", "prefect.server.database", "prefect.server.models"} & imported == set()

    stages = read_stage_log(log.read_text(encoding="utf-8"))
    assert {"server_start", "server_boot"} <= set(stages)  # waited for; and its launch to its answer

    with sqlite3.connect(home / "prefect.db") as db:  # the temporary servers' own database
        runs = db.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id "
                          "ORDER BY r.start_time").fetchall()
    assert runs == [("nightly", "COMPLETED")] * 2  # this night's run, then the second night's

    deadline = time.monotonic() + 20  # the server is stopped at exit; its watchdog exits with it
    while _with_home(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _with_home(home) == []


def test_two_nights_back_to_back_on_one_prefect_home_both_reach_their_server_whole(first_nights):
    """The job ends without waiting for its server to stop (its watchdog stops it): the next night,
    started the moment the first ended, starts its own server on the same Prefect database while
    the first may still be shutting down. Both nights are recorded whole: the flow run, its task
    runs and its WARNING log line (a link in the inbox, refused every night: pilots/inbox.py)."""
    tmp_path, first, second = first_nights
    home = tmp_path / "prefect-home"
    for night in (first, second):
        assert night.returncode == 0, night.stderr[-3000:]
        assert "FILE_NOT_REGULAR" in night.stdout, night.stdout
    assert "files seen 6: accepted 3," in first.stdout and "files seen 0:" in second.stdout, second.stdout

    deadline = time.monotonic() + 20  # both servers stop once their job has ended
    while _with_home(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _with_home(home) == []
    with sqlite3.connect(home / "prefect.db") as db:
        runs = db.execute("SELECT r.id, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id "
                          "WHERE f.name = 'nightly' ORDER BY r.start_time").fetchall()
        assert [state for _, state in runs] == ["COMPLETED", "COMPLETED"]
        for (run_id, _), ingested in zip(runs, ([("ingest-inbox", "COMPLETED")], [])):
            tasks = db.execute("SELECT name, state_type FROM task_run WHERE flow_run_id = ? ORDER BY name",
                               [run_id]).fetchall()
            warnings = db.execute("SELECT message FROM log WHERE flow_run_id = ? AND level = 30",
                                  [run_id]).fetchall()
            assert [(name.rsplit("-", 1)[0], state) for name, state in tasks] == [
                ("build-marts", "COMPLETED"), *ingested, ("receive-inbox", "COMPLETED")], tasks
            assert len(warnings) == 1 and "z_link.csv" in warnings[0][0] and "FILE_NOT_REGULAR" in warnings[0][0]


def test_a_full_server_on_the_home_of_cli_nights_still_has_prefects_block_types(first_nights, tmp_path):
    """The temporary server skips the registration of Prefect's block types (pilotkpi uses none:
    flows/ephemeral.py) and leaves no memo of one: `pilotkpi server` started later on the same
    PREFECT_HOME registers them at its own start, and serves the CLI nights' flow runs. The nights
    are the module's (CLI nights on a fresh home); the server starts on a copy of that home, so
    the other tests read the home as the nights left it."""
    from tests.test_serve_integration import _api, _env, _free_port, _start, _stop, _wait_healthy

    night_folder, night, second = first_nights
    assert night.returncode == 0 and second.returncode == 0, night.stderr[-3000:] + second.stderr[-3000:]
    deadline = time.monotonic() + 20  # the night's server stopped before the full one starts
    while _with_home(night_folder / "prefect-home") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _with_home(night_folder / "prefect-home") == []
    home = tmp_path / "prefect-home"
    shutil.copytree(night_folder / "prefect-home", home)

    port, log = _free_port(), tmp_path / "server.log"
    api_url = f"http://127.0.0.1:{port}/api"
    server = _start(["-m", "flows.cli", "server", "--host", "127.0.0.1", "--port", str(port)],
                    _env(home, PREFECT_SERVER_UI_ENABLED="false"), log)
    try:
        _wait_healthy(api_url, server, lambda: log.read_text(errors="replace")[-6000:])
        assert _api(api_url, "/block_types/slug/local-file-system")["name"] == "Local File System"
        assert _api(api_url, "/flow_runs/count", {}) == 2
    finally:
        _stop(server)
