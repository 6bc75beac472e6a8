"""Prefect's fixed cost of a night: the floor under the 1%-new and quiet nights (issue 22).

A night's wall time holds costs that no work of ours can remove: a new Python, Prefect's import,
its temporary server's start (`pilotkpi run`), and Prefect's own flow and task runs. This module
measures them alone, by the cheapest honest means, so that the bench can say how much of a small
night is ours:

- **CLI** (`python -m bench.prefect_floor cli`, a fresh process each time): what `pilotkpi run`
  does and nothing more: the temporary server launched first (flows/ephemeral.py: the same launch,
  gate and readiness check), Prefect's `flow` and `task` imported meanwhile with the collector
  off and then frozen (flows/program.py, as the night's imports), Prefect's settings for a run on
  its own server (as flows/nightly.py's nightly_settings), one flow run with one task run
  (bench/empty_flow.py), and the short exit (flows/program.py). No registry, no warehouse, no
  import of the job's modules.
- **Running server** (`python -m bench.prefect_floor serve NAME`): the same empty flow deployed and
  served by `pilotkpi serve`'s machinery (Prefect's runner, each run forked warm from the
  forkserver: flows/warm.py), each run a `run_deployment` waited for (bench/served.py): the
  server's Pending to the run's end, as the served nights are measured.

A floor: the same steps as our night's, less all of ours, so it cannot take longer than the same
part of our night (tests/test_prefect_floor.py checks it against a demo night). The median of a few
runs is kept, each run's figures beside.
"""
from __future__ import annotations

import contextlib
import sys
import time

from flows import program  # first: its exit handler (the short exit) must run after every other one

FLOOR_SERVED_NAME = "bench-floor"


def cli_night() -> None:
    """One cold CLI night of Prefect alone (module docstring), in this fresh process; prints its split."""
    import json

    start = time.perf_counter()
    program.started()
    from flows.ephemeral import launch_server

    server = launch_server()  # None where a running server is configured (the tests' harness)
    if server is not None:
        server.serve()
    with program.imports_kept():
        from bench.empty_flow import empty_night
        from flows.ephemeral import import_run_engine

        import_run_engine()  # as the night does
    waited_at = time.perf_counter()
    ours = server is not None and server.ready() is not None
    flow_at = time.perf_counter()
    from flows.ephemeral import temporary_server_settings

    with temporary_server_settings() if ours else contextlib.nullcontext():  # as flows/nightly.py nightly_settings
        assert empty_night() == 1
    print(json.dumps({"imports_seconds": round(waited_at - start, 3), "server_wait_seconds": round(flow_at - waited_at, 3),
                      "flow_seconds": round(time.perf_counter() - flow_at, 3), "temporary_server": ours}), flush=True)
    program.after_this_command()
    program.ended(0)


def serve_empty(name: str) -> None:
    """`pilotkpi serve`'s machinery (flows/serve.py) for the empty flow's deployment `name`."""
    import os

    from flows.settings import apply_defaults

    apply_defaults()
    from flows import warm

    # Its preload: the project's modules, as for the nightly deployment, and the empty flow's module,
    # as flows.nightly is preloaded for the nights (each run then takes its flow already imported).
    warm.PRELOAD.append("bench.empty_flow")
    warm.start_forkserver()
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from bench.empty_flow import empty_night
    from bench.served import NEVER
    from flows.serve import run_until_stopped, wait_for_health

    wait_for_health(os.environ["PREFECT_API_URL"], 90)
    deployment = empty_night.to_deployment(name=name, schedules=[Cron(NEVER)],
                                           entrypoint_type=EntrypointType.MODULE_PATH)
    warm.wait_until_ready()
    run_until_stopped(deployment, warm.warm_engine_runs({name: deployment.entrypoint}))


def cli_floor(env: dict[str, str], runs: int = 3) -> dict:
    """`runs` cold CLI nights of Prefect alone, each a new process (env: the bench's, its
    PREFECT_HOME migrated by the full night already); their median and each run's figures.
    CPU: the night's process's own (as a CLI night's), not its server's."""
    import json
    import resource
    import subprocess

    from bench.measure import ROOT

    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench.prefect_floor", "cli"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"the Prefect floor's night failed (exit {done.returncode}): {done.stderr[-2000:]}")
        samples.append({"wall_seconds": round(wall, 3), **json.loads(done.stdout.strip().splitlines()[-1]),
                        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)})
    return _median_of(samples)


def served_floor(env: dict[str, str], work, runs: int = 3) -> dict:
    """`runs` served runs of the empty deployment on the running server at env's PREFECT_API_URL,
    forked warm as the served nights are; their median (Pending to the end) and each run's figures."""
    from datetime import date, timedelta

    from bench.empty_flow import FLOW_NAME
    from bench.served import serving

    samples = []
    command = [sys.executable, "-m", "bench.prefect_floor", "serve", FLOOR_SERVED_NAME]
    with serving(work, work, work / "unused.duckdb", work, env, work, name=FLOOR_SERVED_NAME, command=command,
                 flow=FLOW_NAME) as served:
        for day in range(runs):
            night = served.night(date(2006, 8, 15) + timedelta(days=day), 0, 0)
            if night["exit_code"] != 0:
                raise RuntimeError(f"the served Prefect floor's run failed: {night['stderr']}")
            samples.append({k: night[k] for k in ("wall_seconds", "start_seconds", "cpu_seconds", "client_seconds")})
        serve_start = served.start_seconds
    return {**_median_of(samples), "serve_start_seconds": round(serve_start, 3)}


def _median_of(samples: list[dict]) -> dict:
    from statistics import median

    return {"wall_seconds": round(median(s["wall_seconds"] for s in samples), 3),
            "cpu_seconds": round(median(s["cpu_seconds"] for s in samples), 3), "runs": samples}


if __name__ == "__main__":
    if sys.argv[1:] == ["cli"]:
        cli_night()
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve_empty(sys.argv[2])
        sys.exit(0)
    sys.exit("usage: python -m bench.prefect_floor cli | serve NAME")
