"""Nothing depends on the machine: its time zone, its locale, or the folder a command starts in.

Time zones far from Bangkok on either side: Pacific/Kiritimati (UTC+14) is a day ahead of Bangkok
for part of the day, America/Adak (UTC-9 in May, daylight time) a day behind for most of it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from flows import clock
from flows.cli import main
from kpis.summary.labels import fmt_date
from tests.support import ROOT, child_env
from tests.test_flow import _csv, make_scenario

# (host zone, the instant, Bangkok's date then, the host's own date then)
ZONES = [
    ("Pacific/Kiritimati", datetime(2005, 5, 15, 12, 0, tzinfo=timezone.utc), date(2005, 5, 15), date(2005, 5, 16)),
    ("America/Adak", datetime(2005, 5, 15, 20, 0, tzinfo=timezone.utc), date(2005, 5, 16), date(2005, 5, 15)),
]


@pytest.fixture
def host_zone(monkeypatch):
    """Set the process's time zone (TZ + tzset), and put it back afterwards."""
    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(params=ZONES, ids=[z[0] for z in ZONES])
def far_zone(request, host_zone, monkeypatch):
    zone, instant, bangkok, host = request.param
    host_zone(zone)
    monkeypatch.setattr(clock, "utc_now", lambda: instant)
    # The zone is in effect: the host's own calendar date differs from Bangkok's at that instant.
    assert datetime.fromtimestamp(instant.timestamp()).date() == host != bangkok
    return zone, bangkok


def test_today_is_bangkoks_date_whatever_the_host_zone(far_zone):
    _, bangkok = far_zone
    assert clock.today_in_bangkok() == bangkok


def test_check_judges_dates_by_bangkoks_day(far_zone, tmp_path):
    """`check` without --as-of: a file sent on 16 May 2005 is in the future only where Bangkok is still at the 15th."""
    _, bangkok = far_zone
    registry, _ = make_scenario(tmp_path)
    report = tmp_path / "sent.csv"
    report.write_bytes(_csv("PLT-2548-003,03009,2548-Q2,2005-05-16,kpi,K1,,55,,,,"))
    result = CliRunner().invoke(main, ["check", str(report), "--registry", str(registry), "--format", "json"])
    codes = {i["code"] for i in json.loads(result.output)[0]["issues"]}
    assert ("SUBMITTED_IN_FUTURE" in codes) == (bangkok == date(2005, 5, 15)), result.output


def test_run_defaults_to_bangkoks_date_on_a_host_a_day_behind(host_zone, monkeypatch, tmp_path, prefect_harness):
    zone, instant, bangkok, _ = ZONES[1]
    host_zone(zone)
    monkeypatch.setattr(clock, "utc_now", lambda: instant)
    registry, inbox = make_scenario(tmp_path)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert " as of 2005-05-16\n" in result.output and bangkok == date(2005, 5, 16)


def test_english_dates_do_not_follow_the_locale(monkeypatch):
    """strftime's %b is the month in LC_TIME's language; a Thai LC_TIME must not change the English edition."""
    def thai_lc_time(fmt, t=None):
        return fmt.replace("%b", "ส.ค.").replace("%-d", "15").replace("%Y", "2006")

    monkeypatch.setattr(time, "strftime", thai_lc_time)  # what datetime.strftime calls
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    assert [fmt_date(date(2006, m, 15), "en") for m in range(1, 13)] == [f"15 {name} 2006" for name in months]
    assert fmt_date(date(2006, 8, 15), "th") == "15 ส.ค. 2549"


def test_the_cli_under_crons_bare_c_locale_from_another_folder(tmp_path):
    """cron starts jobs with LANG unset (the C locale) in the user's home: a Thai file name and the Thai
    messages still come out as UTF-8, and the code run is this checkout's even where the current folder
    holds another `flows` package."""
    registry, _ = make_scenario(tmp_path / "scenario")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "flows").mkdir(parents=True)
    (elsewhere / "flows" / "__init__.py").write_text("raise ImportError('another checkout')\n", encoding="utf-8")
    report = tmp_path / "รายงานไตรมาส 2.csv"
    report.write_bytes(_csv("PLT-2548-003,03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,"))
    env = {k: v for k, v in child_env().items()
           if not k.startswith(("LANG", "LC_", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env["LC_ALL"] = "C"
    done = subprocess.run([sys.executable, "-m", "flows.cli", "check", str(report), "--registry", str(registry),
                           "--as-of", "2005-05-15"], cwd=elsewhere, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert done.stdout.decode("utf-8") == "รายงานไตรมาส 2.csv: OK\n"  # English headers: the verdict in English
    assert str(ROOT) in env["PYTHONPATH"]
