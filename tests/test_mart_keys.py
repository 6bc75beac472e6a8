"""Each mart's declared keys (kpis/<mart>.yml `keys:`) are unique and never NULL, in every store the
demo writes: the open warehouse, the restricted store and the analysts' published copy (issue 24
item 10). The same check runs on a fuzzed inbox, after both of its runs (tests/test_fuzz_flow.py,
and `make fuzz`), through tests/fuzz/checks.py.
"""
from __future__ import annotations

import duckdb
import pytest

from tests.fuzz.checks import declared_mart_keys, mart_key_problems
from warehouse.paths import files_of

STORES = {"warehouse": "warehouse.duckdb", "published copy": "warehouse.published.duckdb"}
MARTS = {"kpi_scores", "pilot_scores", "budget_integration", "budget_integration_by_layer", "reporting_compliance",
         "kpi_outliers", "reminders"}  # the contract's marts (warehouse.md)


def _open(path):
    assert path.exists(), path
    return duckdb.connect(str(path), read_only=True)


@pytest.mark.parametrize("store", ["warehouse", "restricted store", "published copy"])
def test_every_mart_key_is_unique_and_not_null_on_the_demo(demo_run, store):
    folder = demo_run[0]
    path = files_of(folder / STORES["warehouse"]).restricted if store == "restricted store" else folder / STORES[store]
    con = _open(path)
    try:
        rows = {name: con.execute(f'SELECT count(*) FROM marts."{name}"').fetchone()[0]
                for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
        assert MARTS <= rows.keys()
        assert mart_key_problems(con, store) == []
    finally:
        con.close()
    # Something to check: the demo's scores and compliance rows (the restricted pilot's in its store).
    assert rows["kpi_scores"] > 0 and rows["pilot_scores"] > 0 and rows["reporting_compliance"] > 0


def test_every_mart_declares_keys_that_are_its_columns(demo_run):
    declared = declared_mart_keys()
    con = _open(demo_run[0] / STORES["warehouse"])
    try:
        for name in MARTS | set(declared):
            columns = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
                                                 "AND table_name = ?", [name]).fetchall()}
            assert declared.get(name) and set(declared[name]) <= columns, name
    finally:
        con.close()


def test_a_repeated_or_null_key_is_found():
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.pilot_scores AS SELECT * FROM (VALUES ('PLT-2548-003', '2548-Q1'), "
                    "('PLT-2548-003', '2548-Q1'), ('PLT-2548-005', NULL)) t(pilot_id, period)")
        con.execute("CREATE TABLE marts.undeclared AS SELECT 1 AS x")
        problems = mart_key_problems(con, "test")
    finally:
        con.close()
    assert problems == [
        "test: marts.pilot_scores: 1 row(s) with a NULL in its keys (pilot_id, period)",
        "test: marts.pilot_scores: keys (pilot_id, period) repeated, e.g. [('PLT-2548-003', '2548-Q1', 2)]",
        "test: marts.undeclared declares no keys (kpis/undeclared.yml)",
    ]
