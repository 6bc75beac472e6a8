"""GE's context and row suite are built once in `serve`'s forkserver (flows/warm_preload.py), so a
night forked from it validates without building them: its first validation logs no `ge` line for
the build (pilots.checks.prepare_ge), only the validation's own, and finds the same defects."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT, child_env

SCRIPT = r"""if True:
    import json, os, sys, threading
    import flows.warm_preload
    from pilots import checks
    built, threads = checks._gx.cache_info().currsize, threading.active_count()
    log = sys.argv[1]
    os.environ["PILOTKPI_STAGE_LOG"] = log
    r, w = os.pipe()
    pid = os.fork()  # as the forkserver forks a night
    if pid == 0:
        import pandas as pd
        from pilots.registry import load_registry
        registry = load_registry(sys.argv[2])
        row = {"file_key": 0, "row_number": 2, "pilot_id": "PLT-2548-001", "agency_code": "1500", "period": "2548-Q4",
               "submitted_on": "2005-10-10", "line_type": "budget", "item_code": "A01", "layer": "6",
               "funding_source": "central", "actual": None, "allocated_thb": "100", "disbursed_thb": "120",
               "note": None}
        defects = checks.row_defects(pd.DataFrame([row]), registry)
        found = sorted((issue.code, issue.column_name) for _, issue in defects)
        os.write(w, json.dumps(found).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    found = json.loads(os.read(r, 65536).decode())
    print(json.dumps({"built": built, "threads": threads, "found": found}))
"""


def test_a_night_forked_from_the_preload_validates_without_building_ge(tmp_path):
    from pilots import demo

    paths = demo.write_demo(tmp_path / "demo")
    log = tmp_path / "stages.log"
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(log), str(paths.registry)], cwd=ROOT, env=child_env(),
                         check=True, close_fds=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["built"] == 1 and result["threads"] == 1
    # One `ge` line: the validation's own; a build in the night would have logged a second, first.
    assert [line.split()[1] for line in log.read_text().splitlines() if line.startswith("stage ")] == ["ge"]
    # The suite the preload built finds this row's defects (agency-report-v1.md): an agency code of
    # four digits, a layer outside 1-5, a funding source outside the list, disbursed over allocated.
    assert result["found"] == [["AGENCY_CODE_INVALID", "agency_code"], ["DISBURSED_OVER_ALLOCATED", "disbursed_thb"],
                               ["FUNDING_SOURCE_INVALID", "funding_source"], ["LAYER_INVALID", "layer"]]
