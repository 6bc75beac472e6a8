"""The hand-computed cases in kpis/<mart>.yml: load their given rows, build, read the mart back.

A case names only the columns that matter to it. `load_given` fills the rest of each source
table's NOT NULL columns with neutral values, and core.* rows take pilot, agency and period from
their submission (as ingest writes them), fiscal_year and quarter from the period.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Iterable, Mapping

import duckdb
import yaml

from kpis.build import MART_NAMES, build_marts


def mart_doc(name: str) -> dict:
    return yaml.safe_load((resources.files("kpis") / f"{name}.yml").read_text(encoding="utf-8"))


def _registry_defaults(table: str, row: dict) -> dict:
    if table == "registry.agencies":
        return {"name_th": row["agency_code"], "name_en": row["agency_code"]}
    if table == "registry.pilots":
        return {"name_th": row["pilot_id"], "name_en": row["pilot_id"], "layer": 1, "strategies": [1],
                "classification": "open", "report_due_days": 30}
    if table == "registry.kpis":
        return {"name_th": row["kpi_code"], "name_en": row["kpi_code"], "unit": "count",
                "direction": "higher", "aggregation": "last"}
    if table == "registry.kpi_thresholds" and "t" in row:  # shorthand: t: [t1, t2, t3, t4, t5]
        return dict(zip(("t1", "t2", "t3", "t4", "t5"), row.pop("t")))
    if table == "ingest.submissions":
        sid = row["submission_id"]
        return {"sha256": f"sha-{sid}", "file_name": f"{sid}.csv", "size_bytes": 0,
                "received_at": datetime(2005, 1, 1), "run_id": "case", "status": "accepted",
                "error_count": 0, "warning_count": 0}
    return {}


def _core_defaults(table: str, row: dict, index: int, submissions: Mapping[int, dict]) -> dict:
    sub = submissions[row["submission_id"]]
    period = row.get("period", sub.get("period"))
    out = {"pilot_id": sub.get("pilot_id"), "agency_code": sub.get("agency_code"), "period": period,
           "fiscal_year": int(period[:4]), "quarter": int(period[-1]), "row_number": index + 1}
    if table == "core.budget_lines":
        out.update(layer=1, funding_source="own", disbursed_thb=0)
    return out


def _value(v: Any) -> Any:
    # A YAML float goes in as its shortest text so DuckDB casts it to DECIMAL exactly.
    return str(v) if isinstance(v, float) else v


def load_given(con: duckdb.DuckDBPyConnection, given: Mapping[str, Iterable[Mapping]]) -> None:
    submissions = {r["submission_id"]: dict(r) for r in given.get("ingest.submissions", [])}
    for table, rows in given.items():
        for index, given_row in enumerate(rows):
            row = dict(given_row)
            defaults = (_core_defaults(table, row, index, submissions) if table.startswith("core.")
                        else _registry_defaults(table, row))
            row = {**defaults, **row}
            cols = list(row)
            con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [_value(row[c]) for c in cols])


def read_mart(con: duckdb.DuckDBPyConnection, name: str, columns: list[str]) -> list[tuple]:
    return con.execute(f"SELECT {', '.join(columns)} FROM marts.{name}").fetchall()


def _canonical(v: Any, type_: str) -> Any:
    """Expected values as the mart returns them: DECIMAL columns compare as exact Decimals."""
    if v is None:
        return None
    if type_.startswith("DECIMAL"):
        return Decimal(str(v))
    if type_ == "DATE" and isinstance(v, str):
        return date.fromisoformat(v)
    return v


def _sort_key(row: tuple) -> tuple:
    return tuple((x is None, str(x)) for x in row)


def run_case(con: duckdb.DuckDBPyConnection, name: str, case: dict) -> tuple[list[tuple], list[tuple]]:
    """(actual, expected) rows of mart `name` for one case, on the columns the case names, sorted."""
    assert name in MART_NAMES, name
    load_given(con, case.get("given", {}))
    build_marts(con, case["as_of"])
    types = {c["name"]: c["type"] for c in mart_doc(name)["columns"]}
    expected_rows = case["expected"]
    columns = list(expected_rows[0]) if expected_rows else ["pilot_id"]
    assert all(list(r) == columns for r in expected_rows), f"{case['name']}: every expected row names the same columns"
    expected = [tuple(_canonical(r[c], types[c]) for c in columns) for r in expected_rows]
    actual = read_mart(con, name, columns)
    return sorted(actual, key=_sort_key), sorted(expected, key=_sort_key)


def built_warehouse(given: Mapping[str, Iterable[Mapping]], as_of: date) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory warehouse holding `given`, with the marts built as of `as_of`."""
    from warehouse.db import connect

    con = connect(":memory:")
    load_given(con, given)
    build_marts(con, as_of)
    return con
