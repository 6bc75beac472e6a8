"""A cold `pilotkpi run` imports only what its night needs (issue 22, the quiet night's fixed cost).

The CLI runs in a subprocess with Python's own import log (PYTHONPROFILEIMPORTTIME, the `-X
importtime` of the environment). The full night reads a workbook and validates: it imports
openpyxl, pandas and Great Expectations. The quiet night after it (nothing new, as-of one day
later) reads and validates nothing, so none of openpyxl, Great Expectations, the validation module
or Dask is imported, and its summary is still written with the new date. Nor pandas and numpy: the
registry tables already hold the registry, so they are not rewritten (warehouse/registry_check.py).
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest

from tests.support import ROOT, SERIAL
from tests.test_flow import AS_OF, make_scenario

pytestmark = SERIAL
IMPORTED = re.compile(r"^import time:\s+-?\d+ \|\s+\d+ \| *(\S+)$", re.M)
NOT_ON_A_QUIET_NIGHT = ("openpyxl", "great_expectations", "pilots.checks", "pilots.readers.xlsx_reader", "dask",
                        "pandas", "numpy",
                        "distributed")


@pytest.fixture(scope="module")
def api_url(prefect_harness):
    """The session's test server: the subprocesses use it instead of starting their own."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _night(tmp_path: Path, registry: Path, inbox: Path, as_of: str, api_url: str) -> tuple[set[str], str]:
    """(modules the run imported, its stdout) of one `pilotkpi run`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "prefect-home"), PILOTKPI_SETTLE_SECONDS="0",
               PYTHONPATH=str(ROOT), PYTHONSAFEPATH="1", PYTHONPROFILEIMPORTTIME="1")
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox",
                           str(inbox), "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"),
                           "--as-of", as_of], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(IMPORTED.findall(done.stderr)), done.stdout


def _workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer",
                  "allocated_thb", "disbursed_thb", "funding_source"])
    sheet.append(["PLT-2548-003", "15001", "2548-Q2", "2005-04-18", "budget", "ACT-1", 5, 500000, 250000, "own"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_quiet_night_imports_no_reader_no_validation_and_no_dask(tmp_path, api_url):
    registry, inbox = make_scenario(tmp_path)
    (inbox / "g_sec_q2.xlsx").write_bytes(_workbook())

    full, said = _night(tmp_path, registry, inbox, AS_OF, api_url)
    assert "files seen 7: accepted 4," in said, said  # the scenario's six files (three accepted) and the workbook
    # The full night needs them all: the check below can fail.
    assert {"openpyxl", "pandas", "great_expectations", "pilots.checks", "pilots.readers.xlsx_reader"} <= full

    next_day = (date.fromisoformat(AS_OF) + timedelta(days=1)).isoformat()
    quiet, said = _night(tmp_path, registry, inbox, next_day, api_url)
    assert "files seen 0" in said, said
    assert sorted(quiet & set(NOT_ON_A_QUIET_NIGHT)) == []
    assert "flows.nightly" in quiet and "duckdb" in quiet  # the log is the run's own
    assert "As of 16 May 2005" in (tmp_path / "out" / "summary.en.md").read_text(encoding="utf-8")
