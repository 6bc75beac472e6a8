"""Every row written to the warehouse goes through this module.

Each function writes to the connection it is given: pilots/ingest.py routes a restricted pilot's
rows to the restricted store's connection (warehouse/restricted.py), every other row to the open
warehouse. Callers run inside warehouse.db.transaction, so a batch is written whole or not at all.

Every status a submission takes is also a row of ingest.status_changes, written here by the same
function, in the same transaction, as the status itself (the audit trail, migration 0009):
tests/test_audit_trail.py checks that each `UPDATE ingest.` below sits beside such a write.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Iterable, Mapping, Sequence, Union

import duckdb

from warehouse.personal import masked, printable

REGISTRY_TABLES = (
    "registry.agencies",
    "registry.pilots",
    "registry.pilot_agencies",
    "registry.kpis",
    "registry.kpi_thresholds",
    "registry.strategies",
    "registry.secretariat",
)

SUBMISSION_COLUMNS = (
    "submission_id", "sha256", "file_name", "format", "encoding", "size_bytes", "received_at",
    "run_id", "pilot_id", "agency_code", "period", "submitted_on", "status", "superseded_by",
    "duplicate_of", "error_count", "warning_count", "reprocess_of",
    "evidence_kept",
    "raw_pilot_id", "raw_agency_code", "raw_period", "raw_submitted_on",
)
ISSUE_COLUMNS = ("submission_id", "row_number", "column_name", "code", "severity", "message_en", "message_th")
KPI_COLUMNS = ("pilot_id", "agency_code", "kpi_code", "period", "fiscal_year", "quarter", "actual", "note",
               "submission_id", "row_number")
CHANGE_COLUMNS = ("change_id", "submission_id", "status_before", "status_after", "reason", "related_submission_id",
                  "run_id", "decision_id", "changed_at")
# Text that comes from an agency, or may quote it (a file name in an error): national ID
# numbers are masked again here, the last step before the warehouse, whatever the caller did.
# (Not every text column: a SHA-256 in hex may hold 13 digits in a row.)
AGENCY_TEXT_COLUMNS = frozenset({
    "file_name", "raw_pilot_id", "raw_agency_code", "raw_period", "raw_submitted_on", "message_en", "message_th",
    "note", "kpi_code", "activity_code", "pilot_id"})
BUDGET_COLUMNS = ("pilot_id", "agency_code", "period", "fiscal_year", "quarter", "activity_code", "layer",
                  "funding_source", "allocated_thb", "disbursed_thb", "note", "submission_id", "row_number")


@dataclass(frozen=True)
class Columns:
    """Rows given column by column (each column's values in row order, `length` rows; a column
    not given is NULL), which _insert takes as it takes dict rows: pilots/ingest.py builds a
    batch's lines so, not a dict per line."""
    values: Mapping[str, Sequence]
    length: int

    def __len__(self) -> int:
        return self.length


Rows = Union[Iterable[Mapping], Columns]


def _text_if_decimal(value: object) -> object:
    return format(value, "f") if isinstance(value, Decimal) else value  # positional: never an exponent


