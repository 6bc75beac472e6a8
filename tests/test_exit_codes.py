"""One meaning per exit code (README "Exit codes", docs/operations.md), in every command:
0 success, 1 failed with nothing committed, 2 usage error, 3 lock held, 4 broken registry,
5 committed with errors, 6 `check` found a file that would be quarantined.
(`run` itself: 1 and 4 in tests/test_flow.py, 3 in tests/test_lock.py, 5 in tests/test_post_commit.py.)"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.cli_common import (EXIT_COMMITTED_WITH_ERRORS, EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_QUARANTINED,
                              EXIT_REGISTRY, EXIT_USAGE)
from tests.test_flow import AS_OF, make_scenario
from tests.test_lock import hold_lock

DATA = Path(__file__).parent / "data"
REGISTRY = DATA / "registry" / "valid"


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_the_codes_are_distinct_and_as_documented():
    assert (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_REGISTRY, EXIT_COMMITTED_WITH_ERRORS,
            EXIT_QUARANTINED) == (0, 1, 2, 3, 4, 5, 6)
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    runbook = (Path(__file__).parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    table = exit_table(readme)
    assert [line.split("|")[1].strip() for line in table[2:]] == ["0", "1", "2", "3", "4", "5", "6"]
    assert exit_table(runbook) == table  # the same table in both


def exit_table(text: str) -> list[str]:
    lines = text.split("## Exit codes\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_0_and_6_check(tmp_path):
    code, out = cli("check", DATA / "defects" / "CLEAN.csv", "--registry", REGISTRY, "--as-of", "2006-08-15")
    assert code == 0, out
    code, out = cli("check", DATA / "defects" / "PERCENT_OUT_OF_RANGE.csv", "--registry", REGISTRY,
                    "--as-of", "2006-08-15")
    assert code == 6 and "QUARANTINED" in out


def test_2_usage_errors(tmp_path):
    code, out = cli("check", tmp_path / "missing.csv", "--registry", REGISTRY)
    assert code == 2 and "does not exist" in out
    registry, inbox = make_scenario(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    code, out = cli("run", "--registry", registry, "--inbox", inbox, "--warehouse", tmp_path / "wh.duckdb",
                    "--out", tmp_path / "a-file", "--as-of", AS_OF)
    assert code == 2 and "--out" in out and not (tmp_path / "wh.duckdb").exists()
    code, out = cli("rebuild", "--registry", registry, "--warehouse", tmp_path / "wh.duckdb", "--out", tmp_path)
    assert code == 2 and "does not exist" in out  # rebuild needs an existing warehouse


@pytest.fixture
def broken_registry(tmp_path) -> tuple[Path, Path]:
    registry, inbox = make_scenario(tmp_path)
    pilot = registry / "pilots" / "PLT-2548-003.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("weight: 40", "weight: 30"), encoding="utf-8")
    wh = tmp_path / "wh.duckdb"
    duckdb.connect(str(wh)).close()
    return registry, wh


def test_4_broken_registry_in_check(broken_registry):
    registry, _ = broken_registry
    code, out = cli("check", DATA / "defects" / "CLEAN.csv", "--registry", registry)
    assert code == 4 and "add up to 90" in out


@pytest.mark.parametrize("command", [["rebuild"], ["reprocess", "1"]])
def test_4_broken_registry_in_maintenance(broken_registry, tmp_path, prefect_harness, command):
    registry, wh = broken_registry
    code, out = cli(*command, "--registry", registry, "--warehouse", wh, "--out", tmp_path / "out")
    assert code == 4 and "nothing was written" in out and "add up to 90" in out


@pytest.fixture
def warehouse_and_registry(tmp_path) -> tuple[Path, Path]:
    from warehouse.db import connect

    registry, _ = make_scenario(tmp_path)
    connect(tmp_path / "wh.duckdb").close()
    return registry, tmp_path / "wh.duckdb"


@pytest.mark.parametrize("command", ["rebuild", "publish"])
def test_3_lock_held(warehouse_and_registry, tmp_path, command):
    registry, wh = warehouse_and_registry
    args = ["--registry", registry, "--out", tmp_path / "out"] if command == "rebuild" else []
    holder = hold_lock(wh, 60, tmp_path)
    try:
        code, out = cli(command, "--warehouse", wh, *args)
    finally:
        holder.kill()
        holder.wait()
    assert code == 3 and "another run is in progress" in out


def test_1_failed_before_the_commit_and_5_committed_with_errors(warehouse_and_registry, tmp_path, prefect_harness,
                                                                 monkeypatch):
    registry, wh = warehouse_and_registry
    args = ["rebuild", "--registry", registry, "--warehouse", wh, "--out", tmp_path / "out", "--as-of", AS_OF]

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("flows.nightly.build_marts", boom)
        code, out = cli(*args)
    assert code == 1 and "failed, the warehouse is unchanged: OSError: disk full" in out

    with monkeypatch.context() as patch:
        patch.setattr("flows.cheap.publish", boom)
        code, out = cli(*args)
    assert code == 5 and "publish: OSError: disk full" in out and "the marts rebuilt as of 2005-05-15" in out

    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert con.execute("SELECT kind, status, failed_steps, error FROM ops.runs ORDER BY started_at").fetchall() == [
            ("rebuild", "failed", None, "OSError: disk full"),
            ("rebuild", "committed_with_errors", "publish", "OSError: disk full")]
    finally:
        con.close()


def test_1_sql_before_anything_was_published(tmp_path):
    code, out = cli("sql", "--warehouse", tmp_path / "wh.duckdb", "-c", "SELECT 1;")
    assert code == 1 and "does not exist yet" in out
