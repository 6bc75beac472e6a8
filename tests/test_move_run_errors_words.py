"""A moved pilot's names blank only the errors that name them, as whole words (RV9 #8).

When a pilot moves to the restricted store, earlier ops.runs errors naming it are replaced whole
(tests/test_move_run_errors.py). Its KPIs' names and its files' names and stems were matched as
substrings, any case: a KPI named "Rate" blanked every error containing "generate". Now names are
matched with the codes' word edges (no ASCII letter or digit either side), and a file's stem alone
only when 6 characters or more.

tests/test_flow.py's scenario, K2's English name made "Rate"; three rebuilds fail (test point
marts) while PLT-2548-003 is open:
  g  "could not generate marts.pilot_scores": names nothing of the pilot ("generate" is not "Rate");
  r  quotes a value beside 'rate' (K2's name, another case): a whole word;
  s  names the file a_lead_q1.csv by its stem a_lead_q1 (9 characters), beside a value.
Then the pilot is classified restricted and the next run moves it. Expected: g unchanged; r and s
replaced by the neutral text (as tests/test_move_run_errors.py words it).
"""
from __future__ import annotations

import re

import pytest

from tests.test_flow import AS_OF, make_scenario
from tests.test_move_run_errors import _neutral, failed_rebuilds
from tests.test_pilot_moves import cli, q, reclassify
from warehouse.publish import published_path

PILOT = "PLT-2548-003"
FAILURES = {
    "g": "IO Error: could not generate marts.pilot_scores",
    "r": "Conversion Error: actual 918273.5 of 'rate' row 2 does not fit",
    "s": "Invalid Input Error: a_lead_q1 row 3 holds 731.0042",
}


@pytest.fixture(scope="module")
def moved(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("move-words")
    registry, inbox = make_scenario(root)
    path = registry / "pilots" / f"{PILOT}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name_en: Applications completed", "name_en: Rate"),
                    encoding="utf-8")
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out"), "--as-of", AS_OF]
    code, output = cli("run", "--inbox", inbox, *base)
    assert code == 0, output
    failed = failed_rebuilds(FAILURES, base, wh)
    reclassify(registry, PILOT, "restricted")
    code, output = cli("run", "--inbox", inbox, "--settle-seconds", "0", *base)
    assert code == 0, output
    assert f"moved pilot {PILOT} from the open warehouse to the restricted store" in output
    mover = re.search(r"^run (\S+) as of", output, re.M).group(1)
    return wh, failed, mover


def test_only_errors_naming_the_pilots_words_are_replaced(moved):
    wh, failed, mover = moved
    for path in (wh, published_path(wh)):
        errors = dict(q(path, "SELECT run_id, error FROM ops.runs WHERE list_contains(?, run_id)",
                        [list(failed.values())]))
        assert errors == {failed["g"]: f"RuntimeError: {FAILURES['g']}", failed["r"]: _neutral(mover),
                          failed["s"]: _neutral(mover)}, path
