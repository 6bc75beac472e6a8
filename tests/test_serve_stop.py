"""`pilotkpi serve` stops on SIGTERM wherever the signal lands (flows/serve.py stoppable_runner).

The CI run of 2026-12-06 saw the signal land in a multiprocessing finalizer: the handler then
raised an exception there, Python printed "Exception ignored" and the process went on serving
until it was killed. The whole stop, on a real Prefect server, is in tests/test_serve_warm.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import child_env

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """if True:
    import asyncio, json, os, signal, time
    from flows.serve import stoppable_runner

    runner = stoppable_runner()
    seen = {}

    class Finalized:  # the signal arrives while Python runs a finalizer
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            end = time.monotonic() + 1
            while time.monotonic() < end:  # the handler runs here, between two bytecodes
                pass
            seen["finalizer_ended"] = True

    async def serving():
        runner.main_task = asyncio.current_task()
        signal.signal(signal.SIGTERM, runner.handle_sigterm)  # as Runner.start() installs it
        Finalized()
        start = time.monotonic()
        try:
            await asyncio.sleep(30)
        finally:
            seen["waited"] = round(time.monotonic() - start, 1)

    try:
        asyncio.run(serving())
        seen["stopped"] = False
    except asyncio.CancelledError:
        seen["stopped"] = True
    print(json.dumps(seen))
"""


def test_sigterm_during_a_finalizer_stops_the_runner_at_its_next_await():
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=child_env(), cwd=ROOT, check=True, timeout=60,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"finalizer_ended": True, "waited": 0.0, "stopped": True}, out.stderr
    assert "Exception ignored" not in out.stderr, out.stderr
