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


def test_decimal_columns_show_their_stored_type_and_trimmed_values(tmp_path):
    """Verifier VI F7: a DECIMAL column's values are shown without trailing zeros (65.6, not
    65.6000000000), but its header names the type it is stored with: composite_at_closing is
    DECIMAL(9,4) (migration 0008, as marts.pilot_scores.composite_score in warehouse.md's contract),
    a threshold DECIMAL(38,10) (migration 0001). The display cast showed decimal(8,3), decimal(5,0)
    when every value was NULL, and decimal(29,1)."""
    path = tmp_path / "w.published.duckdb"
    con = connect(path)
    con.execute("INSERT INTO approval.quarter_closures (pilot_id, period, closed_at, closed_by, composite_at_closing, "
                "status_at_closing, run_id) VALUES ('PLT-2548-001', '2549-Q3', TIMESTAMP '2006-08-15 10:00:00', "
                "'committee', 3.688, 'at_risk', 'r1'), ('PLT-2548-002', '2549-Q3', "
                "TIMESTAMP '2006-08-15 10:00:00', 'committee', NULL, 'no_data', 'r1')")
    con.execute("INSERT INTO registry.kpi_thresholds (pilot_id, kpi_code, fiscal_year, t1, t2, t3, t4, t5) "
                "VALUES ('PLT-2548-001', 'G1', 2549, 65.6, 70, 75, 80, 85)")
    con.close()

    def header_and_cells(sql: str) -> tuple[list[str], list[str], list[list[str]]]:
        code, out = run(str(path), sql)
        assert code == 0, out
        rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
        return rows[0], rows[1], rows[2:]

    names, types, cells = header_and_cells(
        "SELECT pilot_id, composite_at_closing FROM approval.quarter_closures ORDER BY pilot_id;")
    assert names == ["pilot_id", "composite_at_closing"]
    assert types == ["varchar", "decimal(9,4)"]
    assert cells == [["PLT-2548-001", "3.688"], ["PLT-2548-002", "NULL"]]

    names, types, cells = header_and_cells(
        "SELECT composite_at_closing AS c FROM approval.quarter_closures WHERE composite_at_closing IS NULL;")
    assert (names, types, cells) == (["c"], ["decimal(9,4)"], [["NULL"]])

    names, types, cells = header_and_cells("SELECT t1, t2 FROM registry.kpi_thresholds;")
    assert (names, types, cells) == (["t1", "t2"], ["decimal(38,10)", "decimal(38,10)"], [["65.6", "70"]])  # each column trimmed to its own values


def test_columns_of_the_same_name_each_show_their_own_values_and_types(tmp_path):
    """Reviewer RV9 item 2: a join's columns of the same name (a.t1, b.t1) were cast and shown by
    name, so both showed the first one's values; a VARCHAR column of that name beside them made
    the shell fail ("This type is not nested"). Each is now taken by its position."""
    path = tmp_path / "w.published.duckdb"
    con = connect(path)
    con.execute("INSERT INTO registry.kpi_thresholds (pilot_id, kpi_code, fiscal_year, t1, t2, t3, t4, t5) VALUES "
                "('PLT-2548-001', 'G1', 2549, 65.6, 70, 75, 80, 85), ('PLT-2548-001', 'G1', 2550, 70.25, 72, 75, 80, 85)")
    con.close()
    sql = ("SELECT a.t1, b.t1, a.kpi_code AS t1, b.t2 FROM registry.kpi_thresholds a JOIN registry.kpi_thresholds b "
           "ON b.kpi_code = a.kpi_code AND b.fiscal_year = a.fiscal_year + 1;")
    code, out = run(str(path), sql)
    assert code == 0, out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    # t1 of 2549 (65.6) and of 2550 (70.25), each trimmed to its own decimals; t2 of 2550 is 72.
    assert rows == [["t1", "t1", "t1", "t2"], ["decimal(38,10)", "decimal(38,10)", "varchar", "decimal(38,10)"],
                    ["65.6", "70.25", "G1", "72"]]
