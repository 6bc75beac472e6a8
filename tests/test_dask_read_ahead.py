"""The read-ahead (flows/parallel.py, "Read-ahead"; flows/early.py): while Prefect's server
starts, the night's Dask worker reads the inbox's first chunks, before the night has received
anything. Whole nights through `pilotkpi run`:

- a read ahead is used, and each file is read once, when the night receives the very bytes it read;
- a file changed, removed or swapped for a symbolic link after the read-ahead read it is read (or
  refused) as received: the night writes what a night without read-ahead writes on that inbox;
- a job killed while the cluster starts and reads ahead leaves no process behind and the
  warehouse as it was; the next night writes what an uninterrupted one writes.

The server's start is made long enough for the reads (`slow_server`: the night begins once the
read-ahead's reads are done, as on a first night at national size), so what is read ahead is
known; the demo runs with `--batch-size 7` (4 chunks of 2, 2, 2, 1 files a batch) and the size
rule lowered to 100 files (PILOTKPI_DASK_MIN_FILES).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import distributed
import psutil
import pytest

from flows import early, parallel
from pilots import demo
from tests.support import SERIAL
from tests.test_dask_kill import FIRST_NIGHT, _comparable, night_paused_at, reference_and_first_night
from tests.test_dask_parsing import CHUNKS, _rows, _run, _stage_names, _statuses

BATCH = ("--batch-size", "7")


@pytest.fixture
def slow_server(monkeypatch):
    """The night starts once the read-ahead's reads are done; the callables appended to the list
    returned run then (changes to the inbox after the read-ahead read it)."""
    changes: list = []
    start = early.start

    def then_the_reads(*args):
        thread = start(*args)
        if thread is not None:
            thread.join(300)  # GE built, then the cluster started (unless the night reads in-process)
        if parallel._early is not None:
            ahead = parallel._early.ahead
            assert ahead.submitted.wait(300), "the cluster did not start"
            distributed.wait([guess.future for guess in ahead.guesses], timeout=300)
            for change in changes:
                change()
        return thread

    monkeypatch.setattr(early, "start", then_the_reads)
    monkeypatch.setenv(parallel.DASK_MIN_FILES_ENV, "100")
    return changes


def _night_without_read_ahead(root: Path, paths) -> dict:
    """The reference: the same inbox (copied to root/inbox) read in the flow process (no cluster)."""
    _run(paths.registry, root / "inbox", root, paths.as_of, "--workers", "0")
    return _rows(root / "w.duckdb")


@SERIAL  # a cluster of its own
def test_what_is_read_ahead_is_used_and_each_file_read_once(tmp_path, prefect_harness, slow_server, monkeypatch):
    paths = demo.write_demo(tmp_path / "night")
    shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox")
    reference = _night_without_read_ahead(tmp_path / "reference", paths)
    monkeypatch.setenv("PILOTKPI_STAGE_LOG", str(tmp_path / "stages.log"))
    _run(paths.registry, paths.inbox, tmp_path / "night", paths.as_of, *BATCH)

    stages = _stage_names(tmp_path / "stages.log")
    # The first READ_AHEAD_CHUNKS (10) chunks of the night, as it cuts them, were read ahead and
    # taken; the 65 others were read by the worker or here; no file read twice.
    assert parallel.READ_AHEAD_CHUNKS == 10 and stages.count("read_ahead") == 10
    assert stages.count("read") == CHUNKS
    assert sum(stages.count(name) for name in ("read_fetch", "read_wait", "read_here")) == CHUNKS - 10
    assert stages.count("dask_start") == 1
    night = _rows(tmp_path / "night" / "w.duckdb")
    assert len(_statuses(night)) == 130
    for table in ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines", "marts"):
        assert night[table] == reference[table], table


@SERIAL
def test_a_file_changed_removed_or_linked_after_the_read_ahead_is_taken_as_received(tmp_path, prefect_harness,
                                                                                   slow_server, monkeypatch):
    paths = demo.write_demo(tmp_path / "night")
    files = sorted(p for p in paths.inbox.iterdir() if p.is_file())
    changed, removed, linked, other = files[1], files[2], files[4], files[60]
    assert other.read_bytes() != changed.read_bytes()

    def change() -> None:  # all three within the first chunks read ahead (files 1-17)
        changed.write_bytes(other.read_bytes())  # now byte-identical to a later file
        removed.unlink()
        linked.unlink()
        linked.symlink_to(other)
        shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox", symlinks=True)  # the same inbox, later

    slow_server.append(change)
    monkeypatch.setenv("PILOTKPI_STAGE_LOG", str(tmp_path / "stages.log"))
    result = _run_output(paths, tmp_path / "night")
    assert "FILE_NOT_REGULAR" in result and linked.name in result  # the link is refused, not read

    reference = _night_without_read_ahead(tmp_path / "reference", paths)
    night = _rows(tmp_path / "night" / "w.duckdb")
    for table in ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines", "marts"):
        assert night[table] == reference[table], table
    columns = night["columns"]["ingest.submissions"]
    by_name = {row[columns.index("file_name")]: row for row in night["ingest.submissions"]}
    assert removed.name not in by_name and linked.name not in by_name and len(by_name) == 128
    # The changed file has the bytes it had when received: the later file of the same bytes is its duplicate.
    assert by_name[changed.name][columns.index("sha256")] == by_name[other.name][columns.index("sha256")]
    assert by_name[other.name][columns.index("status")] == "duplicate"
    stages = _stage_names(tmp_path / "stages.log")
    assert stages.count("read_ahead") >= 1 and "read_here" in stages  # the changed file, read again here


def _run_output(paths, root: Path) -> str:
    from click.testing import CliRunner

    from flows.cli import main

    result = CliRunner().invoke(main, ["run", "--registry", str(paths.registry), "--inbox", str(paths.inbox),
                                       "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"),
                                       "--as-of", paths.as_of.isoformat(), "--settle-seconds", "0", *BATCH])
    assert result.exit_code == 0, result.output
    return result.output


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone meanwhile, or a zombie (a process started and ended at once)
        return ""


@SERIAL  # a Prefect server and a cluster of its own, in a child process
def test_a_job_killed_while_its_cluster_reads_ahead_leaves_no_process_and_the_warehouse_old(tmp_path,
                                                                                            prefect_harness):
    reference, paths, before = reference_and_first_night(tmp_path)
    root = tmp_path / "killed"
    proc, marker = night_paused_at("server_start", paths, root)
    try:
        deadline = time.monotonic() + 300
        while True:  # paused before the server's wait, once a Dask worker runs (the cluster started early)
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never paused with a worker started"
            started = psutil.Process(proc.pid).children(recursive=True)
            commands = [_command(p) for p in started]
            if marker.exists() and any("spawn_main" in c for c in commands):
                break
            time.sleep(0.1)
        time.sleep(1)  # the worker reads ahead meanwhile
        os.kill(proc.pid, signal.SIGKILL)  # the job's process alone
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    gone, alive = psutil.wait_procs(started, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]  # the worker, the server, their watchdogs: all gone
    assert _comparable(_rows(root / "w.duckdb")) == before  # nothing recorded before the night's own receive
    assert len([p for p in paths.inbox.iterdir() if p.is_file()]) == 130 - FIRST_NIGHT  # nothing filed away

    _run(paths.registry, paths.inbox, root, paths.as_of)
    assert _comparable(_rows(root / "w.duckdb")) == reference


def test_the_read_ahead_opens_only_regular_files_within_the_size_limit(tmp_path, monkeypatch):
    """pilots.read_ahead reads as the night receives: a link, a FIFO or a file over the size limit
    is not read ahead (the night refuses or quarantines it itself), and a file's key is its name,
    the SHA-256 of its bytes and the issues of its name."""
    from pilots.read_ahead import _guess
    from pilots.readers.limits import LIMITS

    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    (tmp_path / "link.csv").symlink_to(report)
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "large.csv").write_bytes(b"x" * 101)
    monkeypatch.setattr(LIMITS, "max_file_bytes", 100)

    guess = _guess(report)
    assert (guess.name, guess.issues, guess.data) == ("report.csv", (), b"a,b\n1,2\n")
    assert guess.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert [_guess(tmp_path / name) for name in ("link.csv", "pipe.csv", "large.csv", "gone.csv")] == [None] * 4


def test_a_read_ahead_with_other_kpi_units_than_the_night_s_is_not_used(tmp_path):
    from pilots.reading import ToRead

    paths = [tmp_path / f"{n:02d}.csv" for n in range(9)]
    ahead = parallel.ReadAhead(paths, 7, {("P1", "K1"): "percent"})
    # 9 files in batches of 7: chunks of 2, 2, 2, 1 and then 1, 1, all ten or fewer read ahead
    assert [len(guess.items) for guess in ahead.guesses] == [2, 2, 2, 1, 1, 1]
    items = [ToRead(path.name, "0" * 64) for path in paths[:2]]
    assert ahead.covering(items, {("P1", "K1"): "percent"}) == []  # not on the worker yet
    ahead.submitted.set()
    assert ahead.covering(items, {("P1", "K1"): "percent"}) == [ahead.guesses[0]]
    assert ahead.covering(items[1:] + [ToRead("03.csv", "0" * 64)], {("P1", "K1"): "percent"}) == ahead.guesses[:2]
    assert ahead.covering(items, {("P1", "K1"): "number"}) == []
    assert ahead.covering(items + [ToRead("later.csv", "0" * 64)], {("P1", "K1"): "percent"}) == []
