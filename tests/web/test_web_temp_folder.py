"""The web keeps a checked file in a temp folder of its own until it is sent (web/app.py,
Site.keep_dir). That folder must not outlive the app, even when the app's lifespan (which
removes it) never runs, as in a test that builds the app and drives it with a TestClient: 249
`pilotkpi-web-*` folders were found left in /tmp by the suite. Each case runs in a process of its
own with TMPDIR pointed at a folder of the test, so that what is left there is this app's alone.
"""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT, child_env
from tests.web.conftest import report

# Builds the app without running its lifespan, lists the temp folder after building it, then (if
# asked) signs in as the demo's agency and uploads a file without errors (kept until sent), lists
# it again, and ends.
SCRIPT = r"""
import json, os, sys, tempfile
from pathlib import Path
from tests.web.conftest import Client, make_app, verdict
site_dir, name, password, upload = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tmp = Path(tempfile.gettempdir())
app = make_app(site_dir)
seen = {"built": sorted(p.name for p in tmp.iterdir())}
if upload:
    client = Client(app)
    assert client.sign_in(name, password).status_code == 303
    page = client.upload("dbd-2549-q3.csv", Path(upload).read_bytes()).text
    assert verdict(page) == "new", page[-2000:]  # a new report for 2549-Q3: kept until sent
    kept = [p for p in tmp.iterdir() if p.name.startswith("pilotkpi-web-")]
    seen["uploaded"] = [[p.name, sorted(f.stat().st_size for f in p.iterdir())] for p in kept]
print(json.dumps(seen))
"""


def _run(tmp_path, site_dir, passwords, upload: bool) -> tuple[dict, list[str]]:
    temp = tmp_path / "temp"
    temp.mkdir()
    data = tmp_path / "upload.csv"
    data.write_bytes(report())
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(site_dir), "demo-agency", passwords["demo-agency"],
                          str(data) if upload else ""],
                         env={**child_env(), "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), sorted(p.name for p in temp.iterdir())


def test_an_app_built_and_never_started_leaves_no_temp_folder(tmp_path, site_dir, passwords):
    seen, left = _run(tmp_path, site_dir, passwords, upload=False)
    assert [n for n in seen["built"] if n.startswith("pilotkpi-web-")] == []  # made at the first upload only
    assert [n for n in left if n.startswith("pilotkpi-web-")] == []


def test_a_file_kept_by_an_app_whose_lifespan_never_ran_is_removed_when_the_process_ends(
        tmp_path, site_dir, passwords):
    seen, left = _run(tmp_path, site_dir, passwords, upload=True)
    # The upload kept the file, whole, in the app's one folder while the app lived...
    [(name, sizes)] = seen["uploaded"]
    assert name.startswith("pilotkpi-web-") and sizes == [len(report())]
    # ...and nothing of it is left once the process ended, its lifespan never run.
    assert [n for n in left if n.startswith("pilotkpi-web-")] == []


def test_an_app_started_twice_keeps_uploads_after_its_first_lifespan_ended(site_dir, passwords):
    # Its first lifespan's end removed the folder; the second one must make a new one, not hand
    # out the removed path (every upload would then fail).
    from starlette.testclient import TestClient

    from tests.web.conftest import Client, make_app, verdict

    app = make_app(site_dir)
    site = app.state.site
    for _ in range(2):
        with TestClient(app):  # a whole lifespan: started, then ended (Site.close)
            client = Client(app)
            assert client.sign_in("demo-agency", passwords["demo-agency"]).status_code == 303
            assert verdict(client.upload("dbd-2549-q3.csv", report()).text) == "new"
            [kept] = list(site.keep_dir.iterdir())
            assert kept.read_bytes() == report()
        assert site._keep_dir is None
