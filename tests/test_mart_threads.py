"""A whole build writes budget_snapshot (the mart replaced key by key) on one DuckDB thread and
leaves the connection's threads as they were (kpis/build.py one_thread: on several threads that
mart kept a partial row group in the middle, which the next night's CHECKPOINT rewrote)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import duckdb
import pytest

import kpis.build
from kpis.build import build_marts, one_thread
from kpis.cases import load_given
from warehouse.db import connect

from tests.test_marts_budget import LEAD, PILOT, ROLES, line, sub


def marts(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()]


def threads(con) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchone()[0])


def test_one_thread_inside_and_the_setting_back_after():
    con = duckdb.connect(":memory:")
    con.execute("SET threads = 3")
    with one_thread(con):
        assert threads(con) == 1
    assert threads(con) == 3


def test_the_setting_back_after_a_failing_statement():
    con = duckdb.connect(":memory:")
    con.execute("SET threads = 3")
    with pytest.raises(duckdb.CatalogException):
        with one_thread(con):
            con.execute("CREATE TABLE t AS SELECT * FROM no_such_table")
    assert threads(con) == 3


def test_the_setting_back_after_a_failing_statement_in_a_transaction():
    """As in the job, which builds the marts inside its transaction: the aborted transaction
    refuses SET, so the setting is put back on a cursor."""
    con = duckdb.connect(":memory:")
    con.execute("SET threads = 3")
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.CatalogException):
        with one_thread(con):
            con.execute("CREATE TABLE t AS SELECT * FROM no_such_table")
    con.execute("ROLLBACK")
    assert threads(con) == 3


def test_a_whole_build_leaves_the_connections_threads_and_builds_the_marts(monkeypatch):
    con = connect(":memory:")
    load_given(con, {"registry.pilots": [PILOT], "registry.pilot_agencies": ROLES,
                     "ingest.submissions": [sub(1, LEAD, "2548-Q1")],
                     "core.budget_lines": [line(1, "A1", "budget", 100)]})
    con.execute("SET threads = 3")
    real, built_on_one_thread = kpis.build.one_thread, []

    @contextmanager
    def recording(c):
        before = set(marts(c))
        with real(c):
            assert threads(c) == 1
            yield
        built_on_one_thread.extend(sorted(set(marts(c)) - before))

    monkeypatch.setattr(kpis.build, "one_thread", recording)
    build_marts(con, date(2005, 1, 31))
    assert built_on_one_thread == ["budget_snapshot"]  # that mart alone, and all of it
    assert threads(con) == 3
    # the one line, allocated 100, in the lead's snapshot of its quarter
    assert con.execute("SELECT count(*), sum(allocated_thb) FROM marts.budget_snapshot "
                       "WHERE period = '2548-Q1' AND agency_code = ?", [LEAD]).fetchone() == (1, 100)
