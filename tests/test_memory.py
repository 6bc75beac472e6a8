"""Bounded memory of the nightly job (issue 22 item 4): what the job keeps while it runs.

Peak RSS itself is measured by the bench (`python -m bench.run --pilots 100 --memory-only`),
not here; these tests pin the causes that were found and fixed."""
from __future__ import annotations

import gc
import os
import stat
import subprocess
import sys
import time
import tracemalloc
from decimal import Decimal

import duckdb
import pytest

from flows.nightly import StatusesOnly
from pilots.ingest import FileOutcome
from warehouse import store
from warehouse.db import (INGEST_MEMORY_LIMIT_ENV, JOB_MEMORY_LIMIT_ENV, connect, limit_memory, memory_for_queries,
                          transaction, writing_limit_bytes)
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


def test_the_jobs_duckdb_memory_limits(warehouse, monkeypatch):
    """64 MB while the job writes, 96 MB for its marts and outputs; each settable."""
    monkeypatch.delenv(JOB_MEMORY_LIMIT_ENV, raising=False)
    monkeypatch.delenv(INGEST_MEMORY_LIMIT_ENV, raising=False)
    limit_memory(warehouse)
    # 64 MB (10^6 bytes) is 61.0 MiB as DuckDB prints it, 96 MB 91.5 MiB
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("61.0 MiB",)]
    memory_for_queries(warehouse)
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("91.5 MiB",)]
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "32MB")
    monkeypatch.setenv(JOB_MEMORY_LIMIT_ENV, "1GB")
    limit_memory(warehouse)
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("30.5 MiB",)]
    memory_for_queries(warehouse)
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


def _duckdb_memory(con) -> int:
    """Bytes of DuckDB's buffer-managed memory (the uncommitted rows among it)."""
    return con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0]


@pytest.mark.parametrize("commit", [True, False])
def test_a_jobs_uncommitted_rows_leave_memory_and_only_its_commit_makes_them_seen(tmp_path, monkeypatch, commit):
    """Under the writing limit DuckDB moves a job's uncommitted rows out of memory, so its memory
    stays under the limit however many batches come; another process sees none of them before
    the commit, and a rollback leaves none. Without the limit the same 120,000 lines stay in
    memory (the next test)."""
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "16MB")  # 15.2 MiB: a quarter of the default, for speed
    monkeypatch.delenv(JOB_MEMORY_LIMIT_ENV, raising=False)
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    con = limit_memory(connect(path))
    try:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("15.2 MiB",)]
        con.execute("BEGIN TRANSACTION")
        highest = 0
        for batch in range(24):  # 24 x 5,000 lines
            store.write_lines(con, [], _lines(batch))
            highest = max(highest, _duckdb_memory(con))
        assert highest <= 16_000_000, f"DuckDB held {highest:,} bytes"
        spill = tmp_path / "wh.duckdb.tmp"
        assert sum(p.stat().st_size for p in spill.glob(f"duckdb_temp_{os.getpid()}_*")) > 0
        assert stat.S_IMODE(spill.stat().st_mode) == 0o700  # agency data: the operator's alone
        # Another process opening the file sees the last commit only: no line of this job.
        seen = subprocess.run([sys.executable, "-c", _COUNT_LINES, str(path)], capture_output=True, text=True)
        assert "lock" in seen.stderr.lower() or seen.stdout.strip() == "0", seen
        memory_for_queries(con)  # the marts' limit, raised inside the open transaction
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("91.5 MiB",)]
        con.execute("COMMIT" if commit else "ROLLBACK")
    finally:
        con.close()
    reopened = duckdb.connect(str(path), read_only=True)
    try:
        lines = reopened.execute("SELECT count(*), count(DISTINCT submission_id) FROM core.budget_lines").fetchall()
    finally:
        reopened.close()
    assert lines == ([(120_000, 24 * 100)] if commit else [(0, 0)])


def test_a_job_removes_the_spilled_files_a_killed_job_left(tmp_path):
    spill = tmp_path / "wh.duckdb.tmp"
    spill.mkdir(mode=0o755)
    leftovers = [spill / "duckdb_temp_99999999_0_owner", spill / "duckdb_temp_99999999_0_storage_DEFAULT-0.tmp"]
    for path in leftovers:
        path.write_bytes(b"rows of a killed job")
    (spill / "notes.txt").write_text("not DuckDB's", encoding="utf-8")
    limit_memory(connect(tmp_path / "wh.duckdb")).close()
    assert sorted(p.name for p in spill.iterdir()) == ["notes.txt"]
    assert stat.S_IMODE(spill.stat().st_mode) == 0o700


def test_a_writing_limit_too_low_to_set_leaves_the_jobs_limit(tmp_path, monkeypatch):
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "1kB")
    monkeypatch.delenv(JOB_MEMORY_LIMIT_ENV, raising=False)
    con = limit_memory(connect(tmp_path / "wh.duckdb"))
    try:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("91.5 MiB",)]
    finally:
        con.close()


_COUNT_LINES = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                "print(c.execute('SELECT count(*) FROM core.budget_lines').fetchall()[0][0])")


