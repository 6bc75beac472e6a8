"""`pilotkpi run` with no Prefect server configured starts Prefect's temporary server itself
(flows/ephemeral.py): its flow run is recorded there, the job's own process never imports the
server's code, the wait for it is its own stage, and nothing is left running after the job."""
from __future__ import annotations

import os
import re
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


def test_a_run_records_its_flow_run_on_its_own_temporary_server_and_leaves_nothing_running(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    home, log = tmp_path / "prefect-home", tmp_path / "stages.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}  # no server configured
    env.update(PREFECT_HOME=str(home), PILOTKPI_STAGE_LOG=str(log), PILOTKPI_SETTLE_SECONDS="0",
               PYTHONPATH=str(ROOT), PYTHONSAFEPATH="1")
    # -X importtime: the job's own imports only (its children are started without it).
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "flows.cli", "run", "--registry", str(registry),
                           "--inbox", str(inbox), "--warehouse", str(tmp_path / "wh.duckdb"), "--out",
                           str(tmp_path / "out"), "--as-of", AS_OF], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "files seen 6: accepted 3," in done.stdout, done.stdout

    imported = set(IMPORTED.findall(done.stderr))
    assert "flows.nightly" in imported and "prefect.flows" in imported  # the log is the job's own
    assert {"prefect.server.api.server", "prefect.server.database", "prefect.server.models"} & imported == set()

    stages = read_stage_log(log.read_text(encoding="utf-8"))
    assert {"server_start", "server_boot"} <= set(stages)  # waited for; and its launch to its answer

    with sqlite3.connect(home / "prefect.db") as db:  # the temporary server's own database
        runs = db.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id").fetchall()
    assert runs == [("nightly", "COMPLETED")]

    deadline = time.monotonic() + 20  # the server is stopped at exit; its watchdog exits with it
    while _with_home(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _with_home(home) == []
