"""Expected refusals are one line (issue 23 item 2): a refused decision or a broken registry prints
its reason on stderr and nothing else, no Prefect traceback, with times in Bangkok time.

Each command runs through the CLI in a child process, so Prefect's console logging is the real
one (CliRunner would not show what Prefect writes to the terminal). The children use the session's
test server (as tests/test_quiet_exit.py does) instead of starting their own.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import ROOT, SERIAL, child_env
from tests.test_flow import AS_OF, _csv, run_cli

P = "PLT-2548-003"
pytestmark = SERIAL


def child(args: list, api_url: str, home: Path) -> subprocess.CompletedProcess:
    env = child_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(home), PILOTKPI_SETTLE_SECONDS="0")
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_API") or k == "PREFECT_API_URL"}
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=home.parent, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness, scenario_night):
    """The test_flow scenario as of 2005-05-15, 2548-Q1 closed, a late file for it held, then approved."""
    from prefect.settings import PREFECT_API_URL

    root = tmp_path_factory.mktemp("refusals")
    # The scenario's first night is the session's (tests/conftest.py scenario_night: make_scenario,
    # then run_cli), copied: one night less per worker than running it here again.
    shutil.copytree(scenario_night, root, dirs_exist_ok=True)
    registry = root / "registry"
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out"), "--as-of", AS_OF]
    ok = CliRunner().invoke(main, ["close-quarter", "2548-Q1", "--by", "Somchai", *base])
    assert ok.exit_code == 0, ok.output
    late = root / "inbox2"
    late.mkdir()
    (late / "late.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-05-10,kpi,K1,,57,,,,",
                                         f"{P},03009,2548-Q1,2005-05-10,kpi,K2,,60,,,,",
                                         f"{P},03009,2548-Q1,2005-05-10,budget,ACT-1,5,,1000000,250000,own,"))
    assert run_cli(registry, late, root)[0] == 0
    con = duckdb.connect(str(wh), read_only=True)
    try:
        [(held,)] = con.execute("SELECT submission_id FROM ingest.submissions WHERE status = 'held'").fetchall()
    finally:
        con.close()
    ok = CliRunner().invoke(main, ["approve", str(held), "--by", "Somchai", *base])
    assert ok.exit_code == 0, ok.output
    con = duckdb.connect(str(wh), read_only=True)
    try:
        times = dict(con.execute("SELECT action, decided_at FROM approval.decisions").fetchall())
        [(number,)] = con.execute("SELECT decision_id FROM approval.decisions WHERE action = 'approve'").fetchall()
    finally:
        con.close()
    return {"root": root, "base": base, "held": held, "times": times, "number": number, "registry": registry, "wh": wh,
            "api": PREFECT_API_URL.value(), "home": root / "prefect-home"}


def bangkok(utc) -> str:
    """Hand conversion: Bangkok is UTC+7 all year."""
    return (utc + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S") + "+07:00"


# No Prefect server at this address: a refusal given through it came before Prefect was used.
NO_PREFECT = "http://127.0.0.1:9/api"


def refused(story, *args, before_prefect: bool = True) -> str:
    """The refusal's stderr; before_prefect: checked before Prefect starts (flows/cli_approval.py)."""
    done = child([*args, *story["base"]], NO_PREFECT if before_prefect else story["api"], story["home"])
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr  # one line, nothing else
    return done.stderr.rstrip("\n")


def test_a_second_decision_on_one_file_is_one_line(story):
    held, when = story["held"], bangkok(story["times"]["approve"])
    assert refused(story, "reject", held, "--by", "Malee", "--reason", "late") == (
        f"pilotkpi: submission {held} was approved already (decision {story['number']}, by Somchai on {when}) and is now "
        f"accepted: a held file takes one decision")


def test_an_unknown_id_is_one_line(story):
    assert refused(story, "approve", 999, "--by", "Malee") == "pilotkpi: there is no submission 999"


def test_a_period_not_yet_due_is_one_line(story):
    # 2548-Q3 is April-June 2005: it ends 2005-06-30, after the as-of date 2005-05-15.
    assert refused(story, "close-quarter", "2548-Q3", "--pilot", P, "--by", "Malee") == (
        "pilotkpi: 2548-Q3 is not due for PLT-2548-003 as of 2005-05-15: the quarter ends on 2005-06-30. "
        "Only a due period can be closed")


