"""Every row written to the warehouse goes through this module.

Keeping the writes in one place is what lets restricted pilots (classification: restricted)
later send their line-level rows to a segregated store: only `write_lines` would change.
Callers run inside warehouse.db.transaction, so a batch is written whole or not at all.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable, Mapping, Sequence

import duckdb
import pandas as pd

REGISTRY_TABLES = (
    "registry.agencies",
    "registry.pilots",
    "registry.pilot_agencies",
    "registry.kpis",
    "registry.kpi_thresholds",
)

SUBMISSION_COLUMNS = (
    "submission_id", "sha256", "file_name", "format", "encoding", "size_bytes", "received_at",
    "run_id", "pilot_id", "agency_code", "period", "submitted_on", "status", "superseded_by",
    "duplicate_of", "error_count", "warning_count", "reprocess_of",
    "raw_pilot_id", "raw_agency_code", "raw_period", "raw_submitted_on",
)
ISSUE_COLUMNS = ("submission_id", "row_number", "column_name", "code", "severity", "message_en", "message_th")
KPI_COLUMNS = ("pilot_id", "agency_code", "kpi_code", "period", "fiscal_year", "quarter", "actual", "note",
               "submission_id", "row_number")
BUDGET_COLUMNS = ("pilot_id", "agency_code", "period", "fiscal_year", "quarter", "activity_code", "layer",
                  "funding_source", "allocated_thb", "disbursed_thb", "note", "submission_id", "row_number")


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Iterable[Mapping]) -> int:
    """Insert dict rows through one pandas frame (executemany is slow in DuckDB).

    Values arrive as text where exactness matters (amounts, actuals): the INSERT casts them to
    the column's DECIMAL type, so no binary floating point sits in between.
    Everything goes through `con` itself: a DuckDB cursor is a separate connection that would
    commit outside the run's transaction.
    """
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=list(columns), dtype=object)
    if frame.empty:
        return 0
    con.register("_rows", frame)
    types = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        list(table.split(".")),
    ).fetchall())
    select = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in columns)
    con.execute(f'INSERT INTO {table} ({", ".join(columns)}) SELECT {select} FROM _rows')
    con.unregister("_rows")
    return len(frame)


def replace_registry(con: duckdb.DuckDBPyConnection, rows_by_table: Mapping[str, list[dict]]) -> None:
    """The registry is rewritten whole each run: it is what the committee decided today."""
    for table in REGISTRY_TABLES:
        con.execute(f"DELETE FROM {table}")
        rows = rows_by_table.get(table, [])
        if rows:
            _insert(con, table, list(rows[0].keys()), rows)


def next_submission_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(submission_id), 0) + 1 FROM ingest.submissions").fetchone()[0]


def write_submissions(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    _insert(con, "ingest.submissions", SUBMISSION_COLUMNS, rows)


def write_issues(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    _insert(con, "ingest.issues", ISSUE_COLUMNS, rows)


def write_lines(con: duckdb.DuckDBPyConnection, kpi_rows: list[dict], budget_rows: list[dict]) -> None:
    """Accepted line-level rows. The one place to route restricted pilots elsewhere later."""
    _insert(con, "core.kpi_actuals", KPI_COLUMNS, kpi_rows)
    _insert(con, "core.budget_lines", BUDGET_COLUMNS, budget_rows)


def supersede(con: duckdb.DuckDBPyConnection, replaced: Mapping[int, int]) -> None:
    """Mark accepted submissions as superseded by newer ones and take their lines out of core.*.

    The submission row and the file's bytes stay as history; core.* holds accepted lines only.
    """
    if not replaced:
        return
    frame = pd.DataFrame({"old_id": list(replaced), "new_id": list(replaced.values())})
    con.register("_replaced", frame)
    con.execute(
        "UPDATE ingest.submissions s SET status = 'superseded', superseded_by = r.new_id "
        "FROM _replaced r WHERE s.submission_id = r.old_id"
    )
    for table in ("core.kpi_actuals", "core.budget_lines"):
        con.execute(f"DELETE FROM {table} WHERE submission_id IN (SELECT old_id FROM _replaced)")
    con.unregister("_replaced")


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, started_at: datetime, as_of: date,
              registry_sha256: str, software_version: str, kind: str = "run") -> None:
    con.execute(
        "INSERT INTO ops.runs (run_id, started_at, as_of, status, registry_sha256, software_version, kind) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
        [run_id, started_at, as_of, registry_sha256, software_version, kind],
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, finished_at: datetime, status: str,
               counts: Mapping[str, int], error: str | None = None, skipped_unsettled: int = 0) -> None:
    con.execute(
        "UPDATE ops.runs SET finished_at = ?, status = ?, files_seen = ?, accepted = ?, superseded = ?, "
        "quarantined = ?, duplicates = ?, error = ?, skipped_unsettled = ?, "
        "duration_seconds = round(epoch(?::TIMESTAMP) - epoch(started_at), 3) WHERE run_id = ?",
        [finished_at, status, counts.get("files_seen", 0), counts.get("accepted", 0), counts.get("superseded", 0),
         counts.get("quarantined", 0), counts.get("duplicates", 0), error, skipped_unsettled, finished_at, run_id],
    )
