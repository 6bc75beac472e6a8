"""Rebuild the marts (shared/spec/scoring.md, warehouse.md) from registry.*, ingest.* and core.*.

Like a dbt project: kpis/<name>.sql is one SELECT made of named CTEs ending in
`select * from final`, kpis/<name>.yml beside it documents the relation and holds hand-computed
cases (run by tests/test_marts_cases.py). A mart is replaced whole when it is rebuilt, so the marts
are a pure function of the warehouse state and the as-of date. A nightly run rebuilds only the
marts whose inputs changed (kpis/steps.py, ops.mart_inputs); `rebuild` rebuilds all.

Measured for issue 12 (bench/incremental.md, 399 pilots): every mart in SQL 7.6 s; the same SQL
over 3 pilots, a lower bound of recomputing only the affected pilots' rows, 5.2 s: a build's cost
is mostly fixed (DDL, COMMENTs, the outlier UDF, planning). So a night with 1% new files rebuilds
the marts its files feed, whole, in SQL, with no second, per-pilot code path to keep equal.
"""
from __future__ import annotations

from datetime import date
from typing import Callable
from functools import cache
from importlib import resources

import duckdb
import yaml

from kpis import fingerprint, steps
from kpis.outliers import outlier_test_function
from warehouse.testpoints import pause_point

# Build order: derived from each mart's declared inputs (kpis/steps.py). due_periods and
# budget_snapshot are helpers (which periods are due; which budget lines are in effect) that the
# marts share; kpi_outlier_checks is the outlier test of every value, kpi_outliers its flags;
# reminders (follow-up.md) reads reporting_compliance.
MART_NAMES = steps.MART_ORDER


def read_sql(name: str) -> str:
    return (resources.files("kpis") / f"{name}.sql").read_text(encoding="utf-8")


def build_marts(con: duckdb.DuckDBPyConnection, as_of: date, *, only_changed: bool = False,
                run_id: str | None = None, digests: fingerprint.Digests | None = None,
                extra_inputs: dict[str, dict[str, str]] | None = None,
                after: Callable[[str], None] | None = None, names: list[str] | None = None) -> list[str]:
    """Create or replace the marts as of `as_of`, inside the caller's transaction (no BEGIN/COMMIT
    here: ingest and marts commit together or not at all). Returns the marts built.

    only_changed: leave a mart whose key (kpis/steps.py: its declared files and code, the rows of
    the relations it declares, the as-of date where declared) equals the one in ops.mart_inputs;
    otherwise every mart is rebuilt. Either way the keys are recorded, so the next night can compare.

    extra_inputs: per mart, inputs from outside this database (the restricted store's rows it
    takes), part of its key. after(name): runs on each mart built, before any later mart reads it
    (the restricted store's rows merged in: flows/nightly.py), so keys always see the merged rows.

    names: build only these marts, in the build order, the caller naming the marts they read too
    (default: every mart). The what-if of a held file (kpis/whatif.py) builds only the scores so.
    """
    digests = digests or fingerprint.Digests(con)
    recorded = dict(con.execute("SELECT mart_name, inputs_sha256 FROM ops.mart_inputs").fetchall())
    existing = set(digests.tables(("marts",)))
    con.execute(read_sql("macros"))
    built: list[str] = []
    with outlier_test_function(con):  # outlier_test(x, H), used by kpi_outlier_checks.sql
        for name in (n for n in MART_NAMES if names is None or n in names):
            step = steps.MARTS[name]
            sql = read_sql(name)
            inputs = {r: digests.of(r) for r in step.reads}
            extra = sorted((extra_inputs or {}).get(name, {}).items())
            key = steps.key(step, inputs, as_of, extra=repr(extra))
            if only_changed and recorded.get(name) == key and f"marts.{name}" in existing:
                continue
            # The run date is a bound parameter, never pasted into SQL; DuckDB rejects a parameter
            # the statement does not use, so it is bound only where a mart refers to $as_of.
            params = {"as_of": as_of} if "$as_of" in sql else None
            con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS\n{sql}", params)
            for statement in comment_statements(name):
                con.execute(statement)
            if after is not None:
                after(name)
            digests.forget(f"marts.{name}")
            con.execute("INSERT OR REPLACE INTO ops.mart_inputs VALUES (?, ?, ?, ?)", [name, key, as_of, run_id])
            built.append(name)
            pause_point("marts")
    return built


@cache  # parsed once per process: the pure-Python parser took 0.26 s a mart on each build
def read_doc(name: str) -> dict:
    return yaml.load((resources.files("kpis") / f"{name}.yml").read_text(encoding="utf-8"),
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _quote(text: str) -> str:
    return "'" + " ".join(str(text).split()).replace("'", "''") + "'"


def comment_statements(name: str) -> list[str]:
    """COMMENTs for a rebuilt mart from its YAML, the one source of its docs (warehouse/migrations/
    0003_comments.sql explains the "[grain: …; keys: …; joins: …]" suffix the docs generator reads)."""
    doc = read_doc(name)
    table = (f"{doc['description']} [grain: {doc['grain']}; keys: {', '.join(doc['keys'])}; "
             f"joins: {doc['joins']}]")
    statements = [f"COMMENT ON TABLE marts.{name} IS {_quote(table)}"]
    statements += [f"COMMENT ON COLUMN marts.{name}.{c['name']} IS {_quote(c['description'])}" for c in doc["columns"]]
    return statements
