"""Bounded memory of the nightly job (issue 22 item 4): what the job keeps while it runs.

Peak RSS itself is measured by the bench (`python -m bench.run --pilots 100 --memory-only`),
not here; these tests pin the causes that were found and fixed."""
from __future__ import annotations

import gc
import tracemalloc
from decimal import Decimal

import pytest

from flows.nightly import JOB_MEMORY_LIMIT_ENV, StatusesOnly, limit_memory
from pilots.ingest import FileOutcome
from warehouse import store
from warehouse.db import connect, transaction
from warehouse.stages import STAGE_LOG_ENV, read_peak_log, stage

BATCHES, LINES = 8, 5000  # 40,000 budget lines: about a twentieth of a national night's


def _lines(batch: int) -> list[dict]:
    return [{"pilot_id": f"PLT-2548-{i % 400:03d}", "agency_code": f"{10000 + i % 300}", "period": "2548-Q1",
             "fiscal_year": 2548, "quarter": 1, "activity_code": f"ACT-{i}", "layer": 1 + i % 3,
             "funding_source": "own", "allocated_thb": Decimal("1000000.50"), "disbursed_thb": Decimal("250000.25"),
             "note": "จัดซื้อครุภัณฑ์คอมพิวเตอร์", "submission_id": batch * 1000 + i // 50, "row_number": i % 50}
            for i in range(LINES)]


def test_batches_written_in_one_open_transaction_are_not_kept_in_python(tmp_path):
    """Each batch's rows went in through a view registered in the run's transaction: DuckDB kept
    the view, and its frame, until the commit (about 25 MB per 50,000 lines, 1.7 GiB at 400 pilots).
    Now what Python holds after a batch does not grow with the batches written."""
    con = connect(tmp_path / "wh.duckdb")
    try:
        with transaction(con):
            store.write_lines(con, [], _lines(0))  # warm: the column types, DuckDB's first allocations
            gc.collect()
            tracemalloc.start()
            try:
                for batch in range(1, BATCHES + 1):
                    store.write_lines(con, [], _lines(batch))
                gc.collect()
                kept = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            # One batch's frame is about 4 MB of Python objects; eight of them kept would be ~30 MB.
            assert kept < 2_000_000, f"{kept:,} bytes still held by Python after {BATCHES} batches"
            assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name = '_rows'"
                               ).fetchall() == [(0,)]
        total = con.execute("SELECT count(*), sum(allocated_thb) FROM core.budget_lines").fetchall()
        assert total == [((BATCHES + 1) * LINES, Decimal("1000000.50") * (BATCHES + 1) * LINES)]
    finally:
        con.close()


def test_a_rolled_back_job_leaves_no_row_of_its_batches(tmp_path):
    con = connect(tmp_path / "wh.duckdb")
    try:
        with pytest.raises(RuntimeError), transaction(con):
            for batch in range(3):
                store.write_lines(con, [], _lines(batch))
            raise RuntimeError("killed between two batches")
        assert con.execute("SELECT count(*) FROM core.budget_lines").fetchall() == [(0,)]
    finally:
        con.close()


def test_supersede_marks_and_removes_without_a_registered_frame(warehouse):
    rows = [{"submission_id": sid, "sha256": f"{sid:064d}", "file_name": f"f{sid}.csv", "status": "accepted",
             "run_id": "r1", "received_at": "2006-08-01 09:00:00", "size_bytes": 10,
             "error_count": 0, "warning_count": 0, "evidence_kept": True} for sid in (1, 2, 3, 4)]
    store.write_submissions(warehouse, rows)
    store.write_lines(warehouse, [], [{**line, "submission_id": 1 + i % 2} for i, line in enumerate(_lines(0)[:4])])
    store.supersede(warehouse, {1: 3, 2: 4}, run_id="r2", changed_at="2006-08-02 09:00:00")
    assert warehouse.execute("SELECT submission_id, status, superseded_by FROM ingest.submissions ORDER BY 1"
                             ).fetchall() == [(1, "superseded", 3), (2, "superseded", 4), (3, "accepted", None),
                                              (4, "accepted", None)]
    assert warehouse.execute("SELECT count(*) FROM core.budget_lines").fetchall() == [(0,)]
    assert warehouse.execute("SELECT submission_id, status_before, status_after, related_submission_id FROM "
                             "ingest.status_changes WHERE reason = 'replaced' ORDER BY 1"
                             ).fetchall() == [(1, "accepted", "superseded", 3), (2, "accepted", "superseded", 4)]


def test_a_night_keeps_one_status_per_file_in_order():
    kept = StatusesOnly()
    for status in ("accepted", "duplicate", "quarantined", "accepted", "held", "superseded"):
        kept.append(FileOutcome("a.csv", "0" * 64, status, issues=[]))
    assert len(kept) == 6
    assert kept.statuses() == ["accepted", "duplicate", "quarantined", "accepted", "held", "superseded"]
    with pytest.raises(ValueError):
        kept.append(FileOutcome("b.csv", "1" * 64, "rejected"))  # a night never decides a rejection


def test_the_jobs_duckdb_memory_limit(warehouse, monkeypatch):
    monkeypatch.delenv(JOB_MEMORY_LIMIT_ENV, raising=False)
    limit_memory(warehouse)
    # 256 MB (10^6 bytes) is 244.1 MiB as DuckDB prints it
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("244.1 MiB",)]
    monkeypatch.setenv(JOB_MEMORY_LIMIT_ENV, "1GB")
    limit_memory(warehouse)
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("953.6 MiB",)]


def test_each_stage_logs_the_peak_memory_when_it_ended(tmp_path, monkeypatch):
    log = tmp_path / "stages.log"
    monkeypatch.setenv(STAGE_LOG_ENV, str(log))
    with stage("read"):
        block = bytearray(64 << 20)  # 64 MiB touched: the high-water mark rises by about that
        block[::4096] = b"x" * len(block[::4096])
    peaks = read_peak_log(log.read_text(encoding="utf-8"))
    assert set(peaks) == {"read"} and peaks["read"] >= 64
    assert read_peak_log("peak read 100.5\npeak read 90\nstage read 2\npeak write 120\n") == {"read": 100.5,
                                                                                              "write": 120.0}
