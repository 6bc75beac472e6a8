"""Whether the registry.* tables already hold exactly today's registry rows; and, when they do
not, which pilots' lead agency the new rows change (lead_changes: a job warns of each).

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

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Mapping

import duckdb

from warehouse.personal import printable
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


# Column types whose values _same compares by their exact type and ==: for a column of one of
# these, a list of expected values of only these types (or None) that equals the stored list
# (Python's == value by value, in C) is what _same would say of every value. Any other column
# (lists, BOOLEAN, types _same refuses), or a column that fails this, is compared value by value.
_EXACT = {"VARCHAR": (str,), "DATE": (date,), "TIMESTAMP": (datetime,), **{t: (int,) for t in _INTEGERS}}
_DECIMAL_EXACT = (Decimal, int)  # Decimal(e) == stored is e == stored for these (exact comparison)


def _same_column(expected: list, stored: tuple, column_type: str) -> bool:
    """_same for every value of one column, with a fast path where it cannot differ (_EXACT).
    Run over columns rather than rows: at 400 pilots, the registry's 8,000 rows (54,000 values)
    cost each night's start 0.1 s value by value; the fast path gives the same answer."""
    exact = _DECIMAL_EXACT if column_type.startswith("DECIMAL") else _EXACT.get(column_type)
    if exact is not None and set(map(type, expected)) <= {*exact, type(None)} and tuple(expected) == stored:
        return True
    return all(_same(e, s, column_type) for e, s in zip(expected, stored))


def _holds(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]], rows: list[Mapping]) -> bool:
    stored = con.execute(f"SELECT * FROM {table}").fetchall()
    if len(stored) != len(rows):
        return False
    if rows and not set(rows[0]) <= {c for c, _ in columns}:
        return False  # a column the table does not have: the rewrite says so, as it always did
    first = rows[0].keys() if rows else None
    if any(row.keys() != first for row in rows):  # the rewrite inserts the first row's columns only
        return False
    # Column by column (zip(*stored): one tuple per stored column, as many as the table has).
    return all(_same_column([row.get(column) for row in rows], have, column_type)
               for (column, column_type), have in zip(columns, zip(*stored)))


def holds_registry(con: duckdb.DuckDBPyConnection, rows_by_table: Mapping[str, list[Mapping]]) -> bool:
    """True when every registry table holds exactly these rows (module docstring)."""
    if not set(rows_by_table) <= set(REGISTRY_TABLES):
        return False
    columns = _columns(con)
    return all(_holds(con, table, columns.get(table, []), list(rows_by_table.get(table, [])))
               for table in REGISTRY_TABLES)


@dataclass(frozen=True)
class LeadChange:
    """A pilot whose lead agency in the registry a job loads is not the one the warehouse holds.
    Today's registry governs every due period (docs/registry.md, "Changing the registry of a
    running pilot"): the KPI marts read the new lead's reports for earlier quarters too."""
    pilot_id: str
    old_lead: str
    new_lead: str

    def lines(self) -> tuple[str, str]:
        """(English, Thai): registry text, escaped for the terminal and the log (printable)."""
        pilot, old, new = (printable(v) for v in (self.pilot_id, self.old_lead, self.new_lead))
        return (f"warning: the registry changes the lead agency of pilot {pilot} from {old} to {new}: earlier "
                f"quarters are now scored from the new lead's ({new}) reports too, and a quarter it did not "
                f"report has no data (docs/registry.md, \"Changing the registry of a running pilot\")",
                f"คำเตือน: ทะเบียนโครงการเปลี่ยนหน่วยงานหลักของโครงการ {pilot} จาก {old} เป็น {new} "
                f"ไตรมาสก่อนหน้าทุกไตรมาสจะคิดคะแนนจากรายงานของหน่วยงานหลักใหม่ ({new}) "
                f"ไตรมาสที่หน่วยงานหลักใหม่ไม่ได้รายงานจะไม่มีข้อมูล")


def lead_changes(con: duckdb.DuckDBPyConnection, rows_by_table: Mapping[str, list[Mapping]]) -> list[LeadChange]:
    """The pilots that registry.pilots holds with another lead_agency_code than these rows give
    (the registry a job is about to write, warehouse/store.replace_registry); a pilot new to the
    warehouse or gone from the registry is no change of lead. In pilot order."""
    stored = dict(con.execute("SELECT pilot_id, lead_agency_code FROM registry.pilots").fetchall())
    new = {r["pilot_id"]: r["lead_agency_code"] for r in rows_by_table.get("registry.pilots", [])}
    return [LeadChange(p, stored[p], new[p]) for p in sorted(new) if p in stored and stored[p] != new[p]]
