"""Forward-only migrations: an older warehouse is upgraded in place by the next run, keeping its
data; a failed migration leaves the file as it was."""
from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from warehouse import migrate as migrate_module
from warehouse.db import connect
from warehouse.migrate import Migration, available_migrations, migrate


def versions(path) -> list[int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT version FROM ops.schema_migrations ORDER BY version").fetchall()]
    finally:
        con.close()


def make_old_warehouse(path) -> None:
    """A file as pilotkpi left it when only migration 0001 existed, with one earlier run in it."""
    con = duckdb.connect(str(path))
    migrate(con, target=1)
    con.execute("INSERT INTO ops.runs (run_id, started_at, finished_at, as_of, status, files_seen, accepted) "
                "VALUES ('old-run', TIMESTAMP '2005-01-31 02:00:00', TIMESTAMP '2005-01-31 02:01:00', "
                "DATE '2005-01-31', 'succeeded', 1, 1)")
    con.execute("INSERT INTO ingest.submissions (submission_id, sha256, file_name, format, size_bytes, received_at, run_id, "
                "status, error_count, warning_count) VALUES (1, 'aa', 'old.csv', 'csv', 10, "
                "TIMESTAMP '2005-01-31 02:00:30', 'old-run', 'quarantined', 1, 0)")
    con.close()


def test_an_older_warehouse_is_upgraded_in_place_by_the_next_run(tmp_path, prefect_harness):
    from tests.test_flow import make_scenario, run_cli

    make_old_warehouse(tmp_path / "wh.duckdb")
    assert versions(tmp_path / "wh.duckdb") == [1]
    registry, inbox = make_scenario(tmp_path)
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert versions(tmp_path / "wh.duckdb") == [m.version for m in available_migrations()] == list(range(1, 24))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        # The old rows are still there, and the columns added later are NULL or their default for them.
        assert con.execute("SELECT status, duration_seconds, kind FROM ops.runs WHERE run_id = 'old-run'"
                           ).fetchall() == [("succeeded", None, "run")]
        assert con.execute("SELECT file_name, reprocess_of FROM ingest.submissions WHERE submission_id = 1"
                           ).fetchall() == [("old.csv", None)]
        # The new run numbered its submissions after the old one and the catalogue is commented.
        assert con.execute("SELECT min(submission_id) FROM ingest.submissions WHERE run_id <> 'old-run'"
                           ).fetchone()[0] == 2
        assert con.execute("SELECT comment FROM duckdb_columns() WHERE schema_name = 'ops' AND table_name = 'runs' "
                           "AND column_name = 'kind'").fetchone()[0].startswith(
            "run, reprocess, rebuild, close, reopen, approve or reject; rebuild_new_restricted_store: ")  # 0008, 0022
        assert "in Bangkok" in con.execute(  # 0023: the Bangkok date of receipt
            "SELECT comment FROM duckdb_columns() WHERE schema_name = 'approval' AND table_name = 'restricted_held' "
            "AND column_name = 'received_on'").fetchone()[0]
        # 0009 started the audit trail with the old file's status; the run's own changes follow it.
        assert con.execute("SELECT change_id, status_before, status_after, reason, run_id, changed_at "
                           "FROM ingest.status_changes WHERE submission_id = 1").fetchall() == [
            (1, None, "quarantined", "migrated", "old-run", datetime(2005, 1, 31, 2, 0, 30))]
        assert con.execute("SELECT min(change_id), count(DISTINCT submission_id) FROM ingest.status_changes "
                           "WHERE run_id <> 'old-run'").fetchone() == (2, 6)  # make_scenario's 6 files
    finally:
        con.close()


def test_0009_backfills_one_status_row_per_existing_submission(tmp_path):
    """Each submission of a version-8 file gets one `migrated` row with its current status; a
    decided held file takes its decision's id, job and time."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        migrate(con, target=8)
        for sid, status, superseded_by, duplicate_of, run in (
                (1, "superseded", 3, None, "r1"), (2, "quarantined", None, None, "r1"),
                (3, "accepted", None, None, "r2"), (4, "duplicate", None, 3, "r2"), (5, "rejected", None, None, "r2")):
            con.execute("INSERT INTO ingest.submissions (submission_id, sha256, file_name, size_bytes, received_at, "
                        "run_id, status, superseded_by, duplicate_of, error_count, warning_count) "
                        "VALUES (?, 'aa', 'f.csv', 10, TIMESTAMP '2005-01-31 02:00:00' + INTERVAL (?) DAY, ?, ?, ?, ?, 0, 0)",
                        [sid, sid, run, status, superseded_by, duplicate_of])
        con.execute("INSERT INTO approval.decisions VALUES (1, TIMESTAMP '2005-05-16 09:00:00', 'Somchai', 'reject', "
                    "'PLT-2548-003', '2548-Q1', 5, 'wrong pilot', 'rejected', 'r3')")
        assert migrate(con) == [m.version for m in available_migrations() if m.version > 8]
        assert con.execute("SELECT * FROM ingest.status_changes ORDER BY change_id").fetchall() == [
            # change_id, submission, before, after, reason, related, run, decision, changed_at (received 31 Jan + id days)
            (1, 1, None, "superseded", "migrated", 3, "r1", None, datetime(2005, 2, 1, 2, 0)),
            (2, 2, None, "quarantined", "migrated", None, "r1", None, datetime(2005, 2, 2, 2, 0)),
            (3, 3, None, "accepted", "migrated", None, "r2", None, datetime(2005, 2, 3, 2, 0)),
            (4, 4, None, "duplicate", "migrated", 3, "r2", None, datetime(2005, 2, 4, 2, 0)),
            (5, 5, None, "rejected", "migrated", None, "r3", 1, datetime(2005, 5, 16, 9, 0)),
        ]
    finally:
        con.close()


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    before = versions(path)
    good = available_migrations()
    broken = Migration(len(good) + 1, "broken",
                       "CREATE TABLE ops.half_done (x INTEGER); ALTER TABLE ops.runs ADD COLUMN y INTEGER; "
                       "SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*good, broken])
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        connect(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert [r[0] for r in con.execute("SELECT version FROM ops.schema_migrations ORDER BY 1").fetchall()] == before
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half_done'").fetchone()[0] == 0
        assert "y" not in [r[0] for r in con.execute("DESCRIBE ops.runs").fetchall()]
    finally:
        con.close()
