"""bench/served.py, the bench's nights on a running server as production runs them: `pilotkpi
serve` holds the deployment and each night is a `run_deployment`, waited for. At one pilot (the
smoke size of tests/test_bench_smoke.py: 49 accepted reports) on the tests' Prefect server; no
timing is asserted, only that each night's figures are the night's and agree with each other."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest

from bench import run as bench_run, workload
from bench.served import serving
from tests.support import ROOT, SERVER


@pytest.mark.server
@SERVER
def test_served_nights_are_measured_from_the_servers_own_record(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    wl = workload.write_workload(tmp_path / "national", 1)
    env = {**bench_run._env(tmp_path), "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with serving(wl.registry, wl.inbox, tmp_path / "w" / "warehouse.duckdb", tmp_path / "w" / "out", env,
                 tmp_path / "w", name="bench-smoke") as served:
        full = served.night(wl.as_of, wl.manifest["files"], wl.manifest["lines"])
        new = workload.write_increment(tmp_path / "national", 1, 0.01, wl.inbox)
        one = served.night(wl.as_of + timedelta(days=1), new["files"], new["lines"])
        quiet = served.night(wl.as_of + timedelta(days=2), 0, 0)
        assert served.process.poll() is None
    nights = {"full": full, "one_percent": one, "quiet": quiet}
    assert all(n["exit_code"] == 0 for n in nights.values()), nights
    assert full["counts"]["accepted"] == 49 and full["counts"]["files_seen"] == wl.manifest["files"]
    assert one["counts"] == {"files_seen": 1, "accepted": 1, "superseded": 0, "duplicates": 0, "quarantined": 0}
    assert quiet["counts"]["files_seen"] == 0
    for (name, night), day in zip(nights.items(), ("2006-08-15", "2006-08-16", "2006-08-17")):
        assert f"as of {day}" in night["stdout"], name
        assert "pilotkpi: warm night " in night["stdout"], name  # each one forked warm
        # The server's Pending-to-end holds the Pending-to-Running start; the client saw it all.
        assert 0 < night["start_seconds"] < night["wall_seconds"] <= night["client_seconds"], night
        assert night["cpu_seconds"] > 0 and night["other_seconds"] >= 0, night
        assert night["peak_rss_tree_mib"] >= night["peak_rss_main_mib"] > 0
    assert "read" in full["stages"] and "ge" in one["stages"] and "read" not in quiet["stages"]