def test_without_the_ingests_limit_the_same_rows_stay_in_memory(tmp_path):
    con = connect(tmp_path / "wh.duckdb")
    try:
        with transaction(con):
            for batch in range(24):
                store.write_lines(con, [], _lines(batch))
            assert _duckdb_memory(con) > 16_000_000
    finally:
        con.close()


def test_the_writing_limit_keeps_room_for_the_indexes_a_stores_history_adds(warehouse, monkeypatch):
    """DuckDB cannot spill its primary-key indexes: a store years old gets 256 bytes more room per
    submission and status change, so a night keeps the same room for its own rows."""
    monkeypatch.delenv(INGEST_MEMORY_LIMIT_ENV, raising=False)
    assert writing_limit_bytes(warehouse) == 64_000_000
    rows = [{"submission_id": sid, "sha256": f"{sid:064d}", "file_name": f"f{sid}.csv", "status": "accepted",
             "run_id": "r1", "received_at": "2006-08-01 09:00:00", "size_bytes": 10,
             "error_count": 0, "warning_count": 0, "evidence_kept": True} for sid in (1, 2, 3)]
    store.write_submissions(warehouse, rows)  # 3 submissions and their 3 first status changes
    assert writing_limit_bytes(warehouse) == 64_000_000 + 6 * 256
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "1 GiB")
    assert writing_limit_bytes(warehouse) == 2**30 + 6 * 256
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="PILOTKPI_DUCKDB_INGEST_MEMORY_LIMIT='lots': give a size"):
        writing_limit_bytes(warehouse)


def test_the_marts_limit_never_lowers_an_old_stores_writing_limit(warehouse, monkeypatch):
    monkeypatch.setenv(INGEST_MEMORY_LIMIT_ENV, "200MB")  # as a store with a long history would have
    monkeypatch.delenv(JOB_MEMORY_LIMIT_ENV, raising=False)
    limit_memory(warehouse)
    memory_for_queries(warehouse)
    assert warehouse.execute("SELECT current_setting('memory_limit')").fetchall() == [("190.7 MiB",)]


def test_the_benchs_sampler_gives_each_process_of_the_tree_its_own_peak(tmp_path):
    """bench/measure.py's Sampler: each process's peak by its role, and what each held when the
    whole tree peaked (the composition of the peak the national bench reports)."""
    from bench.measure import Sampler

    # The child holds its block until told (a file), after saying it holds it (another): waits on
    # the events, not fixed sleeps (until 2026-12-06: 2 s sampled, the tree alive 3 s).
    ready, release = tmp_path / "ready", tmp_path / "release"
    child = ("import os, pathlib, time  # spawn_main: as a Dask worker's command line reads\n"
             f"block = bytearray(48 << 20)\npathlib.Path({str(ready)!r}).touch()\n"
             f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.02)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys\n"
                               f"subprocess.run([sys.executable, '-c', {child!r}])"])
    try:
        sampler = Sampler(parent.pid, interval=0.05)
        deadline = time.monotonic() + 60
        while not ready.exists() and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        samples = len(sampler.curve)
        while len(sampler.curve) < samples + 3 and time.monotonic() < deadline:  # sampled holding it
            time.sleep(0.02)
        sampler.stop()
    finally:
        release.touch()
        parent.wait(timeout=60)
    assert set(sampler.peaks) == {"flow process", "dask worker"}
    assert sampler.peaks["dask worker"] >= 48  # its 48 MiB block, touched
    assert sampler.peaks["flow process"] < sampler.peaks["dask worker"]
    assert sum(sampler.at_tree_peak.values()) == pytest.approx(max(c[1] for c in sampler.curve), abs=0.2)


def test_the_benchs_sampler_counts_a_page_shared_by_forked_processes_once_in_its_pss_sum(tmp_path):
    """bench/measure.py's Sampler beside the RSS sum: a 64 MiB block written by a process, then
    shared copy-on-write with the child it forks (neither writes it again), is in both processes'
    RSS (128 MiB in the RSS sum) but in the PSS sum once (32 MiB in each process's PSS), and in
    neither's USS (their private pages)."""
    from bench.measure import Sampler

    ready, release = tmp_path / "ready", tmp_path / "release"
    script = ("import os, pathlib, time\nblock = bytearray(b'x') * (64 << 20)  # every page written\n"
              "child = os.fork()\n"
              f"if child:\n    pathlib.Path({str(ready)!r}).touch()\n"
              f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.02)\n"
              "if child:\n    os.waitpid(child, 0)\nelse:\n    os._exit(0)")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        sampler = Sampler(parent.pid, interval=0.05)
        while len(sampler.curve) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        sampler.stop()
    finally:
        release.touch()
        parent.wait(timeout=60)
    held = sampler.full_at_rss_peak
    assert set(held) == {"flow process", "other"}  # the child: a plain fork, no role of its own
    for role in held.values():
        assert role["rss"] >= 64 and role["uss"] < 16  # the block resident in each, private to neither
        assert role["pss"] == pytest.approx(role["uss"] + (role["rss"] - role["uss"]) / 2, abs=3)  # shared by 2
    figures = sampler.figures()
    # The block once less in the PSS sum (and half of the interpreter's own pages the two share)
    assert figures["peak_rss_tree_mib"] - figures["peak_pss_tree_mib"] >= 64 - 2