def _column(rows: list[Mapping] | Columns, name: str, mask: bool) -> list:
    """One column of the rows (dicts or Columns), as _insert sends it: a missing key is NULL;
    Decimals as text (DuckDB types an object column of Decimals from a sample of its rows, and a wider value
    outside the sample fails the cast: the national registry's 11e9 baht); agency text with
    national IDs masked when `mask`. A night's lines repeat their pilot, codes and notes, so each
    distinct text is masked once (masking is a pure function of the text)."""
    if isinstance(rows, Columns):
        values = rows.values.get(name, [None] * len(rows))  # not changed in place below: new lists are made
    else:
        try:
            values = list(map(itemgetter(name), rows))
        except KeyError:  # some row lacks it
            values = [r.get(name) for r in rows]
    kinds = set(map(type, values))
    if any(issubclass(kind, Decimal) for kind in kinds):
        values = [_text_if_decimal(v) for v in values]
    if mask and any(issubclass(kind, (str, Decimal)) for kind in kinds):
        shown = {v: masked(v) for v in set(values) if isinstance(v, str)}
        if any(v != text for v, text in shown.items()):  # rare: most texts hold no ID
            values = [shown[v] if isinstance(v, str) else v for v in values]
    return values


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Rows) -> int:
    """Insert dict rows (or Columns) through one pandas frame (executemany is slow in DuckDB).

    Values arrive as text where exactness matters (amounts, actuals): the INSERT casts them to
    the column's DECIMAL type, so no binary floating point sits in between.
    Everything goes through `con` itself: a DuckDB cursor is a separate connection that would
    commit outside the run's transaction.
    """
    rows = rows if isinstance(rows, (list, Columns)) else list(rows)
    if not len(rows):
        return 0
    import numpy as np  # here, not at the top: a night that inserts nothing never pays for them
    import pandas as pd

    types = _column_types(con, table, columns)
    mask = set() if table.startswith("registry.") else AGENCY_TEXT_COLUMNS  # the registry is the committee's own text
    # Built column by column (a frame from one dict per row cost more than the insert itself), each
    # an object array the frame takes as it is (from lists, pandas looks at every value again);
    # fromiter keeps a list value (registry.pilots.strategies) one value.
    frame = pd.DataFrame({c: np.fromiter(_column(rows, c, c in mask), dtype=object, count=len(rows)) for c in columns},
                         columns=list(columns), dtype=object, copy=False)
    # A relation over the frame, not con.register(): a view registered inside the run's open
    # transaction stays in its undo log, with its frame, until the commit, so a night held every
    # batch's rows (about 25 MB per 50,000 lines) until the end (bench/results: 1.7 GiB at 400 pilots).
    select = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in columns)
    con.from_df(frame).query("_rows", f'INSERT INTO {table} ({", ".join(columns)}) SELECT {select} FROM _rows')
    return len(frame)


_TYPES: dict[str, dict[str, str]] = {}


def _column_types(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str] = ()) -> dict[str, str]:
    """A table's column types, looked up once per process: every warehouse this code opens has
    every migration applied (warehouse.db.connect), so a table's types are the same in each.
    (Asked per call, information_schema cost more than the insert of a small batch.)"""
    types = _TYPES.get(table)
    if not types or not set(columns) <= types.keys():  # a test may open an older schema first
        types = _TYPES[table] = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            list(table.split(".")),
        ).fetchall())
    return types


def replace_registry(con: duckdb.DuckDBPyConnection, rows_by_table: Mapping[str, list[dict]]) -> None:
    """The registry is rewritten whole each run: it is what the committee decided today."""
    for table in REGISTRY_TABLES:
        con.execute(f"DELETE FROM {table}")
        rows = rows_by_table.get(table, [])
        if rows:
            _insert(con, table, list(rows[0].keys()), rows)


def next_submission_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(submission_id), 0) + 1 FROM ingest.submissions").fetchone()[0]


def _next_change_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(change_id), 0) + 1 FROM ingest.status_changes").fetchall()[0][0]


def _record_changes(con: duckdb.DuckDBPyConnection, changes: list[dict]) -> None:
    """Append status changes, numbered in the order given (one job writes at a time: the run lock)."""
    first = _next_change_id(con)
    _insert(con, "ingest.status_changes", CHANGE_COLUMNS,
            [{**change, "change_id": first + n} for n, change in enumerate(changes)])


def _record_update(con: duckdb.DuckDBPyConnection, ids_sql: str, params: list, status_after: str, reason: str,
                   related_sql: str, run_id: str, changed_at: datetime, decision_id: int | None) -> None:
    """The change rows of an UPDATE about to run: status_before is read from ingest.submissions,
    so call this just before the UPDATE. ids_sql selects (submission_id, related) pairs."""
    con.execute(
        "INSERT INTO ingest.status_changes (change_id, submission_id, status_before, status_after, reason, "
        "related_submission_id, run_id, decision_id, changed_at) "
        f"SELECT ? + row_number() OVER (ORDER BY s.submission_id) - 1, s.submission_id, s.status, ?, ?, {related_sql}, "
        f"?, ?, ? FROM ingest.submissions s JOIN ({ids_sql}) c ON c.submission_id = s.submission_id",
        [_next_change_id(con), status_after, reason, run_id, decision_id, changed_at, *params])


