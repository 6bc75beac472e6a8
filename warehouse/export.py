"""Exports for BI tools (Parquet) and for people who use Excel (CSV), streamed in chunks.

- Relations with a fiscal_year column are split by fiscal year: Parquet as a hive-partitioned
  folder (`marts.kpi_scores/fiscal_year=2549/data_0.parquet`), CSV as one file per year
  (`marts.kpi_scores/fiscal_year=2549.csv`), which also keeps a national year of lines under
  Excel's 1,048,576-row limit. Others are one file each.
- CSV is UTF-8 with a byte-order mark, so Excel shows Thai text correctly.
- CSV cells that Excel would run as a formula (text starting with =, +, -, @, tab or carriage
  return, OWASP's list) get a leading apostrophe, unless the text is a plain number.
"""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb

EXPORTED_SCHEMAS = ("registry", "core", "marts")
FORMATS = ("parquet", "csv")
CHUNK_ROWS = 50_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: object) -> object:
    """Neutralise text a spreadsheet would evaluate; numbers and other types pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def exported_relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(schema.table, has fiscal_year) for every exported table, in a stable order."""
    rows = con.execute("""
        SELECT t.schema_name || '.' || t.table_name,
               bool_or(c.column_name = 'fiscal_year')
        FROM duckdb_tables() t JOIN duckdb_columns() c USING (schema_name, table_name)
        WHERE t.schema_name IN ('registry', 'core', 'marts')
        GROUP BY ALL ORDER BY 1""").fetchall()
    return [(name, bool(partitioned)) for name, partitioned in rows]


def export(con: duckdb.DuckDBPyConnection, out_dir: Path, fmt: str) -> list[Path]:
    """Write every exported relation to out_dir; return the files or folders written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for relation, partitioned in exported_relations(con):
        target = out_dir / (relation if partitioned else f"{relation}.{fmt}")
        if target.is_dir():
            shutil.rmtree(target)  # a re-export replaces the relation's files, never mixes years
        if fmt == "parquet":
            _parquet(con, relation, target, partitioned)
        else:
            _csv(con, relation, target, partitioned)
        written.append(target)
    return written


def _parquet(con, relation: str, target: Path, partitioned: bool) -> None:
    path = str(target).replace("'", "''")
    options = "FORMAT parquet, PARTITION_BY (fiscal_year)" if partitioned else "FORMAT parquet"
    con.execute(f"COPY (SELECT * FROM {relation} ORDER BY ALL) TO '{path}' ({options})")


def _csv(con, relation: str, target: Path, partitioned: bool) -> None:
    if not partitioned:
        _csv_file(con, f"SELECT * FROM {relation} ORDER BY ALL", [], target)
        return
    target.mkdir(parents=True)
    years = [r[0] for r in con.execute(f"SELECT DISTINCT fiscal_year FROM {relation} ORDER BY 1").fetchall()]
    for year in years:
        _csv_file(con, f"SELECT * FROM {relation} WHERE fiscal_year = ? ORDER BY ALL", [year],
                  target / f"fiscal_year={year}.csv")


def _csv_file(con, sql: str, params: list, path: Path) -> None:
    res = con.execute(sql, params)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([d[0] for d in res.description])
        while rows := res.fetchmany(CHUNK_ROWS):
            writer.writerows([safe_cell(v) for v in row] for row in rows)
