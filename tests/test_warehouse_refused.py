"""A warehouse file that cannot be used is refused up front by every command: one line
`pilotkpi: <path>: <reason>`, exit 1, nothing written, and no Prefect flow started."""
from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.cli_common import EXIT_FAILED
from tests.test_flow import make_scenario
from warehouse.db import WarehouseRefused, connect

NOT_DUCKDB = "not a DuckDB database, or damaged"
# Migrations 0001-0004 at the time of writing; other branches add more, so count the files.
KNOWN = len(list((Path(__file__).parents[1] / "warehouse" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")))
NEWER = f"made by a newer pilotkpi (schema version 9999; this version knows up to {KNOWN})"


def _corrupt(path):
    path.write_bytes(b"\x00not a database\xff" * 400)


def _truncated(path):
    con = connect(path)
    con.execute("CREATE TABLE ops.filler AS SELECT range AS i FROM range(200000)")  # data blocks to lose
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _newer(path):
    con = connect(path)
    con.execute("INSERT INTO ops.schema_migrations VALUES (9999, 'from_the_future', now()::TIMESTAMP)")
    con.close()


CASES = {"corrupt": (_corrupt, NOT_DUCKDB), "truncated": (_truncated, NOT_DUCKDB), "newer": (_newer, NEWER)}

# Each command with the file it opens: the working warehouse, or (analysts' commands given the
# working name) its published copy.
COMMANDS = {
    "run": (["run", "--registry", "{registry}", "--inbox", "{inbox}", "--warehouse", "{wh}", "--out", "{out}"], "wh"),
    "rebuild": (["rebuild", "--registry", "{registry}", "--warehouse", "{wh}", "--out", "{out}"], "wh"),
    "reprocess": (["reprocess", "1", "--registry", "{registry}", "--warehouse", "{wh}", "--out", "{out}"], "wh"),
    "report": (["report", "--warehouse", "{wh}", "--out", "{out}"], "wh"),
    "report-published": (["report", "--warehouse", "{pub}", "--out", "{out}"], "pub"),
    "explain": (["explain", "PLT-2548-003", "K1", "2548-Q1", "--warehouse", "{wh}"], "pub"),  # reads the published copy
    "explain-published": (["explain", "PLT-2548-003", "K1", "2548-Q1", "--warehouse", "{pub}"], "pub"),
    "sql": (["sql", "--warehouse", "{wh}", "-c", "SELECT 1;"], "pub"),
    "export": (["export", "{out}", "--format", "csv", "--warehouse", "{wh}"], "pub"),
}


@pytest.fixture
def no_flow(monkeypatch):
    """Stand-in for flows.nightly: a command that got as far as starting a flow fails the test."""
    def started(*args, **kwargs):
        raise AssertionError("a Prefect flow was started on a refused warehouse")

    stub = types.ModuleType("flows.nightly")
    stub.nightly = stub.reprocess = stub.rebuild = started
    monkeypatch.setitem(sys.modules, "flows.nightly", stub)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_bad_warehouse_in_one_line(tmp_path, no_flow, command, case):
    registry, inbox = make_scenario(tmp_path)
    wh, pub, out = tmp_path / "wh.duckdb", tmp_path / "wh.published.duckdb", tmp_path / "out"
    spoil, reason = CASES[case]
    spoil(wh)
    shutil.copyfile(wh, pub)
    before = {p: p.read_bytes() for p in (wh, pub)}
    received = sorted(p.name for p in inbox.iterdir())
    args, opened = COMMANDS[command]
    values = {"registry": registry, "inbox": inbox, "wh": wh, "pub": pub, "out": out}
    result = CliRunner().invoke(main, [a.format(**values) for a in args])

    target = wh if opened == "wh" else pub
    assert result.exit_code == EXIT_FAILED, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"pilotkpi: {target}: {reason}")
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert {p: p.read_bytes() for p in (wh, pub)} == before  # nothing written
    assert not out.exists() and not (tmp_path / "wh.evidence").exists()
    assert sorted(p.name for p in inbox.iterdir()) == received  # nothing filed away


def test_connect_refuses_and_names_the_file(tmp_path):
    path = tmp_path / "wh.duckdb"
    _newer(path)
    with pytest.raises(WarehouseRefused) as raised:
        connect(path)
    assert str(raised.value) == (f"{path}: {NEWER}: upgrade pilotkpi, or restore a backup made by this version")
    _corrupt(path)
    for read_only in (True, False):
        with pytest.raises(WarehouseRefused, match=NOT_DUCKDB):
            connect(path, read_only=read_only)


def test_a_duckdb_file_that_is_not_a_warehouse_is_refused_read_only(tmp_path):
    import duckdb

    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(WarehouseRefused, match="not a pilotkpi warehouse"):
        connect(path, read_only=True)


def test_a_warehouse_of_this_version_opens(tmp_path):
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    con = connect(path, read_only=True)
    assert KNOWN >= 4 and con.execute("SELECT max(version) FROM ops.schema_migrations").fetchone() == (KNOWN,)
    con.close()
