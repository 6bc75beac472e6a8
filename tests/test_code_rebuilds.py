"""Rebuilds that see code (issue 22 item 2): a change to any file a step declares rebuilds that
step and what depends on it, and nothing else.

The code is copied to a temporary checkout; each night runs `pilotkpi run` in a child process that
imports that copy, after one of its files was edited there: a mart's SQL, a macro, a template of
the summaries, a Python module of the summaries (pages.py), a label file (labels.py), a letter
template. Nothing new arrives and the as-of date stays: only the code changed. Which steps ran is
read from ops.mart_inputs (the run that last built each mart) and ops.runs.skipped_steps.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support import ROOT, SERIAL, child_env
from tests.test_flow import AS_OF, make_scenario

pytestmark = SERIAL
OUTPUT_STEPS = ["validation_report", "summaries", "artifact", "letters", "publish"]
MARTS = ["due_periods", "kpi_scores", "pilot_scores", "budget_snapshot", "budget_integration",
         "budget_integration_by_layer", "reporting_compliance", "kpi_outlier_checks", "kpi_outliers", "reminders"]


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _night(root: Path, code: Path) -> str:
    env = child_env(PYTHONPATH=str(code), PREFECT_HOME=str(root / "prefect-home"))
    url = _api_url()  # the test harness's server: a child need not start its own
    if url:
        env["PREFECT_API_URL"] = url
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--registry", str(root / "registry"), "--inbox",
         str(root / "inbox"), "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF,
         "--settle-seconds", "0"], env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        return con.execute("SELECT run_id FROM ops.runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()


def _ran(root: Path, run_id: str) -> tuple[set[str], list[str]]:
    """(marts this run built, output steps it did: not skipped)."""
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        built = {m for (m,) in con.execute("SELECT mart_name FROM ops.mart_inputs WHERE run_id = ?", [run_id]).fetchall()}
        skipped, failed = con.execute("SELECT skipped_steps, failed_steps FROM ops.runs WHERE run_id = ?",
                                      [run_id]).fetchone()
    finally:
        con.close()
    assert failed is None
    return built, [s for s in OUTPUT_STEPS if s not in (skipped or "").split(",")]


def _times(root: Path) -> dict[str, int]:
    files = [p for p in (root / "out").rglob("*") if p.is_file() and not p.name.startswith(".")]
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in files}


def _edit(code: Path, name: str, old: str, new: str) -> None:
    path = code / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def checkout(tmp_path, prefect_harness) -> tuple[Path, Path]:
    code = tmp_path / "code"
    for package in ("flows", "kpis", "pilots", "warehouse"):
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    root = tmp_path / "night"
    root.mkdir()
    registry, inbox = make_scenario(root)
    assert (registry, inbox) == (root / "registry", root / "inbox")
    first = _night(root, code)
    assert _ran(root, first) == (set(MARTS), OUTPUT_STEPS)
    again = _night(root, code)  # the same code: nothing is done again
    assert _ran(root, again) == (set(), [])
    return root, code


def test_each_kind_of_declared_file_rebuilds_its_step_and_what_depends_on_it(checkout):
    root, code = checkout

    # A mart's SQL (a comment: the rows stay the same), and a letter template (visible words).
    _edit(code, "kpis/kpi_outliers.sql", "\n", "\n-- edited in the test\n")
    _edit(code, "kpis/letters/templates/letter.en.html.j2", "</body>", "<p>EDITED LETTER</p></body>")
    before = _times(root)
    built, outputs = _ran(root, _night(root, code))
    # kpi_outliers is rebuilt; no mart reads it, and its rows did not change, so the summaries
    # (which read it) are not rendered again. The letters are.
    assert (built, outputs) == ({"kpi_outliers"}, ["letters"])
    letters = sorted((root / "out" / "reminders").glob("*.en.html"))
    assert letters and all("EDITED LETTER" in p.read_text(encoding="utf-8") for p in letters)
    after = _times(root)
    assert {k for k in after if after[k] != before.get(k)} == {str(p.relative_to(root)) for p in letters}

    # A macro every mart runs.
    _edit(code, "kpis/macros.sql", "\n", "\n-- edited in the test\n")
    assert _ran(root, _night(root, code)) == (set(MARTS), [])

    # A template of the summaries: rendered again, with the artifact that shows them.
    _edit(code, "kpis/summary/templates/summary.html.j2", "</body>", "<p>EDITED SUMMARY</p></body>")
    before = _times(root)
    assert _ran(root, _night(root, code)) == (set(), ["summaries", "artifact"])
    assert "EDITED SUMMARY" in (root / "out" / "summary.en.html").read_text(encoding="utf-8")
    after = _times(root)
    # The Markdown editions came out the same: not rewritten.
    assert {k for k in after if after[k] != before.get(k)} == {"out/summary.th.html", "out/summary.en.html"}

    # A Python module of the summaries: rendered again; no page changed, so none is rewritten.
    _edit(code, "kpis/summary/pages.py", "\n", "\n# edited in the test\n")
    before = _times(root)
    assert _ran(root, _night(root, code)) == (set(), ["summaries", "artifact"])
    assert _times(root) == before

    # A label file: the English summaries change, the Thai ones do not.
    _edit(code, "kpis/summary/labels.py", '"as_of": "As of"', '"as_of": "Figures as of"')
    before = _times(root)
    assert _ran(root, _night(root, code)) == (set(), ["summaries", "artifact"])
    assert "Figures as of" in (root / "out" / "summary.en.md").read_text(encoding="utf-8")
    after = _times(root)
    assert {k for k in after if after[k] != before.get(k)} == {"out/summary.en.md", "out/summary.en.html"}
