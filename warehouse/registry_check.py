"""Whether the registry.* tables already hold exactly today's registry rows.

Every job rewrites the registry tables whole (warehouse/store.replace_registry): on most nights
the committee changed nothing, and the rewrite cost the night a delete and an insert of every
registry row in each store, and pandas' import (a quarter of a second) on a night that reads no
file. A job skips the rewrite when this says the tables hold the same rows already.

"The same" is strict, so a wrong "same" cannot happen where a rewrite would change anything:
- the same columns, rows and row order (a rewrite inserts the rows in their order);
- each value equal to what the INSERT would store, compared by the column's type: text with
  text, integers with integers, dates with dates, DECIMAL columns as Decimals (the insert casts
  the row's text or Decimal to the column's type: Decimal("1.5") and the stored 1.50 are equal),
  lists element by element; NULL only with None;
- a value of any other kind, or a type not listed here, is "different": the job then rewrites
  the tables, as it always did. A false "different" only costs the rewrite.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Mapping

import duckdb

from warehouse.store import REGISTRY_TABLES

_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


def _same(expected, stored, column_type: str) -> bool:
    if expected is None or stored is None:
        return expected is None and stored is None
    if column_type.endswith("[]"):
        return (isinstance(expected, (list, tuple)) and isinstance(stored, list) and len(expected) == len(stored)
                and all(_same(e, s, column_type[:-2]) for e, s in zip(expected, stored)))
    if column_type == "VARCHAR":
        return isinstance(expected, str) and expected == stored
    if column_type in _INTEGERS:
        return type(expected) is int and expected == stored
    if column_type == "DATE":
        return type(expected) is date and expected == stored
    if column_type == "TIMESTAMP":
        return type(expected) is datetime and expected == stored
    if column_type == "BOOLEAN":
        return type(expected) is bool and expected is stored
    if column_type.startswith("DECIMAL"):
        if isinstance(expected, bool) or not isinstance(expected, (str, int, Decimal)):
            return False  # a float is not compared: its text is not what the insert would store
        try:
            return Decimal(expected) == stored
        except InvalidOperation:
            return False
    return False


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """{"schema.table": [(column, type), ...] in their order} of the registry tables' schemas: one
    query for all of them (a query of information_schema costs a few ms; one a table, 14 a night)."""
    schemas = sorted({table.split(".")[0] for table in REGISTRY_TABLES})
    columns: dict[str, list[tuple[str, str]]] = {}
    for schema, name, column, column_type in con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE list_contains(?, table_schema) ORDER BY table_schema, table_name, ordinal_position",
            [schemas]).fetchall():
        columns.setdefault(f"{schema}.{name}", []).append((column, column_type))
    return columns


def _holds(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]], rows: list[Mapping]) -> bool:
    stored = con.execute(f"SELECT * FROM {table}").fetchall()
    if len(stored) != len(rows):
        return False
    if rows and not set(rows[0]) <= {c for c, _ in columns}:
        return False  # a column the table does not have: the rewrite says so, as it always did
    for row, have in zip(rows, stored):
        if set(row) != set(rows[0]):  # the rewrite inserts the first row's columns only
            return False
        for (column, column_type), value in zip(columns, have):
            if not _same(row.get(column), value, column_type):
                return False
    return True


def holds_registry(con: duckdb.DuckDBPyConnection, rows_by_table: Mapping[str, list[Mapping]]) -> bool:
    """True when every registry table holds exactly these rows (module docstring)."""
    if not set(rows_by_table) <= set(REGISTRY_TABLES):
        return False
    columns = _columns(con)
    return all(_holds(con, table, columns.get(table, []), list(rows_by_table.get(table, [])))
               for table in REGISTRY_TABLES)
