"""Prefect's fixed cost of a night, the bench's floor under the small nights (bench/prefect_floor.py).

No timing is asserted (speed is the bench's): the floor is checked to run, to be Prefect's work
alone (one flow run with one task run on the temporary server `pilotkpi run` would start), and to
be a floor by construction: its process imports nothing a CLI night does not import, none of the
job's own modules, and records less in Prefect than the night. The bench's verdicts on it are
checked on hand-made figures.
"""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

from bench import prefect_floor, run
from tests.support import ROOT, SERIAL, child_env, migrated_prefect_home
from tests.test_flow import AS_OF, make_scenario
from tests.test_temporary_server import _with_home

IMPORTED = re.compile(r"^import time:\s+-?\d+ \|\s+\d+ \| *(\S+)$", re.M)
JOB_MODULES = ("flows.nightly", "pilots", "kpis", "warehouse.db", "duckdb", "pandas", "great_expectations")


def _env(home) -> dict[str, str]:
    env = {k: v for k, v in child_env(PREFECT_HOME=str(home)).items() if not k.startswith("PREFECT_API")}
    env.update(PILOTKPI_SETTLE_SECONDS="0", PREFECT_LOGGING_LEVEL="WARNING")  # no server configured: its own
    return env


def _imported(stderr: str) -> set[str]:
    return set(IMPORTED.findall(stderr))


@pytest.fixture(scope="module")
def home_after(tmp_path_factory):
    """One CLI night and the floor's runs on one migrated PREFECT_HOME: (home, night, floor
    process with -X importtime, cli_floor's figures of one run)."""
    tmp = tmp_path_factory.mktemp("prefect-floor")
    home = migrated_prefect_home(tmp / "prefect-home")
    registry, inbox = make_scenario(tmp)
    env = _env(home)
    night = subprocess.run([sys.executable, "-X", "importtime", "-m", "flows.cli", "run", "--registry", str(registry),
                            "--inbox", str(inbox), "--warehouse", str(tmp / "wh.duckdb"), "--out", str(tmp / "out"),
                            "--as-of", AS_OF], cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    floor = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench.prefect_floor", "cli"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    figures = prefect_floor.cli_floor(env, runs=1)  # one: the median's rule is the bench smoke's
    # Each server is stopped by its watchdog after its job: read its database once none is left.
    deadline = time.monotonic() + 30
    while _with_home(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _with_home(home) == []
    return home, night, floor, figures


pytestmark = [SERIAL, pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")]


def test_the_floor_is_one_flow_run_with_one_task_run_on_its_own_temporary_server(home_after):
    home, night, floor, figures = home_after
    assert floor.returncode == 0, floor.stderr[-3000:]
    assert len(figures["runs"]) == 1 and all(r["temporary_server"] for r in figures["runs"])
    assert figures["wall_seconds"] == pytest.approx(figures["runs"][0]["wall_seconds"], abs=0.001)  # the median of one
    for r in figures["runs"]:  # its parts happen one after another inside its wall time
        assert 0 < r["imports_seconds"] + r["server_wait_seconds"] + r["flow_seconds"] <= r["wall_seconds"]
        assert r["cpu_seconds"] > 0
    with sqlite3.connect(home / "prefect.db") as db:
        runs = db.execute("SELECT r.id, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id "
                          "WHERE f.name = 'prefect-floor'").fetchall()
        assert [state for _, state in runs] == ["COMPLETED"] * 2  # the -X importtime run and cli_floor's one
        for run_id, _ in runs:  # the task's result was the flow's (the process asserts it, exit 0);
            # its last state reaches the database as an event, which a loaded exit may leave unsent.
            tasks = db.execute("SELECT name FROM task_run WHERE flow_run_id = ?", [run_id]).fetchall()
            assert [name.rsplit("-", 1)[0] for name, in tasks] == ["one-task"]


def test_the_floor_does_less_than_a_cli_night_so_it_cannot_be_slower(home_after):
    home, night, floor, _ = home_after
    assert night.returncode == 0, night.stderr[-3000:]
    ours, prefects = _imported(night.stderr), _imported(floor.stderr)
    assert "flows.nightly" in ours and "prefect.flows" in prefects  # both logs are the processes' own
    # Nothing the night does not import, but the floor's own two modules (bench.prefect_floor runs
    # as __main__); and none of the job's. Left out: what Prefect's console handler imports when it
    # prints a line (rich's emoji table, for a warning such as its events worker's "still processing
    # items" at a loaded exit), which depends on the machine's load, not on the work.
    assert {m for m in prefects - ours if not m.startswith("rich.")} == {"bench", "bench.empty_flow"}
    assert {m for m in prefects if m.startswith(JOB_MODULES)} == set()
    assert not {m for m in prefects if m.startswith("prefect.server")}  # the server's code runs in its process
    with sqlite3.connect(home / "prefect.db") as db:
        task_runs = dict(db.execute("SELECT f.name, count(t.id) FROM flow_run r JOIN flow f ON f.id = r.flow_id "
                                    "JOIN task_run t ON t.flow_run_id = r.id GROUP BY f.name, r.id").fetchall())
    assert task_runs["nightly"] > task_runs["prefect-floor"] == 1


def _report(floor_s: float, quiet_s: float) -> dict:
    nights = {"full": 49.6, "one_percent": 7.23, "quiet": quiet_s}
    return {"runs": {k: {"wall_seconds": v, "wall_without_server_start": v, "exit_code": 0, "stages": {},
                         "peak_rss_tree_mib": 900, "peak_rss_main_mib": 576} for k, v in nights.items()},
            "prefect_floor": {"cli": {"wall_seconds": floor_s, "cpu_seconds": 1.4, "runs": [{}] * 3}}}


def test_the_one_percent_night_less_prefects_cost_over_the_full_night():
    # The national run 25's nights: (7.23 - 4.0) / 49.6 = 0.06512...
    r = run.summarise(_report(4.0, 4.36))
    assert r["ratios"]["one_percent_less_prefect_over_full"] == 0.065
    assert r["ratios"]["one_percent_over_full"] == 0.146  # 7.23 / 49.6 = 0.14577
    text = run._less_prefect(r, "cli", "one_percent", "")
    assert text.startswith("0.065 (7.23 s less Prefect's 4.00 s") and "0.36 s over it" in text


def test_a_prefect_floor_slower_than_the_quiet_night_is_wrong_and_said(capsys):
    slow, fast = _report(4.5, 4.36), _report(4.0, 4.36)
    run._check_prefect_floor(slow, "cli", "")
    run._check_prefect_floor(fast, "cli", "")
    assert slow["prefect_floor"]["cli"]["wrong"] is True and "wrong" not in fast["prefect_floor"]["cli"]
    assert run.PREFECT_FLOOR_IS_WRONG in capsys.readouterr().err
    assert run.PREFECT_FLOOR_IS_WRONG in run._less_prefect(run.summarise(slow), "cli", "one_percent", "")


def test_the_floor_is_the_median_of_its_runs():
    samples = [{"wall_seconds": 3.1, "cpu_seconds": 1.2}, {"wall_seconds": 2.7, "cpu_seconds": 1.5},
               {"wall_seconds": 4.9, "cpu_seconds": 1.1}]
    assert prefect_floor._median_of(samples) == {"wall_seconds": 3.1, "cpu_seconds": 1.2, "runs": samples}
    assert prefect_floor._median_of(samples[:2])["wall_seconds"] == 2.9  # (3.1 + 2.7) / 2
