"""A mart that declares the columns it reads of a relation (kpis/steps.py `columns`) reads no other:
on the demo's warehouse its SQL gives the same rows when every other column of that relation is
emptied (NULL), and other rows when a declared one is. Its pilots are recomputed when those columns
change (kpis/build.partitions), so a column read but not declared would leave stale rows."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from kpis import steps
from kpis.build import read_sql
from pilots import demo

DECLARING = [(step.name, relation, columns) for step in steps.MARTS.values() for relation, columns in step.columns]
# Per declaration, declared columns whose emptying changes the demo's mart: the test can fail.
MATTERING = {("budget_integration", "marts.budget_snapshot"): ("allocated_thb", "funding_source"),
             ("budget_integration_by_layer", "marts.budget_snapshot"): ("allocated_thb", "funding_source"),
             # a pilot's names, shown only while it is open (a restricted pilot's are left out)
             ("reminders", "registry.pilots"): ("name_th", "classification")}


def test_the_declarations_are_the_ones_checked_here():
    assert {(name, relation) for name, relation, _ in DECLARING} == set(MATTERING)


@pytest.mark.parametrize("name, relation, columns", DECLARING, ids=[f"{n}:{r}" for n, r, _ in DECLARING])
def test_a_mart_reads_only_the_columns_it_declares(demo_run, tmp_path, name, relation, columns):
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(demo_run[0] / "warehouse.published.duckdb", copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute(read_sql("macros"))
        schema, table = relation.split(".")
        every = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND "
                                           "table_name = ? ORDER BY column_index", [schema, table]).fetchall()]
        assert set(columns) < set(every), "a declared column the relation does not have"
        assert con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0] >= len(demo.PILOTS)
        sql = read_sql(name)
        params = {"as_of": demo.AS_OF} if "$as_of" in sql else None

        def rows() -> list:
            return con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL", params).fetchall()

        before = rows()
        keys = {c for (cs,) in con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE "
                                           "schema_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                                           [schema, table]).fetchall() for c in cs}
        for column in set(every) - keys:  # a scratch copy: registry.* columns are NOT NULL, here emptied
            con.execute(f'ALTER TABLE {relation} ALTER COLUMN "{column}" DROP NOT NULL')
        con.execute("BEGIN")
        con.execute(f"UPDATE {relation} SET " + ", ".join(f'"{c}" = NULL' for c in every if c not in columns))
        assert rows() == before
        con.execute("ROLLBACK")
        for declared in MATTERING[(name, relation)]:  # the test can fail: a declared column matters
            con.execute("BEGIN")
            con.execute(f'UPDATE {relation} SET "{declared}" = NULL')
            assert rows() != before, declared
            con.execute("ROLLBACK")
    finally:
        con.close()
