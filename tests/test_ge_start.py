"""Great Expectations' start in a fresh process: what the row suite loads, and what it defers.

Each test runs a child Python (this process may have imported GE already) that validates a small
batch through pilots.checks.row_defects and prints what it found.
"""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT, child_env

CHILD = r"""
import json, sys
import pandas as pd
from datetime import date
from decimal import Decimal
from pilots import checks
from pilots.contract import COLUMN_NAMES
from pilots.registry import Agency, Kpi, Participant, Pilot, Registry

registry = Registry(
    agencies={"03009": Agency("03009", "a", "a", None)},
    pilots={"PLT-2548-003": Pilot(
        "PLT-2548-003", "ระบบ", "System", 3, (2,), "open", date(2004, 10, 1), date(2006, 9, 30), 30,
        (Participant("03009", "lead"),),
        (Kpi("K1", "K1", "K1", "percent", "higher", "last", Decimal(100), {}),))},
)
line = {"pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2548-Q2", "line_type": "kpi",
        "item_code": "K1", "layer": None, "allocated_thb": None, "disbursed_thb": None,
        "funding_source": None, "note": None}
rows = [{**line, "row_number": 2, "submitted_on": "2005-04-20", "actual": "47"},
        {**line, "row_number": 3, "submitted_on": "2005-02-30", "actual": "120"},
        {**line, "row_number": 4, "submitted_on": "2005-04-20", "actual": "abc"}]
batch = pd.DataFrame(rows, columns=["row_number", *COLUMN_NAMES], dtype=object)
batch.insert(0, "file_key", 0)
found = [(i.row_number, i.column_name, i.code) for _, i in checks.row_defects(batch, registry)]
lazy = type(sys.modules["scipy.stats"]).__name__
heavy_loaded = "scipy.stats._stats_py" in sys.modules
import scipy.stats  # a later user of scipy.stats gets the whole module, loaded on first use
print(json.dumps({"found": found, "lazy": lazy, "heavy_loaded": heavy_loaded,
                  "norm_cdf_0": float(scipy.stats.norm.cdf(0)),
                  "loaded_after_use": "scipy.stats._stats_py" in sys.modules}))
"""


def _child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_row_suite_runs_without_loading_scipy_stats_which_stays_usable():
    said = _child(CHILD)
    # Row 3: no such day, and 120 on a percent KPI; row 4: not a number (not also out of range).
    assert said["found"] == [[3, "submitted_on", "DATE_INVALID"], [3, "actual", "PERCENT_OUT_OF_RANGE"],
                             [4, "actual", "NOT_A_NUMBER"]]
    # GE imported scipy.stats for expectations outside the suite: deferred, never run here.
    assert said["lazy"] == "_LazyModule" and said["heavy_loaded"] is False
    # ...and whole as soon as someone uses it.
    assert said["norm_cdf_0"] == 0.5 and said["loaded_after_use"] is True


def test_a_scipy_stats_imported_before_ge_is_left_as_it_is():
    code = CHILD.replace("from pilots import checks", "import scipy.stats\nfrom pilots import checks")
    said = _child(code)
    assert said["found"][0] == [3, "submitted_on", "DATE_INVALID"]
    assert said["lazy"] == "module" and said["heavy_loaded"] is True


def test_check_of_two_files_one_with_an_impossible_date_on_every_row(tmp_path):
    """Whole flow (`pilotkpi check`, one batch of two files): the batch holds exactly two distinct
    dates, one valid and one not, the case where pandas would map submitted_on one-to-one."""
    from click.testing import CliRunner

    from flows.cli import main

    header = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual\n"
    bad, good = tmp_path / "a-bad.csv", tmp_path / "b-good.csv"
    bad.write_text(header + "PLT-2548-003,03009,2548-Q1,2005-02-30,kpi,K1,47\n"
                   "PLT-2548-003,03009,2548-Q1,2005-02-30,kpi,K2,12\n", encoding="utf-8")
    good.write_text(header + "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,47\n", encoding="utf-8")
    registry = ROOT / "tests" / "data" / "registry" / "valid"
    result = CliRunner().invoke(main, ["check", str(bad), str(good), "--registry", str(registry),
                                       "--as-of", "2006-08-15", "--format", "json"])
    assert result.exit_code == 6, result.output
    said = {o["file"]: (o["status"], [(i["row"], i["column"], i["code"]) for i in o["issues"]])
            for o in json.loads(result.output)}
    assert said == {"a-bad.csv": ("quarantined", [(2, "submitted_on", "DATE_INVALID"),
                                                  (3, "submitted_on", "DATE_INVALID")]),
                    "b-good.csv": ("accepted", [])}
