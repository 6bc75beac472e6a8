"""Read beside (flows/parallel.py, "Read beside"): a night that reads in its own process reads its
first batch from the inbox in a thread, from before its receive until its first read. Whole nights
through `pilotkpi run` on the demo (130 files, under the 2,000 that start a Dask cluster, so one
batch read in the flow process):

- what the thread read is used, and no file is read twice; the night writes what a night without
  the thread writes (every table and mart);
- a file changed, removed or swapped for a symbolic link after the thread read it is read (or
  refused) as received, and a guess that failed or met a cost bound in the thread is read again;
- a night that reaches its first read while the thread is still reading reads the files the thread
  had not taken itself, and each file is still read once.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

import pilots.reading
from flows import parallel
from pilots import demo
from pilots.defects import make_issue
from tests.test_dask_parsing import _rows, _run, _stage_names, _statuses

DEMO_FILES = 130
COMPARED = ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines", "marts")


@pytest.fixture
def reads(monkeypatch):
    """Every file read (pilots.reading.read_into), as (thread name, file name), in order."""
    seen: list[tuple[str, str]] = []
    read_into = pilots.reading.read_into

    def counted(rec, units):
        seen.append((threading.current_thread().name, rec.path.name))
        return read_into(rec, units)

    monkeypatch.setattr(pilots.reading, "read_into", counted)
    return seen


@pytest.fixture
def beside_done_first(monkeypatch):
    """The thread reads every file before the night receives; then the callables appended to the
    list returned run (changes to the inbox after the thread read it)."""
    changes: list = []
    init = parallel.ReadBeside.__init__

    def then_the_reads(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._thread.join(300)
        for change in changes:
            change()

    monkeypatch.setattr(parallel.ReadBeside, "__init__", then_the_reads)
    return changes


def _reference(root: Path, registry: Path, as_of, monkeypatch) -> dict:
    """The same inbox (copied to root/inbox before the call) read by the night alone: no thread."""
    start_early = parallel.start_early

    def no_thread(paths, registry, options, batch_size):  # a night on Dask starts as before
        return start_early(paths, registry, options, batch_size) if parallel.use_dask(options, len(paths),
                                                                                       batch_size) else None

    with monkeypatch.context() as m:
        m.setattr(parallel, "start_early", no_thread)
        _run(registry, root / "inbox", root, as_of)
    return _rows(root / "w.duckdb")


def _same(night: dict, reference: dict) -> None:
    for table in COMPARED:
        assert night[table] == reference[table], table


def test_what_is_read_beside_is_used_and_no_file_is_read_twice(tmp_path, prefect_harness, beside_done_first, reads,
                                                                monkeypatch):
    paths = demo.write_demo(tmp_path / "night")
    shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox")
    reference = _reference(tmp_path / "reference", paths.registry, paths.as_of, monkeypatch)
    assert all(thread != "pilotkpi-read-beside" for thread, _ in reads) and len(reads) == DEMO_FILES - 1
    reads.clear()

    monkeypatch.setenv("PILOTKPI_STAGE_LOG", str(tmp_path / "stages.log"))
    _run(paths.registry, paths.inbox, tmp_path / "night", paths.as_of)

    # The thread read all 130 files before the receive (the demo's one batch); the night took 129
    # of them (one is a byte-identical duplicate, never read by a night) and read none itself.
    assert [thread for thread, _ in reads] == ["pilotkpi-read-beside"] * DEMO_FILES
    assert len({name for _, name in reads}) == DEMO_FILES
    stages = _stage_names(tmp_path / "stages.log")
    assert stages.count("read_beside") == 1 and stages.count("read") == 1 and stages.count("read_wait") == 1
    night = _rows(tmp_path / "night" / "w.duckdb")
    assert len(_statuses(night)) == DEMO_FILES and _statuses(night).count("duplicate") == 1
    _same(night, reference)


def test_a_file_changed_removed_or_linked_after_the_thread_read_it_is_taken_as_received(
        tmp_path, prefect_harness, beside_done_first, reads, monkeypatch):
    paths = demo.write_demo(tmp_path / "night")
    files = sorted(p for p in paths.inbox.iterdir() if p.is_file())
    changed, removed, linked, other = files[1], files[2], files[4], files[60]
    assert other.read_bytes() != changed.read_bytes()

    def change() -> None:
        changed.write_bytes(other.read_bytes())  # now byte-identical to a later file
        removed.unlink()
        linked.unlink()
        linked.symlink_to(other)
        shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox", symlinks=True)  # the same inbox, later

    beside_done_first.append(change)
    _run(paths.registry, paths.inbox, tmp_path / "night", paths.as_of)
    night_reads = list(reads)
    reference = _reference(tmp_path / "reference", paths.registry, paths.as_of, monkeypatch)

    night = _rows(tmp_path / "night" / "w.duckdb")
    _same(night, reference)
    columns = night["columns"]["ingest.submissions"]
    by_name = {row[columns.index("file_name")]: row for row in night["ingest.submissions"]}
    assert removed.name not in by_name and linked.name not in by_name and len(by_name) == DEMO_FILES - 2
    # The changed file has the bytes it had when received: the later file of the same bytes is its
    # duplicate. The thread's read of its old bytes was not used: the night read it again itself.
    assert by_name[changed.name][columns.index("sha256")] == by_name[other.name][columns.index("sha256")]
    assert by_name[other.name][columns.index("status")] == "duplicate"
    assert [name for thread, name in night_reads if thread != "pilotkpi-read-beside"] == [changed.name]


def test_a_guess_that_failed_or_met_a_cost_bound_in_the_thread_is_read_again(tmp_path, prefect_harness,
                                                                              beside_done_first, reads, monkeypatch):
    paths = demo.write_demo(tmp_path / "night")
    shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox")
    files = sorted(p.name for p in paths.inbox.iterdir() if p.is_file())
    failing, bounded = files[3], files[7]
    read_unlogged = parallel.read_unlogged

    def in_the_thread(items, units):
        if threading.current_thread().name == "pilotkpi-read-beside":
            if items[0].name == failing:
                raise MemoryError("not this time")
            if items[0].name == bounded:  # as a read that met its time bound while sharing the GIL
                [rec] = read_unlogged(items, units)
                rec.issues.append(make_issue("FILE_TOO_LARGE", detail="seconds", limit="60"))
                return [rec]
        return read_unlogged(items, units)

    monkeypatch.setattr(parallel, "read_unlogged", in_the_thread)
    _run(paths.registry, paths.inbox, tmp_path / "night", paths.as_of)
    assert sorted(name for thread, name in reads if thread != "pilotkpi-read-beside") == sorted([bounded, failing])
    night = _rows(tmp_path / "night" / "w.duckdb")
    at = night["columns"]["ingest.issues"].index("code")
    assert not any(row[at] == "FILE_TOO_LARGE" for row in night["ingest.issues"])
    _same(night, _reference(tmp_path / "reference", paths.registry, paths.as_of, monkeypatch))


def test_a_night_that_reaches_its_read_first_reads_what_the_thread_had_not_taken(tmp_path, prefect_harness, reads,
                                                                                 monkeypatch):
    """The thread is held on its third file until the night's first read stops it: it finishes that
    one (the night waits for it, `read_wait`), and the night reads the other 127 itself."""
    paths = demo.write_demo(tmp_path / "night")
    shutil.copytree(paths.inbox, tmp_path / "reference" / "inbox")
    guess = parallel.guess_inbox_file
    calls: list = []
    readers: list = []
    init = parallel.ReadBeside.__init__

    def kept(self, *args, **kwargs):
        readers.append(self)
        init(self, *args, **kwargs)

    def slow_third(path):
        calls.append(path)
        if len(calls) == 3:
            deadline = time.monotonic() + 300
            while not readers[0]._stopped and time.monotonic() < deadline:
                time.sleep(0.01)
        return guess(path)

    monkeypatch.setattr(parallel.ReadBeside, "__init__", kept)
    monkeypatch.setattr(parallel, "guess_inbox_file", slow_third)
    monkeypatch.setenv("PILOTKPI_STAGE_LOG", str(tmp_path / "stages.log"))
    _run(paths.registry, paths.inbox, tmp_path / "night", paths.as_of)

    in_thread = [name for thread, name in reads if thread == "pilotkpi-read-beside"]
    here = [name for thread, name in reads if thread != "pilotkpi-read-beside"]
    files = sorted(p.name for p in calls)
    assert len(calls) == 3 and in_thread == files  # the thread stopped after the file it was on
    assert len(here) == DEMO_FILES - 1 - 3 and not set(here) & set(in_thread)  # all but the duplicate, once
    assert "read_wait" in _stage_names(tmp_path / "stages.log")
    _same(_rows(tmp_path / "night" / "w.duckdb"), _reference(tmp_path / "reference", paths.registry, paths.as_of,
                                                              monkeypatch))