def write_submissions(con: duckdb.DuckDBPyConnection, rows: list[dict], *, changed_at: datetime | None = None) -> None:
    """New submissions, each with its first status change (reason received, or reprocess for a
    quarantined file re-read: the replayed submission then gets a `reprocessed` row, its status
    unchanged). changed_at defaults to each row's received_at: a file's first status is decided
    when it is received; a reprocess passes its own time, its row keeping the original receipt."""
    _insert(con, "ingest.submissions", SUBMISSION_COLUMNS, rows)
    replayed = [row["reprocess_of"] for row in rows if row.get("reprocess_of") is not None]
    before = dict(con.execute("SELECT submission_id, status FROM ingest.submissions WHERE list_contains(?, submission_id)",
                              [replayed]).fetchall()) if replayed else {}
    changes = []
    for row in rows:
        at = changed_at or row["received_at"]
        old = row.get("reprocess_of")
        related = row.get("duplicate_of") or row.get("superseded_by") or old
        changes.append({"submission_id": row["submission_id"], "status_before": None, "status_after": row["status"],
                        "reason": "received" if old is None else "reprocess", "related_submission_id": related,
                        "run_id": row["run_id"], "changed_at": at})
        if old is not None:
            changes.append({"submission_id": old, "status_before": before[old], "status_after": before[old],
                            "reason": "reprocessed", "related_submission_id": row["submission_id"],
                            "run_id": row["run_id"], "changed_at": at})
    _record_changes(con, changes)


def write_issues(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    _insert(con, "ingest.issues", ISSUE_COLUMNS, rows)


def write_lines(con: duckdb.DuckDBPyConnection, kpi_rows: Rows, budget_rows: Rows) -> None:
    """Accepted line-level rows (of one store: the caller routes restricted pilots' rows)."""
    _insert(con, "core.kpi_actuals", KPI_COLUMNS, kpi_rows)
    _insert(con, "core.budget_lines", BUDGET_COLUMNS, budget_rows)


def write_held_lines(con: duckdb.DuckDBPyConnection, kpi_rows: Rows, budget_rows: Rows) -> None:
    """Lines of files held for a closed quarter: stored, but outside core.*, so no mart sees them.
    Routed like write_lines' rows."""
    _insert(con, "ingest.held_kpi_actuals", KPI_COLUMNS, kpi_rows)
    _insert(con, "ingest.held_budget_lines", BUDGET_COLUMNS, budget_rows)


def accept_held(con: duckdb.DuckDBPyConnection, submission_id: int, *, run_id: str, changed_at: datetime,
                decision_id: int) -> None:
    """An approved held file becomes accepted: its held lines are copied into core.* (the held
    copy stays, as received)."""
    _record_update(con, "SELECT ?::BIGINT AS submission_id", [submission_id], "accepted", "approved", "NULL",
                   run_id, changed_at, decision_id)
    con.execute("UPDATE ingest.submissions SET status = 'accepted' WHERE submission_id = ?", [submission_id])
    for held, core in (("ingest.held_kpi_actuals", "core.kpi_actuals"), ("ingest.held_budget_lines", "core.budget_lines")):
        con.execute(f"INSERT INTO {core} BY NAME SELECT * FROM {held} WHERE submission_id = ?", [submission_id])


def set_status(con: duckdb.DuckDBPyConnection, submission_id: int, status: str,
               superseded_by: int | None = None, *, reason: str, run_id: str, changed_at: datetime,
               decision_id: int | None = None) -> None:
    """A held file decided without reaching core.*: superseded (by a later accepted one) or rejected."""
    _record_update(con, "SELECT ?::BIGINT AS submission_id, ?::BIGINT AS related", [submission_id, superseded_by],
                   status, reason, "c.related", run_id, changed_at, decision_id)
    con.execute("UPDATE ingest.submissions SET status = ?, superseded_by = ? WHERE submission_id = ?",
                [status, superseded_by, submission_id])


def record_decision(con: duckdb.DuckDBPyConnection, decided_at: datetime, decided_by: str, action: str,
                    pilot_id: str, period: str, run_id: str, *, submission_id: int | None = None,
                    note: str | None = None, status_after: str | None = None, decision_id: int | None = None) -> int:
    """decision_id: the caller's number when decisions are numbered over both stores (pilots/approval.py)."""
    if decision_id is None:
        decision_id = con.execute("SELECT coalesce(max(decision_id), 0) + 1 FROM approval.decisions").fetchall()[0][0]
    con.execute("INSERT INTO approval.decisions (decision_id, decided_at, decided_by, action, pilot_id, period, "
                "submission_id, note, status_after, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [decision_id, decided_at, decided_by, action, pilot_id, period, submission_id, note, status_after,
                 run_id])
    return decision_id


