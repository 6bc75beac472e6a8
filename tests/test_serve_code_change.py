"""Code changed on disk while `pilotkpi serve` runs (a deploy without a restart): the next served
night must run the new code, since its skip keys hash the code on disk (kpis/steps.code_digest).

The project is copied to a temporary checkout and served from there (the session's Prefect server, the
deployment, warm nights as production runs them). A first night runs warm; then a label of the
English summaries is edited in the copy (kpis/summary/labels.py, which the nights' forkserver
imported); the same night is run again (same as-of, nothing new: only the code changed). Before
flows/warm.py checked the imported code against the disk, that night ran the forkserver's old
labels but recorded the new code's key, so the page kept "As of" and no later night rendered it
again. Now the night runs cold, renders "Figures as of", and `serve` restarts the forkserver: the
third night is warm again and skips the summaries (their recorded key is that of the code that ran).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from flows.warm import CODE_CHANGED_LINE, START_LINE
from tests.support import ROOT, SERVER
from tests.test_flow import AS_OF, make_scenario
from tests.test_serve_integration import _api, _env, _stop

DEPLOYMENT = "nightly-code-change"
NIGHT_TIMEOUT = 240
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
OUTPUT_STEPS = ["validation_report", "summaries", "artifact", "letters", "publish"]


def _serve(code: Path, root: Path, home: Path, api_url: str, log: Path) -> subprocess.Popen:
    """`pilotkpi serve` importing the copied checkout (its cwd and its only PYTHONPATH entry)."""
    env = _env(home, PREFECT_API_URL=api_url, PREFECT_RUNNER_POLL_FREQUENCY="1", PYTHONPATH=str(code))
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--registry", str(root / "registry"), "--inbox",
             str(root / "inbox"), "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
             "--name", DEPLOYMENT, "--cron", "0 2 29 2 *"],
            cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)


def _last_run(root: Path) -> tuple[str, list[str]]:
    """The last job's run id and the output steps it did (not skipped)."""
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        run_id, skipped, failed = con.execute(
            "SELECT run_id, skipped_steps, failed_steps FROM ops.runs ORDER BY started_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    assert failed is None, failed
    return run_id, [s for s in OUTPUT_STEPS if s not in (skipped or "").split(",")]


@pytest.mark.server
@SERVER
def test_a_night_after_the_code_changed_on_disk_runs_the_new_code_and_records_its_key(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    code = tmp_path / "code"
    for package in ("flows", "kpis", "pilots", "warehouse"):
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    root = tmp_path / "night"
    root.mkdir()
    make_scenario(root)
    home = tmp_path / "prefect-home"
    home.mkdir()
    api_url = PREFECT_API_URL.value()  # the session's Prefect server: `serve` and its nights are the subject
    logs = {"serve": tmp_path / "serve.log"}
    processes: list[subprocess.Popen] = []

    def output() -> str:
        return "\n".join(f"--- {name} ---\n{log.read_text(errors='replace')[-6000:]}"
                         for name, log in logs.items() if log.exists())

    def night() -> str:
        """One night as of AS_OF, started by hand through the deployment; its flow run id."""
        run_id = _api(api_url, f"/deployments/{deployment_id}/create_flow_run",
                      {"parameters": {"as_of": AS_OF, "settle_seconds": 0}})["id"]
        deadline = time.monotonic() + NIGHT_TIMEOUT
        while True:
            assert all(p.poll() is None for p in processes), output()
            run = _api(api_url, f"/flow_runs/{run_id}")
            if run["state_type"] in TERMINAL:
                assert run["state_type"] == "COMPLETED", f"{run}\n{output()}"
                return run_id
            assert time.monotonic() < deadline, output()
            time.sleep(0.25)

    def night_lines(run_id: str) -> list[str]:
        return [line for line in logs["serve"].read_text(errors="replace").splitlines() if run_id in line]

    try:
        processes.append(_serve(code, root, home, api_url, logs["serve"]))
        deadline = time.monotonic() + 120
        deployment_id = ""
        while not deployment_id:
            assert processes[0].poll() is None, output()
            try:
                deployment_id = _api(api_url, f"/deployments/name/nightly/{DEPLOYMENT}")["id"]
            except OSError:
                assert time.monotonic() < deadline, f"the deployment was not registered\n{output()}"
                time.sleep(0.25)
        summary = root / "out" / "summary.en.md"

        # The first night, warm: everything is done; the English summary says "As of".
        first = night()
        assert any(line.startswith(f"{START_LINE} {first}: ") for line in night_lines(first)), output()
        assert _last_run(root)[1] == OUTPUT_STEPS
        assert "As of" in summary.read_text(encoding="utf-8")
        assert "Figures as of" not in summary.read_text(encoding="utf-8")

        # A deploy without a restart: a label of the English summaries changes in the served checkout.
        labels = code / "kpis" / "summary" / "labels.py"
        text = labels.read_text(encoding="utf-8")
        assert text.count('"as_of": "As of"') == 1
        labels.write_text(text.replace('"as_of": "As of"', '"as_of": "Figures as of"'), encoding="utf-8")

        # The same night again: only the code changed. It ran cold, said why, and rendered the
        # summaries (and the artifact that shows them) with the new label.
        second = night()
        lines = night_lines(second)
        assert not any(line.startswith(f"{START_LINE} {second}: ") for line in lines), lines
        (changed,) = [line for line in lines if line.startswith(CODE_CHANGED_LINE)]
        assert "kpis/summary/labels.py" in changed and "runs cold" in changed, changed
        assert _last_run(root)[1] == ["summaries", "artifact"], output()
        assert "Figures as of" in summary.read_text(encoding="utf-8"), output()
        # `serve` restarts the forkserver once the night's process has ended (after its run is
        # marked completed on the server: a moment later).
        deadline = time.monotonic() + 30
        while "the nights' process was restarted" not in logs["serve"].read_text(errors="replace"):
            assert time.monotonic() < deadline, output()
            time.sleep(0.2)

        # The next night is warm again (a forkserver that imported the new code) and does nothing:
        # the key the second night recorded is that of the code it ran, and of the code now.
        third = night()
        (started,) = [line for line in night_lines(third) if line.startswith(f"{START_LINE} {third}: ")]
        assert "flows.nightly" in started, started
        assert _last_run(root)[1] == [], output()
        assert "Figures as of" in summary.read_text(encoding="utf-8")
    finally:
        for process in reversed(processes):
            _stop(process)


def test_a_preloaded_data_file_changed_on_disk_counts_as_changed_code(tmp_path, monkeypatch):
    # The forkserver parses pilots/defects.yaml once and keeps it (flows/warm_preload.py): a night
    # does not read it again, so its change must send the night cold as a module's does.
    import flows.warm as warm

    data = tmp_path / "defects.yaml"
    data.write_text("FILE_EMPTY: {}\n", encoding="utf-8")
    monkeypatch.setattr(warm, "PRELOADED_DATA", (str(data),))
    monkeypatch.setattr(warm, "_imported_code", None)
    assert warm.record_code() > 1  # the project's imported modules, and the data file
    assert warm.changed_code() == []
    data.write_text("FILE_EMPTY: {message_en: changed}\n", encoding="utf-8")
    assert warm.changed_code() == [str(data)]