def test_closing_a_closed_period_and_reopening_an_open_one_are_one_line(story):
    when = bangkok(story["times"]["close"])
    # Due, so only the job (its marts as of --as-of) can tell: refused inside the flow, still one line.
    assert refused(story, "close-quarter", "2548-Q1", "--pilot", P, "--by", "Malee", before_prefect=False) == (
        f"pilotkpi: 2548-Q1 is already closed for {P} (closed {when} by Somchai)")
    assert refused(story, "reopen", "2548-Q2", "--pilot", P, "--by", "Malee", "--reason", "asked") == (
        f"pilotkpi: 2548-Q2 is not closed for {P}: there is nothing to reopen")


@pytest.mark.parametrize("command", [["run", "--inbox", "INBOX"], ["rebuild"], ["approve", "1", "--by", "Malee"]])
def test_a_broken_registry_is_one_line_before_prefect_starts(story, tmp_path, command):
    registry = tmp_path / "registry"
    subprocess.run(["cp", "-r", str(story["registry"]), str(registry)], check=True)
    pilot = registry / "pilots" / f"{P}.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("weight: 40", "weight: 30"), encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args = [str(inbox) if a == "INBOX" else a for a in command]
    done = child([*args, "--registry", registry, "--warehouse", story["wh"], "--out", tmp_path / "out",
                  "--as-of", AS_OF], NO_PREFECT, tmp_path / "prefect-home")
    assert done.returncode == 4, done.stderr
    assert done.stdout == ""
    assert done.stderr == (f"pilotkpi: broken registry, nothing was written: pilots/{P}.yaml: {P}: KPI weights "
                           f"must add up to 100 (they add up to 90)\n"
                           f"pilotkpi: ทะเบียนโครงการไม่ถูกต้อง จึงไม่ได้บันทึกข้อมูลใด ๆ: pilots/{P}.yaml: {P}: "
                           f"weight ของตัวชี้วัดรวมกันต้องเท่ากับ 100 (รวมได้ 90)\n")  # a line a language


def test_several_registry_problems_are_a_line_each(story, tmp_path):
    registry = tmp_path / "registry"
    subprocess.run(["cp", "-r", str(story["registry"]), str(registry)], check=True)
    pilot = registry / "pilots" / f"{P}.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("weight: 40", "weight: 30"), encoding="utf-8")
    (registry / "pilots" / "PLT-2548-009.yaml").write_text("pilot_id: [unclosed\n", encoding="utf-8")
    done = child(["check", ROOT / "tests" / "data" / "defects" / "CLEAN.csv", "--registry", registry],
                 NO_PREFECT, tmp_path / "prefect-home")
    assert done.returncode == 4, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "pilotkpi: broken registry (2 problems), nothing was written:"
    assert lines[3] == "pilotkpi: ทะเบียนโครงการไม่ถูกต้อง (2 ข้อ) จึงไม่ได้บันทึกข้อมูลใด ๆ:"  # then in Thai
    assert len(lines) == 6 and all(line.startswith("  - pilots/PLT-2548-00") for line in lines[1:3] + lines[4:]), lines


def test_a_refusal_inside_the_job_is_one_line_too(story):
    """A refusal that only the job can give (the check before Prefect passes a restricted pilot's
    file on to it) is one line as well: flows/refusals.py keeps Prefect's traceback out. Here the
    check is switched off, so the flow itself refuses the unknown id."""
    env_inject = ("import flows.cli_approval as a\n"
                  "a._dry_run = lambda *args, **kwargs: None\n"
                  "from flows.cli import main\nmain()\n")
    env = child_env(PREFECT_API_URL=story["api"], PREFECT_HOME=str(story["home"]), PILOTKPI_SETTLE_SECONDS="0")
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_API") or k == "PREFECT_API_URL"}
    done = subprocess.run([sys.executable, "-c", env_inject, "approve", "999", "--by", "Malee", *story["base"]],
                          cwd=story["root"], env=env, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "pilotkpi: there is no submission 999\n")