def close_quarter(con: duckdb.DuckDBPyConnection, pilot_id: str, period: str, closed_at: datetime, closed_by: str,
                  note: str | None, composite: object, status: str, run_id: str) -> None:
    con.execute("INSERT INTO approval.quarter_closures (pilot_id, period, closed_at, closed_by, note, "
                "composite_at_closing, status_at_closing, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [pilot_id, period, closed_at, closed_by, note, composite, status, run_id])


def reopen_quarter(con: duckdb.DuckDBPyConnection, pilot_id: str, period: str, reopened_at: datetime,
                   reopened_by: str, reason: str) -> None:
    """End the open closure of (pilot, period); its row stays, with who reopened it and why."""
    con.execute("UPDATE approval.quarter_closures SET reopened_at = ?, reopened_by = ?, reopen_reason = ? "
                "WHERE pilot_id = ? AND period = ? AND reopened_at IS NULL",
                [reopened_at, reopened_by, reason, pilot_id, period])


def supersede(con: duckdb.DuckDBPyConnection, replaced: Mapping[int, int], *, run_id: str, changed_at: datetime,
              decision_id: int | None = None) -> None:
    """Mark accepted submissions as superseded by newer ones and take their lines out of core.*.

    The submission row and the file's bytes stay as history; core.* holds accepted lines only.
    """
    if not replaced:
        return
    # The pairs as list parameters, not a registered frame (see _insert: no view in the open transaction).
    pairs = "SELECT unnest(?::BIGINT[]) AS old_id, unnest(?::BIGINT[]) AS new_id"
    olds, news = list(replaced), list(replaced.values())
    _record_update(con, f"SELECT old_id AS submission_id, new_id FROM ({pairs})", [olds, news], "superseded",
                   "replaced", "c.new_id", run_id, changed_at, decision_id)
    con.execute(
        "UPDATE ingest.submissions s SET status = 'superseded', superseded_by = r.new_id "
        f"FROM ({pairs}) r WHERE s.submission_id = r.old_id", [olds, news]
    )
    for table in ("core.kpi_actuals", "core.budget_lines"):  # IN: a join DuckDB plans, not a list scan per line
        con.execute(f"DELETE FROM {table} WHERE submission_id IN (SELECT unnest(?::BIGINT[]))", [olds])


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, started_at: datetime, as_of: date,
              registry_sha256: str, software_version: str, kind: str = "run") -> None:
    con.execute(
        "INSERT INTO ops.runs (run_id, started_at, as_of, status, registry_sha256, software_version, kind) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
        [run_id, started_at, as_of, registry_sha256, software_version, kind],
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, finished_at: datetime, status: str,
               counts: Mapping[str, int], error: str | None = None, skipped_unsettled: int = 0,
               failed_steps: Sequence[str] = ()) -> None:
    con.execute(
        "UPDATE ops.runs SET finished_at = ?, status = ?, files_seen = ?, accepted = ?, superseded = ?, "
        "quarantined = ?, duplicates = ?, held = ?, error = ?, skipped_unsettled = ?, failed_steps = ?, "
        "duration_seconds = round(epoch(?::TIMESTAMP) - epoch(started_at), 3) WHERE run_id = ?",
        [finished_at, status, counts.get("files_seen", 0), counts.get("accepted", 0), counts.get("superseded", 0),
         counts.get("quarantined", 0), counts.get("duplicates", 0), counts.get("held", 0), _error_text(error),
         skipped_unsettled,
         ",".join(failed_steps) or None, finished_at, run_id],
    )


