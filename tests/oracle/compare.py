"""The real marts against tests/oracle/reference.py, cell by cell, and in the right store."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from tests.oracle.reference import (Inputs, _stores, compute, core_lines_not_accepted, load,
                                    resubmission_rule_breaks)

KEYS = {
    "due_periods": ("pilot_id", "period"),
    "budget_snapshot": ("pilot_id", "period", "agency_code", "activity_code", "funding_source"),
    "kpi_outlier_checks": ("pilot_id", "kpi_code", "period"),
    "kpi_scores": ("pilot_id", "kpi_code", "period"),
    "pilot_scores": ("pilot_id", "period"),
    "budget_integration": ("pilot_id", "period"),
    "budget_integration_by_layer": ("pilot_id", "period", "layer"),
    "reporting_compliance": ("pilot_id", "agency_code", "period"),
    "reminders": ("agency_code", "pilot_id", "period"),
    "kpi_outliers": ("pilot_id", "kpi_code", "period"),
}
# Marts whose restricted pilots' rows live only in the restricted store (warehouse.md).
LINE_LEVEL = ("kpi_scores", "budget_snapshot", "budget_integration", "budget_integration_by_layer",
              "kpi_outlier_checks", "kpi_outliers")
# Marts the open side holds for every pilot.
# (due_periods: from registry.pilots' dates alone, kept open for every pilot: warehouse/restricted.py KEEP_OPEN.)
OPEN_FOR_ALL = ("due_periods", "pilot_scores", "reporting_compliance", "reminders")


def _read_marts(path: Path) -> dict[str, list[dict]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for name in KEYS:
            cursor = con.execute(f"SELECT * FROM marts.{name}")
            cols = [d[0] for d in cursor.description]
            out[name] = [dict(zip(cols, row)) for row in cursor.fetchall()]
        return out
    finally:
        con.close()


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    return a == b


def differences(warehouse: Path, as_of: date) -> list[str]:
    """Every disagreement between the marts and the reference, as readable lines."""
    inputs: Inputs = load(warehouse, as_of)
    expected = compute(inputs)
    restricted = {p["pilot_id"] for p in inputs.pilots if p["classification"] == "restricted"}
    problems = [f"core line of a submission that is not accepted: {x}" for x in core_lines_not_accepted(inputs)]
    problems += [f"ingest.submissions {x}" for x in resubmission_rule_breaks(inputs)]
    stores = _stores(warehouse)
    real_by_store = {path: _read_marts(path) for path in stores}
    for name, key in KEYS.items():
        want = {tuple(r[c] for c in key): r for r in expected[name]}
        got: dict[tuple, dict] = {}
        for path, marts in real_by_store.items():
            is_open = path == stores[0]
            for row in marts[name]:
                k = tuple(row[c] for c in key)
                if name in LINE_LEVEL and is_open and row["pilot_id"] in restricted:
                    problems.append(f"{name} {k}: a restricted pilot's row in the open warehouse")
                if not is_open and row["pilot_id"] not in restricted:
                    problems.append(f"{name} {k}: an open pilot's row in the restricted store")
                if name in OPEN_FOR_ALL and not is_open:
                    continue  # the open side's copy is the one compared
                if k in got:
                    problems.append(f"{name} {k}: two rows")
                got[k] = row
        for k in sorted(want.keys() - got.keys(), key=str):
            problems.append(f"{name} {k}: missing (expected {_public(want[k])})")
        for k in sorted(got.keys() - want.keys(), key=str):
            problems.append(f"{name} {k}: unexpected row {_public(got[k])}")
        for k in sorted(want.keys() & got.keys(), key=str):
            for col, value in _public(want[k]).items():
                if col not in got[k]:
                    problems.append(f"{name} {k}: no column {col}")
                elif not _same(value, got[k][col]):
                    problems.append(f"{name} {k} {col}: mart {got[k][col]!r}, reference {value!r}")
    return problems


def _public(row: dict) -> dict:
    """The row without the reference's private helper columns (a leading underscore)."""
    return {c: v for c, v in row.items() if not c.startswith("_")}
