"""Messages stay on their side (warehouse.md; issue 24 item 4): whatever the open side keeps about
a job (ops.runs in the warehouse and its published copy, the log, Prefect's database, the CLI's
output) names no restricted file and quotes no restricted value; the restricted store's error log
keeps the whole message.

On tests/test_restricted_store.py's scenario (its restricted files renamed to names of their own),
each job is made to fail on the restricted pilot's data: at the test point "marts" (the restricted
store's marts are built first, so the error arises on its rows) with a message that quotes a
restricted file and a summed budget, as DuckDB's overflow error did (issue 24 item 3b); at the
steps after the commit ("letters", "publish"); or by a real refusal about a restricted file
(reprocess, approve, reject).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.log_capture import every_log_record
from tests.test_restricted_store import FILE_NAME, SECRET, make_restricted_scenario
from warehouse.errors import error_log_of

AS_OF = "2005-05-15"
# The failing run is a day later: with nothing new on the same day every mart skips (its key is
# unchanged, kpis/build.py), so the marts' failure point would never be reached.
NEXT_DAY = "2005-05-16"
R1, R3 = "r1-mstay-W8Q1.csv", "r3-mstay-bad-W8Q1.csv"  # the restricted files, renamed: names no other test uses
SUM = "4999999999999999500000000000"  # a restricted pilot's summed budget, as an overflow error quotes it
FAIL_MESSAGE = f"Out of Range Error: Overflow in multiplication of DECIMAL(38) ({SUM} * 1000000000000) in {R1}"
SECRETS = [re.compile(rb"mstay"), re.compile(rb"W8Q1"), re.compile(SUM.encode())]
MASKED = "in a job that reads restricted pilots' data: its message may quote them, so it is kept in the " \
         "restricted store's error log"


def _cli(args: list[str], fail_at: str | None = None) -> tuple[int, str]:
    env = {"PILOTKPI_FAIL_AT": fail_at, "PILOTKPI_FAIL_MESSAGE": FAIL_MESSAGE} if fail_at else {}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return result.exit_code, result.output  # stdout and stderr, as the terminal shows them


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, prefect_harness):
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    root = tmp_path_factory.mktemp("messages")
    registry, inbox = make_restricted_scenario(root)
    (inbox / FILE_NAME).rename(inbox / R1)
    (inbox / "r3-bad.csv").rename(inbox / R3)
    wh = str(root / "wh.duckdb")
    common = ["--registry", str(registry), "--warehouse", wh, "--out", str(root / "out")]

    def run(as_of: str) -> list[str]:
        return ["run", "--inbox", str(inbox), *common, "--as-of", as_of]

    assert _cli(run(AS_OF))[0] == 0
    done: dict[str, tuple[int, str]] = {}
    with every_log_record() as lines:
        done["run"] = _cli(run(NEXT_DAY), "marts")
        done["reprocess accepted"] = _cli(["reprocess", "8", *common, "--as-of", AS_OF])  # r1: accepted
        done["reprocess quarantined"] = _cli(["reprocess", "10", *common, "--as-of", AS_OF])  # r3: still bad
        done["rebuild"] = _cli(["rebuild", *common, "--as-of", AS_OF], "marts")
        close = ["close-quarter", "2548-Q1", "--pilot", SECRET, "--by", "secretariat", *common, "--as-of", AS_OF]
        done["close-quarter"] = _cli(close, "marts")
        assert _cli(close)[0] == 0  # closed, so that it can be reopened
        done["reopen"] = _cli(["reopen", "2548-Q1", "--pilot", SECRET, "--by", "secretariat", "--reason", "test",
                               *common, "--as-of", AS_OF], "marts")
        done["approve"] = _cli(["approve", "8", "--by", "secretariat", *common, "--as-of", AS_OF])
        done["reject"] = _cli(["reject", "10", "--by", "secretariat", "--reason", "test", *common, "--as-of", AS_OF])
        # Later as-of dates: the night has work after its commit (letters, publishing) to fail in.
        done["letters"] = _cli(run("2005-05-16"), "letters")
        done["publish step"] = _cli(run("2005-05-17"), "publish")
        done["publish"] = _cli(["publish", "--warehouse", wh], "publish")
        APILogHandler().flush()
    prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]).parent
    return root, done, lines, prefect_db


def ops_runs(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT kind, status, error, failed_steps::VARCHAR FROM ops.runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def found(data: bytes) -> list[str]:
    return [m.group().decode() for p in SECRETS for m in p.finditer(data)]


def test_each_job_failed_as_expected(jobs):
    _, done, _, _ = jobs
    codes = {name: code for name, (code, _) in done.items()}
    assert codes == {"run": 1, "reprocess accepted": 1, "reprocess quarantined": 1, "rebuild": 1,
                     "close-quarter": 1, "reopen": 1, "approve": 1, "reject": 1,
                     "letters": 5, "publish step": 5, "publish": 1}, done
    for name in ("run", "rebuild", "close-quarter", "reopen", "letters", "publish step", "publish"):
        assert f"RuntimeError {MASKED}" in done[name][1], (name, done[name][1])
    # A refusal keeps its words, with the restricted file's name hidden.
    assert "submission 8 ([file of a restricted pilot]) is accepted; only quarantined files are reprocessed" \
        in done["reprocess accepted"][1]
    assert "submission 10 ([file of a restricted pilot]) is still quarantined" in done["reprocess quarantined"][1]


def test_the_cli_output_names_no_restricted_file_nor_value(jobs):
    _, done, _, _ = jobs
    assert {name: found(output.encode()) for name, (_, output) in done.items() if found(output.encode())} == {}


def test_ops_runs_hold_no_restricted_file_nor_value(jobs):
    root, _, _, _ = jobs
    for path in (root / "wh.duckdb", root / "wh.published.duckdb"):
        rows = ops_runs(path)
        assert [r for r in rows if found(repr(r).encode())] == [], path
    errors = [r[2] for r in ops_runs(root / "wh.duckdb") if r[1] == "failed"]
    assert sum(f"RuntimeError {MASKED}" in (e or "") for e in errors) == 4  # run, rebuild, close-quarter, reopen
    steps = [(r[3], r[2]) for r in ops_runs(root / "wh.duckdb") if r[1] == "committed_with_errors"]
    assert [s for s, _ in steps] == ["letters", "publish"]  # the steps after the commit made to fail
    assert all(f"RuntimeError {MASKED}" in e for _, e in steps)


def test_the_log_and_prefects_database_hold_none(jobs):
    _, _, lines, prefect_db = jobs
    assert lines, "the jobs' log records were captured"
    assert [line for line in lines if found(line.encode())] == []
    for path in sorted(prefect_db.rglob("*")):
        if path.is_file():
            assert found(path.read_bytes()) == [], path


def test_the_restricted_error_log_keeps_the_whole_message(jobs):
    root, _, _, _ = jobs
    log = error_log_of(root / "wh.restricted.duckdb")
    assert (log.stat().st_mode & 0o777) == 0o600
    text = log.read_text(encoding="utf-8")
    assert text.count(FAIL_MESSAGE) == 7  # run, rebuild, close-quarter, reopen, letters, publish step, publish
    assert f"reprocessed {R3}: quarantined" in text  # the still-bad file's name and defects
