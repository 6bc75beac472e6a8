"""What a warm served night no longer repeats before Prefect marks it Running (flows/warm.py):
the deployment read only for its entrypoint, and the TLS context each Prefect client builds from
certifi's bundle. Each check runs in a process of its own: it changes process-wide state
(os.environ, ssl.create_default_context) as a night's process does.

The served nights themselves (tests/test_serve_warm.py, tests/test_serve_code_change.py) run
through both on a real Prefect server.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import child_env

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, cwd: Path = ROOT) -> dict:
    out = subprocess.run([sys.executable, "-c", script], env=child_env(), cwd=cwd, check=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_warm_night_gives_prefects_engine_the_served_entrypoint_and_prefect_loads_that_flow():
    """run_engine sets PREFECT__FLOW_ENTRYPOINT to the served deployment's entrypoint (one already
    set is kept; none given, none set), and Prefect's own load_flow then returns the flow object of
    the module imported already, without a flow run or the API."""
    script = """if True:
        import json, os, runpy
        import flows.nightly
        from flows import warm
        from prefect.flow_engine import load_flow

        seen = []
        runpy.run_module = lambda *a, **k: seen.append(os.environ.get("PREFECT__FLOW_ENTRYPOINT"))
        base = {k: v for k, v in os.environ.items() if k != "PREFECT__FLOW_ENTRYPOINT"}
        warm.run_engine(dict(base), None, entrypoint="flows.nightly.nightly")
        loaded = load_flow(None)  # reads PREFECT__FLOW_ENTRYPOINT: no flow run, no API
        warm.run_engine(dict(base), None)
        warm.run_engine({**base, "PREFECT__FLOW_ENTRYPOINT": "elsewhere.mod.flow"}, None,
                        entrypoint="flows.nightly.nightly")
        print(json.dumps({"seen": seen, "same_flow": loaded is flows.nightly.nightly}))
    """
    result = _run(script)
    assert result == {"seen": ["flows.nightly.nightly", None, "elsewhere.mod.flow"], "same_flow": True}


def test_the_runner_names_the_entrypoint_only_for_the_served_deployments_runs():
    """serve gives warm_engine_runs {deployment name: entrypoint}; a run of another deployment
    (PREFECT__DEPLOYMENT_NAME, set by Prefect's runner) gets none, and loads its flow as Prefect does."""
    script = """if True:
        import json, sys
        import anyio
        from flows import warm
        from prefect.runner import _starter_engine

        given = []

        class Process:
            pid, exitcode = 1, 0
            def __init__(self, target, name, args):
                given.append(args[4])
            def start(self):
                pass
            def join(self, *a):
                pass

        class Context:
            Process = Process
            def Pipe(self, duplex):
                import multiprocessing
                return multiprocessing.Pipe(duplex=False)

        warm._context = Context()
        command = [sys.executable, "-m", "prefect.engine"]

        async def main():
            with warm.warm_engine_runs({"nightly-prod": "flows.nightly.nightly"}):
                for name in ("nightly-prod", "other", None):
                    env = {"PREFECT__FLOW_RUN_ID": "x"} | ({"PREFECT__DEPLOYMENT_NAME": name} if name else {})
                    await _starter_engine.run_process(command, env=env)

        anyio.run(main)
        print(json.dumps(given))
    """
    assert _run(script) == ["flows.nightly.nightly", None, None]


def test_a_warm_night_reuses_the_forkservers_tls_context_while_the_bundle_is_unchanged(tmp_path):
    """The context built in the forkserver is the one a Prefect client of the night verifies TLS
    with (the bundle PREFECT_API_SSL_CERT_FILE names, here a copy of certifi's); any other context
    is built as before, and once the bundle changed on disk the night builds a new one from it."""
    script = f"""if True:
        import json, os, shutil, ssl
        import certifi
        bundle = {str(tmp_path / "cacert.pem")!r}
        shutil.copyfile(certifi.where(), bundle)
        os.environ["PREFECT_API_SSL_CERT_FILE"] = bundle  # the file Prefect's clients load
        from flows import warm
        from prefect.client.orchestration import SyncPrefectClient

        warm.preload_tls_context()  # the forkserver
        preloaded = warm._tls_context[2]
        pid = os.fork()
        if pid == 0:  # the night
            warm.reuse_tls_context()
            client = SyncPrefectClient("https://prefect.invalid/api")
            used = client._client._transport._pool._ssl_context
            other_file = bundle + ".2"
            shutil.copyfile(bundle, other_file)
            result = {{
                "client_uses_preloaded": used is preloaded,
                "same_call_again": ssl.create_default_context(cafile=bundle) is preloaded,
                "no_cafile": ssl.create_default_context() is preloaded,
                "other_cafile": ssl.create_default_context(cafile=other_file) is preloaded,
                "client_purpose": ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=bundle) is preloaded,
            }}
            with open(bundle, "a") as fh:  # the bundle updated on disk
                fh.write("\\n")
            fresh = ssl.create_default_context(cafile=bundle)
            result["after_change"] = fresh is preloaded
            result["after_change_verifies"] = fresh.verify_mode == ssl.CERT_REQUIRED and fresh.check_hostname
            with open(bundle + ".json", "w") as fh:
                json.dump(result, fh)
            os._exit(0)
        os.waitpid(pid, 0)
        print(open(bundle + ".json").read())
    """
    assert _run(script) == {"client_uses_preloaded": True, "same_call_again": True, "no_cafile": False,
                            "other_cafile": False, "client_purpose": False, "after_change": False,
                            "after_change_verifies": True}
