"""`pilotkpi sql`: every statement's result is shown, and the dot commands analysts expect work."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from flows.cli import main
from warehouse.db import connect
from warehouse.shell import statements


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A migrated warehouse saved under a published name, with two agencies."""
    path = tmp_path_factory.mktemp("shell") / "w.published.duckdb"
    con = connect(path)
    con.execute("INSERT INTO registry.agencies (agency_code, name_th, name_en, ministry) VALUES ('03009', 'กรมศุลกากร', 'Customs', NULL), "
                "('15001', 'กรมการปกครอง', 'Provincial Administration', NULL)")
    con.close()
    return str(path)


def run(published, text):
    result = CliRunner().invoke(main, ["sql", "--warehouse", published, "-c", text])
    return result.exit_code, result.output


def test_every_statement_on_one_line_prints_its_result(published):
    code, out = run(published, "SELECT 41 + 1 AS answer; SELECT count(*) AS agencies FROM registry.agencies;")
    assert code == 0
    assert "answer" in out and "42" in out
    assert "agencies" in out and "│        2 │" in out


def test_an_error_in_the_second_statement_still_shows_the_first(published):
    code, out = run(published, "SELECT 'first' AS x; SELECT * FROM no_such_table;")
    assert code == 1
    assert "first" in out and "Error:" in out and "no_such_table" in out


def test_tables_lists_relations_by_schema(published):
    code, out = run(published, ".tables")
    lines = out.splitlines()
    assert code == 0
    assert {"registry.agencies", "ingest.submissions", "core.kpi_actuals", "ops.runs"} <= set(lines)
    assert lines == sorted(lines)


def test_schema_shows_columns_with_types_and_comments(published):
    code, out = run(published, ".schema registry.agencies")
    assert code == 0
    assert "agency_code" in out and "VARCHAR" in out and "leading zeros" in out
    code, out = run(published, ".schema agencies")  # the schema may be left out
    assert code == 0 and "name_th" in out
    code, out = run(published, ".schema nothing_here")
    assert code == 1 and "no relation named 'nothing_here'" in out


def test_help_and_unknown_commands(published):
    code, out = run(published, ".help")
    assert code == 0 and ".tables" in out and ".schema NAME" in out
    code, out = run(published, ".tabels")
    assert code == 1 and "unknown command '.tabels' (try .help)" in out


def test_input_splitting():
    text = ["SELECT 1;", ".tables", "SELECT", "  2; SELECT 3;", ".quit", "SELECT 4;"]
    assert list(statements(text)) == ["SELECT 1;", ".tables", "SELECT\n  2; SELECT 3;"]