def record_state(con: duckdb.DuckDBPyConnection, run_id: str, state: str) -> None:
    """The fingerprint of the data the job commits (kpis/fingerprint.py): a night whose state
    equals the last one's changed nothing."""
    con.execute("UPDATE ops.runs SET state_sha256 = ? WHERE run_id = ?", [state, run_id])


def record_skipped(con: duckdb.DuckDBPyConnection, run_id: str, skipped: Sequence[str]) -> None:
    """Steps after the commit skipped because what they show had not changed (flows/cheap.py)."""
    con.execute("UPDATE ops.runs SET skipped_steps = ? WHERE run_id = ?", [",".join(skipped) or None, run_id])


# Steps after a job's commit (ops.runs.failed_steps), in the order the job runs them.
POST_COMMIT_STEPS = ("validation_report", "summaries", "artifact", "letters", "file_away", "publish")


def record_post_commit(con: duckdb.DuckDBPyConnection, run_id: str, finished_at: datetime,
                       failed: Mapping[str, str]) -> None:
    """The outcome of the steps after the commit: succeeded, or committed_with_errors with the
    steps not done and the first error. (The commit itself recorded every step as not done yet,
    so a job killed after its commit is seen as unfinished.)"""
    con.execute(
        "UPDATE ops.runs SET status = ?, failed_steps = ?, error = ?, finished_at = ?, "
        "duration_seconds = round(epoch(?::TIMESTAMP) - epoch(started_at), 3) WHERE run_id = ?",
        ["committed_with_errors" if failed else "succeeded", ",".join(failed) or None,
         _error_text(next(iter(failed.values()), None)), finished_at, finished_at, run_id],
    )


def _error_text(error: str | None) -> str | None:
    """ops.runs.error as stored: national IDs masked, and the agencies' text in it (file names,
    values) made visible as the CLI prints it (warehouse.personal.printable): operators read it
    with `pilotkpi sql`, on a terminal, so no escape sequence, line break or right-to-left
    override is stored raw. (ingest.submissions.file_name keeps the name as sent.)"""
    return None if error is None else printable(error)


def run_issue_count(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The defects (errors and warnings) recorded for the files of one run."""
    return con.execute("SELECT count(*) FROM ingest.issues i JOIN ingest.submissions s USING (submission_id) "
                       "WHERE s.run_id = ?", [run_id]).fetchall()[0][0]


def unfinished_runs(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Committed jobs whose failed steps no later job has completed: run_id -> failed steps."""
    return {run_id: (steps or "").split(",") for run_id, steps in con.execute(
        "SELECT run_id, failed_steps FROM ops.runs WHERE status = 'committed_with_errors' "
        "AND completed_at IS NULL ORDER BY started_at").fetchall()}


def unfiled_files(con: duckdb.DuckDBPyConnection,
                  submissions_con: duckdb.DuckDBPyConnection | None = None) -> dict[tuple[str, str], str]:
    """(file name, sha256) -> status of the files that committed runs recorded but did not file away.

    The next run files these away instead of recording them again as duplicates. The runs are in
    `con` (the open warehouse); the submissions in `submissions_con` if given (the restricted store).
    """
    unfinished = [r for r, steps in unfinished_runs(con).items() if "file_away" in steps]
    if not unfinished:
        return {}
    return {(name, sha): status for name, sha, status in (submissions_con or con).execute(
        "SELECT file_name, sha256, status FROM ingest.submissions WHERE list_contains(?, run_id)",
        [unfinished]).fetchall()}


def complete_runs(con: duckdb.DuckDBPyConnection, steps_done: set[str], by: str, at: datetime) -> list[str]:
    """Mark the unfinished runs whose every failed step is in steps_done as completed by `by`."""
    done = [r for r, steps in unfinished_runs(con).items() if r != by and set(steps) <= steps_done]
    for run_id in done:
        con.execute("UPDATE ops.runs SET completed_at = ?, completed_by = ? WHERE run_id = ?", [at, by, run_id])
    return done


def uncomplete_runs(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> None:
    """Undo complete_runs (its job's publishing failed after all)."""
    for run_id in run_ids:
        con.execute("UPDATE ops.runs SET completed_at = NULL, completed_by = NULL WHERE run_id = ?", [run_id])
