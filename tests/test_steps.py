"""The declared graph of steps is complete (issue 22 item 1): what each step declares it reads is
what its code reads, as DuckDB's own parser sees it, and its order is the one a job runs.

A mart's relations: json_serialize_sql of its SQL, its base tables (CTE names left out), with the
macros it calls and the views it names expanded from a migrated, empty warehouse. An output's:
the same parse of every SQL text in the Python modules it declares and the project modules they
import (package __init__ re-exports are not followed).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from kpis import steps
from kpis.build import MART_NAMES, read_sql
from warehouse import store
from warehouse.db import connect


@pytest.fixture(scope="module")
def empty_warehouse():
    con = connect(":memory:")  # every migration: the schemas, tables and views a mart may read
    con.execute(read_sql("macros"))
    yield con
    con.close()


def _walk(node, tables: set[str], functions: set[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
            tables.add(f"{node['schema_name']}.{node['table_name']}")
        if node.get("class") == "FUNCTION" and node.get("schema"):
            functions.add((node["schema"], node["function_name"]))
        for value in node.values():
            _walk(value, tables, functions)
    elif isinstance(node, list):
        for value in node:
            _walk(value, tables, functions)


def relations_read(con, sql: str, seen: set[str] | None = None) -> set[str]:
    """schema.name of every base table the SELECT reads, through macros and views."""
    seen = set() if seen is None else seen
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    assert not parsed.get("error"), (parsed, sql[:200])
    tables: set[str] = set()
    functions: set[tuple[str, str]] = set()
    _walk(parsed, tables, functions)
    found: set[str] = set()
    for table in tables:
        schema, name = table.split(".")
        view = con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = ? AND view_name = ? AND NOT internal",
                           [schema, name]).fetchone()
        if view is None:
            found.add(table)
        elif table not in seen:
            seen.add(table)
            found |= relations_read(con, re.sub(r"(?is)^\s*CREATE\s+VIEW\s+\S+\s+AS\s+", "", view[0]), seen)
    for schema, name in functions:
        for (definition,) in con.execute(
                "SELECT macro_definition FROM duckdb_functions() WHERE schema_name = ? AND function_name = ? "
                "AND function_type = 'macro'", [schema, name]).fetchall():
            if f"macro:{schema}.{name}" not in seen:
                seen.add(f"macro:{schema}.{name}")
                found |= relations_read(con, f"SELECT {definition}", seen)
    return found


def test_the_parser_sees_through_macros_and_views(empty_warehouse):
    """What the regex over SQL missed (issue 22): a table read inside a macro or a view, and
    quoted or upper-case names."""
    con = empty_warehouse
    con.execute("CREATE SCHEMA IF NOT EXISTS scratch")
    con.execute("CREATE OR REPLACE MACRO scratch.closed_count(p) AS "
                "(SELECT count(*) FROM approval.quarter_closures c WHERE c.pilot_id = p)")
    con.execute('CREATE OR REPLACE VIEW scratch.lines AS SELECT * FROM "CORE"."BUDGET_LINES"')
    sql = "WITH x AS (SELECT * FROM scratch.lines) SELECT scratch.closed_count(pilot_id) FROM x"
    assert relations_read(con, sql) == {"approval.quarter_closures", "CORE.BUDGET_LINES"}


@pytest.mark.parametrize("name", MART_NAMES)
def test_each_mart_declares_exactly_the_relations_its_sql_reads(empty_warehouse, name):
    step = steps.MARTS[name]
    sql = read_sql(name)
    assert relations_read(empty_warehouse, sql) == set(step.reads)
    assert step.as_of == ("$as_of" in sql)  # the as-of date is declared where the SQL uses it
    assert {f"kpis/{name}.sql", f"kpis/{name}.yml", "kpis/macros.sql"} <= {
        str(p.relative_to(steps.ROOT)) for p in steps.files_of(step)}


def _sql_texts(path: Path) -> list[str]:
    """Every SQL text in a module: string constants, and f-strings with each {name} of a module
    constant pasted in (any other placeholder stands for a value: NULL)."""
    tree = ast.parse(path.read_bytes())
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    inside = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in ast.walk(n)}
    texts = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inside:
            texts.append(n.value)
        elif isinstance(n, ast.JoinedStr):
            texts.append("".join(
                v.value if isinstance(v, ast.Constant) else
                str(constants.get(v.value.id, "NULL")) if isinstance(v.value, ast.Name) else "NULL"
                for v in n.values))
    return [t for t in texts if re.search(r"(?is)^\s*(with|select)\b.*\bfrom\b", t)]


def _modules_run(step: steps.Step) -> set[Path]:
    return {p for m in step.modules for p in steps.module_closure(m)}


# SQL whose relation is named at run time, in modules an output imports for something else.
DYNAMIC = {"warehouse/export.py": "`pilotkpi export` reads the relation it is given; the letters use its safe_cell"}


@pytest.mark.parametrize("name", [n for n in steps.POST_COMMIT_ORDER if n != "publish"])
def test_each_output_declares_the_relations_its_code_reads(empty_warehouse, name):
    step = steps.OUTPUTS[name]
    found: set[str] = set()
    for path in _modules_run(step):
        for sql in _sql_texts(path):
            if str(path.relative_to(steps.ROOT)) in DYNAMIC and "NULL" in sql:
                continue  # a placeholder of an f-string there: the relation is named at run time
            found |= relations_read(empty_warehouse, sql)
    assert found == set(step.reads)


def test_publishing_reads_every_relation_and_comes_last():
    assert steps.OUTPUTS["publish"].reads == ("*",)
    assert steps.POST_COMMIT_ORDER[-1] == "publish"


def test_the_order_is_derived_from_the_declarations_and_matches_ops_runs():
    # Each mart comes after every mart it reads; the steps after the commit are the ones ops.runs records.
    for i, name in enumerate(MART_NAMES):
        assert set(steps.MARTS[name].inputs) <= set(MART_NAMES[:i]), name
    assert tuple(steps.POST_COMMIT_ORDER) == store.POST_COMMIT_STEPS
    assert steps.POST_COMMIT_ORDER.index("summaries") > steps.POST_COMMIT_ORDER.index("validation_report")
    assert steps.POST_COMMIT_ORDER.index("artifact") > steps.POST_COMMIT_ORDER.index("summaries")


def test_a_cycle_in_the_declarations_is_refused():
    from graphlib import CycleError

    a = steps.Step("a", "output", after=("b",))
    b = steps.Step("b", "output", after=("a",))
    with pytest.raises(CycleError):
        steps._order({"a": a, "b": b})


def test_every_template_and_sql_file_belongs_to_a_step():
    """A template or SQL file no step declares would change nothing when edited."""
    declared = {p for s in [*steps.MARTS.values(), *steps.OUTPUTS.values()] for p in steps.files_of(s)}
    files = [*steps.ROOT.glob("kpis/*.sql"), *steps.ROOT.glob("kpis/**/templates/*.j2")]
    assert files and {str(p.relative_to(steps.ROOT)) for p in files if p not in declared} == set()


def test_each_summary_module_and_label_file_is_in_the_summaries_key():
    files = {str(p.relative_to(steps.ROOT)) for p in steps.files_of(steps.OUTPUTS["summaries"])}
    assert {"kpis/summary/pages.py", "kpis/summary/labels.py", "kpis/summary/render.py", "kpis/summary/model.py",
            "kpis/summary/charts.py", "kpis/summary/controls.py", "warehouse/display.py",
            "kpis/summary/templates/pilot.html.j2"} <= files
    letters = {str(p.relative_to(steps.ROOT)) for p in steps.files_of(steps.OUTPUTS["letters"])}
    assert {"kpis/letters/render.py", "kpis/letters/model.py", "kpis/letters/templates/letter.th.html.j2"} <= letters


def test_operations_lists_the_files_each_job_writes_from_the_declarations():
    text = (steps.ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- files-table: [^>]*-->\n(.*?)<!-- /files-table -->", text, re.S)
    assert table and table.group(1) == steps.files_table()
    rows = {line.split("|")[1].strip(): line for line in table.group(1).splitlines()[2:]}
    assert set(rows) == {f"`{j}`" for j in ("run", "reprocess", "rebuild", "close-quarter", "approve", "reject",
                                            "reopen")}
    assert "validation.html" in rows["`run`"] and "validation-reprocess-" in rows["`reprocess`"]
    for job in ("rebuild", "close-quarter", "approve", "reject", "reopen"):  # they read no file
        assert "validation" not in rows[f"`{job}`"] and "published.duckdb" in rows[f"`{job}`"]
