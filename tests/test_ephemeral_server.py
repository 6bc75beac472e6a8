"""The job's ephemeral Prefect server is started as Prefect starts it, without Prefect's server
code in the job's process (flows/ephemeral.py): the same command and environment as
SubprocessASGIServer, a flow runs against it, and it stops when the job ends normally.
(tests/test_server_cleanup.py kills the job: the watchdog stops it then.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from flows import ephemeral
from tests.support import SERIAL, child_env

pytestmark = SERIAL


def test_the_server_is_started_with_prefects_own_command_and_environment(monkeypatch):
    from prefect.server.api import server as prefect_server

    started = []

    def popen(args, env=None, **kwargs):
        started.append((args, env, kwargs))
        return None

    monkeypatch.setattr(prefect_server.subprocess, "Popen", popen)
    prefect_server.SubprocessASGIServer(port=8765)._run_uvicorn_command()
    [(prefect_args, prefect_env, prefect_kwargs)] = started
    args, env = ephemeral.server_command(8765)
    assert args == prefect_args
    assert "prefect.server.api.server:create_app" in args and args[args.index("--port") + 1] == "8765"
    assert env == prefect_env
    assert {k: env[k] for k in ephemeral.SERVER_ENV} == {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                                                           "PREFECT__SERVER_FINAL": "1"}
    assert prefect_kwargs == {}  # no other Popen option (output inherited, as ours)


JOB = r"""
import json, sys
from flows.ephemeral import start_server_tied_to_this_process
from prefect import flow, task
from prefect.settings import PREFECT_API_URL

pid = start_server_tied_to_this_process()

@task
def double(x):
    return 2 * x

@flow
def job(n):
    return sum(double(i) for i in range(n))

again = start_server_tied_to_this_process()  # a second call: the server is there already
print(json.dumps({"pid": pid, "again": again, "url": PREFECT_API_URL.value(), "result": job(4),
                  "server_code": sorted(m for m in sys.modules if m.startswith("prefect.server"))}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_a_job_runs_its_flow_on_its_own_server_without_importing_prefects_server_and_stops_it(tmp_path):
    env = child_env(PREFECT_HOME=str(tmp_path / "ph"))
    for name in [n for n in env if n.startswith("PREFECT_API")]:  # no harness server: the job's own
        del env[name]
    done = subprocess.run([sys.executable, "-c", JOB], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["result"] == 2 * (0 + 1 + 2 + 3)  # the flow ran, its task runs recorded on the server
    assert out["again"] is None
    assert out["url"].startswith("http://127.0.0.1:") and out["url"].endswith("/api")
    assert out["server_code"] == []  # FastAPI, SQLAlchemy and the rest only ever in the server's process
    deadline = time.monotonic() + 10  # stopped at the job's exit (terminate, then wait)
    while ephemeral.start_time(out["pid"]) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ephemeral.start_time(out["pid"]) is None, "the server outlived the job"
