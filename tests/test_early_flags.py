"""An early report's outlier flag is in the validation report of the night that accepted it
(data-quality.md §1: "the run's validation report lists the flags that the run's new files
raised"), while marts.kpi_outliers keeps due periods only (verifier VM F1).

PLT-2548-003 (tests/test_flow.py's registry, started 2003-04-01 here) has lead reports for
2546-Q3 … 2548-Q2 with K2 = 12, 10, 12, 10, 12, 10, 12, 17, and an early report for 2548-Q3
(April-June 2005) sent on 2005-05-01 with K2 = 1000. K2 is a `sum` KPI: the raw quarterly values.

Night 1, as of 2005-05-20 (2548-Q3 not due: it ends 2005-06-30), worked by hand:
- 2548-Q2, x = 17: H = [12, 10, 12, 10, 12, 10, 12], m = 12, deviations 0,0,0,0,2,2,2: MAD = 0,
  MeanAD = 6/7; z = 5 / (1.253314 × 6/7) = 4.65432… → 4.6543 > 3.5, modified_z (due: in the mart).
- 2548-Q3, x = 1000: H = [12, 10, 12, 10, 12, 10, 12, 17], m = 12, deviations sorted
  0,0,0,0,2,2,2,5: MAD = 1; z = 0.6745 × 988 / 1 = 666.4060, modified_z. Not due: not in the mart,
  but in the night's validation report.
- Earlier periods: 2547-Q3 z = 0.6745 × (12 − 11)/1 = 0.6745, 2547-Q4 z = −2/(1.253314 × 0.8)
  = −1.9947, 2548-Q1 z = 0.6745: no flag; before 2547-Q3, fewer than 4 values: no test.
Night 2, as of 2005-07-15 (2548-Q3 now due), no new file: the mart has the 2548-Q3 flag with the
same z (a night that reads no file writes no validation report).
"""
from __future__ import annotations

import html
import re
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import rows
from tests.test_flow import _csv, make_empty_scenario
from warehouse.publish import published_path

P = "PLT-2548-003"
HISTORY = [("2546-Q3", "2003-07-20", 12), ("2546-Q4", "2003-10-20", 10), ("2547-Q1", "2004-01-20", 12),
           ("2547-Q2", "2004-04-20", 10), ("2547-Q3", "2004-07-20", 12), ("2547-Q4", "2004-10-20", 10),
           ("2548-Q1", "2005-01-20", 12), ("2548-Q2", "2005-04-20", 17)]
EARLY = ("2548-Q3", "2005-05-01", 1000)


def night(root, inbox, as_of: str) -> str:
    result = CliRunner().invoke(main, ["run", "--registry", str(root / "registry"), "--inbox", str(inbox),
                                       "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                                       "--as-of", as_of, "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    return (root / "out" / "validation.html").read_text(encoding="utf-8")


def report_flags(page: str) -> list[list[str]]:
    """The rows of the report's flag table, as read (tags removed)."""
    section = page.split('id="outliers"', 1)[1].split("</table>", 1)[0]
    table_rows = re.findall(r"<tr data-flag=[^>]*>(.*?)</tr>", section, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)]
            for r in table_rows]


def mart(root) -> list[tuple]:
    return rows(published_path(root / "wh.duckdb"), "SELECT kpi_code, period, actual, history_n, history_median, "
                "history_mad, modified_z, rule FROM marts.kpi_outliers ORDER BY period")


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("early")
    registry, inbox = make_empty_scenario(root)
    pilot = registry / "pilots" / f"{P}.yaml"
    text = pilot.read_text(encoding="utf-8").replace("start: 2004-10-01", "start: 2003-04-01")
    for code, limits in (("K1", "[20, 30, 40, 50, 60]"), ("K2", "[100, 200, 300, 400, 500]")):
        text = text.replace(f"      2548: {limits}", f"      2546: {limits}\n      2547: {limits}\n      2548: {limits}")
    pilot.write_text(text, encoding="utf-8")
    for period, sent, k2 in [*HISTORY, EARLY]:
        (inbox / f"lead_{period}.csv").write_bytes(_csv(f"{P},03009,{period},{sent},kpi,K1,,50,,,,",
                                                        f"{P},03009,{period},{sent},kpi,K2,,{k2},,,,"))
    s = {"root": root}
    s["report1"] = night(root, inbox, "2005-05-20")
    s["mart1"] = mart(root)
    night(root, inbox, "2005-07-15")
    s["mart2"] = mart(root)
    return s


def test_the_night_that_accepts_an_early_report_lists_its_flag(story):
    # Columns: pilot, KPI, period, actual, history median (n), modified z, rule, submission and row.
    flags = report_flags(story["report1"])
    assert [f[:7] for f in flags] == [
        [P, "K2", "ไตรมาส 2/2548 / FY2005 Q2", "17", "12 (7)", "4.6543", "|z| > 3.5"],
        [P, "K2", "ไตรมาส 3/2548 / FY2005 Q3", "1000", "12 (8)", "666.4060", "|z| > 3.5"],
    ]
    assert flags[1][7].endswith(", 3")  # K2 is the file's second line: row 3 (header = 1)


def test_the_mart_keeps_due_periods_only_and_flags_the_early_value_once_due(story):
    q2 = ("K2", "2548-Q2", D(17), 7, D(12), D(0), D("4.6543"), "modified_z")
    assert story["mart1"] == [q2]
    assert story["mart2"] == [q2, ("K2", "2548-Q3", D(1000), 8, D(12), D(1), D("666.4060"), "modified_z")]

