"""Exports: Parquet partitioned by fiscal year for BI tools, CSV with a BOM for Excel and with
formula-like text neutralised."""
from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from warehouse.export import safe_cell


@pytest.mark.parametrize("given, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+66 2 123 4567", "'+66 2 123 4567"),
    ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("-5", "-5"), ("+1.5", "+1.5"), ("-1e3", "-1e3"),           # plain numbers stay numbers
    ("ร้อยละ = 5", "ร้อยละ = 5"), ("a-b", "a-b"), ("", ""),
    (Decimal("-3.5"), Decimal("-3.5")), (7, 7), (None, None),
])
def test_safe_cell(given, expected):
    assert safe_cell(given) == expected


def export(wh, tmp_path, fmt):
    result = CliRunner().invoke(main, ["export", str(tmp_path / fmt), "--format", fmt, "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output
    return tmp_path / fmt


def test_csv_export_opens_in_excel_with_thai_and_escapes_formulas(demo_run, tmp_path):
    folder, _ = demo_run
    out = export(folder / "warehouse.duckdb", tmp_path, "csv")
    pilots = (out / "registry.pilots.csv").read_bytes()
    assert pilots.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the file as UTF-8
    with open(out / "registry.pilots.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 and rows[0]["name_th"] == "เครือข่ายสารสนเทศภาครัฐ (GIN)"
    # Partitioned by fiscal year: 2548-Q1..Q4 and 2549-Q1..Q3 of the demo.
    assert sorted(p.name for p in (out / "marts.kpi_scores").iterdir()) == ["fiscal_year=2548.csv", "fiscal_year=2549.csv"]
    # The open pilots' KPIs (docs/demo.md; the restricted PLT-2548-006 is left out): 001 2, 002 3,
    # 003 3, 004 3, 005 3, 007 2 = 16. FY2548 has 4 due quarters: 16 x 4 = 64 rows. FY2549 has 3,
    # but 007 ended 2006-03-31 (2549-Q1 and Q2 only): 14 x 3 + 2 x 2 = 46.
    for year, expected in ((2548, 64), (2549, 46)):
        with open(out / "marts.kpi_scores" / f"fiscal_year={year}.csv", encoding="utf-8-sig", newline="") as fh:
            exported = list(csv.DictReader(fh))
        assert len(exported) == expected and "PLT-2548-006" not in {r["pilot_id"] for r in exported}


def test_formula_like_notes_are_escaped_in_the_csv(tmp_path):
    from warehouse.db import connect
    from warehouse.export import export as export_relations

    con = connect(":memory:")
    con.execute("""INSERT INTO core.kpi_actuals VALUES
        ('P1', '03009', 'K1', '2548-Q1', 2548, 1, -3.5, '=cmd|'' /C calc''!A0', 1, 2),
        ('P1', '03009', 'K2', '2548-Q1', 2548, 1, 4, '-5', 1, 3),
        ('P1', '03009', 'K3', '2548-Q1', 2548, 1, 5, '@SUM(A1)', 1, 4)""")
    export_relations(con, tmp_path, "csv")
    with open(tmp_path / "core.kpi_actuals" / "fiscal_year=2548.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["kpi_code"]: r for r in csv.DictReader(fh)}
    assert rows["K1"]["note"] == "'=cmd|' /C calc'!A0" and rows["K1"]["actual"] == "-3.5000000000"
    assert rows["K2"]["note"] == "-5"
    assert rows["K3"]["note"] == "'@SUM(A1)"


def test_parquet_export_round_trips_every_row(demo_run, tmp_path):
    folder, _ = demo_run
    out = export(folder / "warehouse.published.duckdb", tmp_path, "parquet")
    assert (out / "marts.kpi_scores" / "fiscal_year=2549").is_dir()
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        for relation in ("marts.kpi_scores", "core.budget_lines", "marts.budget_integration_by_layer"):
            path = str(out / relation / "**" / "*.parquet")
            back = con.execute(f"SELECT * EXCLUDE (fiscal_year) FROM read_parquet('{path}', hive_partitioning=true) "
                               "ORDER BY ALL").fetchall()
            source = con.execute(f"SELECT * EXCLUDE (fiscal_year) FROM {relation} WHERE pilot_id <> 'PLT-2548-006' "
                                 "ORDER BY ALL").fetchall()
            assert back == source and len(source) > 0, relation
        assert con.execute(f"SELECT count(*) FROM read_parquet('{out / 'registry.pilots.parquet'}')").fetchone()[0] == 7
    finally:
        con.close()


def test_restricted_pilot_only_in_the_relations_the_open_side_may_show(demo_run, tmp_path):
    """warehouse.md: of the restricted PLT-2548-006 an export holds registry.pilots,
    registry.pilot_agencies, marts.pilot_scores, marts.reporting_compliance and marts.reminders
    rows only, whether or not the published copy still holds the rest."""
    folder, _ = demo_run
    out = export(folder / "warehouse.published.duckdb", tmp_path, "parquet")
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        relations = [r[0] for r in con.execute(
            "SELECT DISTINCT schema_name || '.' || table_name FROM duckdb_columns() "
            "WHERE schema_name IN ('registry', 'core', 'marts') AND column_name = 'pilot_id'").fetchall()]
        kept = {}
        for relation in relations:
            target = out / relation
            path = target / "**" / "*.parquet" if target.is_dir() else out / f"{relation}.parquet"
            rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}', hive_partitioning=true) "
                               "WHERE pilot_id = 'PLT-2548-006'").fetchone()[0]
            if rows:
                kept[relation] = rows
    finally:
        con.close()
    assert "core.kpi_actuals" in relations and "marts.kpi_outliers" in relations  # the search covers these
    # 1 pilot row; 5 agencies (docs/demo.md: 01005 lead, 01006, 25001, 11002, 12005); 7 due quarters
    # 2548-Q1..2549-Q3; compliance: the 4 reporting agencies x 7 quarters = 28 (advisory agencies
    # are not expected to report). No reminder is overdue for it.
    assert kept == {"registry.pilots": 1, "registry.pilot_agencies": 5, "marts.pilot_scores": 7,
                    "marts.reporting_compliance": 28}


def test_sql_shell_is_read_only_and_offline(demo_run):
    folder, _ = demo_run
    wh = str(folder / "warehouse.duckdb")

    def run(sql):
        result = CliRunner().invoke(main, ["sql", "--warehouse", wh, "-c", sql])
        return result.exit_code, result.output

    code, out = run("SELECT count(*) AS pilots FROM registry.pilots;")
    assert code == 0 and "│      7 │" in out
    for forbidden in ("SELECT * FROM read_csv('/etc/passwd');", "COPY marts.kpi_scores TO 'leak.csv';",
                      "SET enable_external_access = true;", "SET lock_configuration = false;",
                      "ATTACH 'other.duckdb';", "DELETE FROM marts.kpi_scores;"):
        code, out = run(forbidden)
        assert code == 1 and out.startswith("Error:"), (forbidden, out)


def _xlsx_rows(path) -> list[list]:
    """Every cell of the workbook's sheets as (value, openpyxl data type), read back as Excel would."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    return [[(c.value, c.data_type) for c in row] for ws in wb.worksheets for row in ws.iter_rows()]


def test_xlsx_keeps_codes_as_text_numbers_as_numbers_and_formulas_as_text(tmp_path):
    from warehouse.db import connect
    from warehouse.export import export as export_relations

    con = connect(":memory:")
    con.execute("INSERT INTO registry.agencies (agency_code, name_th, name_en, ministry) VALUES ('01002', 'สำนักงานปลัดสำนักนายกรัฐมนตรี', 'OPS-PMO', NULL)")
    con.execute("""INSERT INTO core.kpi_actuals VALUES
        ('P1', '01002', 'K1', '2548-Q1', 2548, 1, -3.5, '=cmd|'' /C calc''!A0', 7, 2),
        ('P1', '01002', 'K2', '2548-Q1', 2548, 1, 3045, '#N/A', 7, 3),
        ('P1', '01002', 'K3', '2548-Q1', 2548, 1, NULL, 'bell' || chr(7) || ' tab' || chr(9), 7, 4)""")
    export_relations(con, tmp_path, "xlsx")
    con.close()

    agencies = _xlsx_rows(tmp_path / "registry.agencies.xlsx")
    assert [v for v, _ in agencies[0]][:4] == ["agency_code", "name_th", "name_en", "ministry"]
    # The code is the text '01002' ('s'), not the number 1002 that Excel makes of it in a CSV.
    assert agencies[1][:4] == [("01002", "s"), ("สำนักงานปลัดสำนักนายกรัฐมนตรี", "s"), ("OPS-PMO", "s"), (None, "n")]

    lines = _xlsx_rows(tmp_path / "core.kpi_actuals" / "fiscal_year=2548.xlsx")
    header = [v for v, _ in lines[0]]
    rows = {row[header.index("kpi_code")][0]: dict(zip(header, row)) for row in lines[1:]}
    assert sorted(rows) == ["K1", "K2", "K3"]
    # DECIMAL(38,12) actuals are number cells: -3.5 and 3045; a missing one is empty.
    assert rows["K1"]["actual"] == (-3.5, "n") and rows["K2"]["actual"] == (3045, "n")
    assert rows["K3"]["actual"] == (None, "n")
    assert rows["K1"]["fiscal_year"] == (2548, "n") and rows["K1"]["row_number"] == (2, "n")
    assert rows["K1"]["agency_code"] == ("01002", "s")
    # Agency text stays exactly as written, as text: not a formula ('f'), not an error ('e').
    assert rows["K1"]["note"] == ("=cmd|' /C calc'!A0", "s")
    assert rows["K2"]["note"] == ("#N/A", "s")
    # BEL cannot be stored in xlsx: shown as its control picture U+2407; a tab is allowed.
    assert rows["K3"]["note"] == ("bell\u2407 tab\t", "s")


def test_xlsx_export_of_the_demo(demo_run, tmp_path):
    folder, _ = demo_run
    out = export(folder / "warehouse.duckdb", tmp_path, "xlsx")
    agencies = _xlsx_rows(out / "registry.agencies.xlsx")
    codes = {v for v, t in (row[0] for row in agencies[1:])}
    assert "01002" in codes and all(t == "s" for _, t in (row[0] for row in agencies[1:]))
    assert sorted(p.name for p in (out / "marts.kpi_scores").iterdir()) == ["fiscal_year=2548.xlsx",
                                                                             "fiscal_year=2549.xlsx"]
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        assert len(agencies) - 1 == con.execute("SELECT count(*) FROM registry.agencies").fetchone()[0]
        for year in (2548, 2549):
            scores = _xlsx_rows(out / "marts.kpi_scores" / f"fiscal_year={year}.xlsx")
            header = [v for v, _ in scores[0]]
            assert len(scores) - 1 == con.execute("SELECT count(*) FROM marts.kpi_scores WHERE fiscal_year = ? "
                                                  "AND pilot_id <> 'PLT-2548-006'", [year]).fetchone()[0]
            score = header.index("score")
            assert {t for row in scores[1:] for v, t in [row[score]]} == {"n"}
        # pilots: start_date is a date cell (openpyxl reads it back as a datetime at midnight).
        pilots = _xlsx_rows(out / "registry.pilots.xlsx")
        header = [v for v, _ in pilots[0]]
        first = con.execute("SELECT pilot_id, start_date FROM registry.pilots ORDER BY ALL LIMIT 1").fetchone()
        row = next(r for r in pilots[1:] if r[header.index("pilot_id")][0] == first[0])
        value, kind = row[header.index("start_date")]
        assert kind == "d" and value.date() == first[1] and isinstance(first[1], date)
    finally:
        con.close()


def test_xlsx_writes_decimals_and_integers_beyond_15_digits_as_their_exact_text(tmp_path):
    """Excel's number keeps 15 significant digits: 98765432109876.54 as a number cell came back as
    98765432109876.55 (verifier VB, repro/e1b). Beyond 15 digits the cell is the exact text; up to 15,
    and any float, a number."""
    from warehouse.db import connect
    from warehouse.export import export as export_relations

    con = connect(":memory:")
    con.execute("""INSERT INTO core.budget_lines VALUES
        ('P1', '03009', '2549-Q3', 2549, 3, 'ACT-L5-01', 5, 'budget', 98765432109876.54, 9876543210987.65, NULL,
         1234567890123456789, 2),
        ('P1', '03009', '2549-Q3', 2549, 3, 'ACT-L5-02', 5, 'budget', 99999999999999.99, 100000000000000.00, NULL,
         123456789012345, 3)""")
    export_relations(con, tmp_path, "xlsx")
    con.close()

    lines = _xlsx_rows(tmp_path / "core.budget_lines" / "fiscal_year=2549.xlsx")
    header = [v for v, _ in lines[0]]
    rows = {row[header.index("activity_code")][0]: dict(zip(header, row)) for row in lines[1:]}
    big, fits = rows["ACT-L5-01"], rows["ACT-L5-02"]
    assert big["allocated_thb"] == ("98765432109876.54", "s")  # 16 digits: the exact text
    assert big["disbursed_thb"] == (9876543210987.65, "n")  # 15 digits: a number, read back the same
    assert big["submission_id"] == ("1234567890123456789", "s")  # a 19-digit integer, not 1.23456789012346E+18
    assert fits["allocated_thb"] == ("99999999999999.99", "s")
    assert fits["disbursed_thb"] == (100000000000000, "n")  # 1 significant digit
    assert fits["submission_id"] == (123456789012345, "n")
    assert big["row_number"] == (2, "n")
