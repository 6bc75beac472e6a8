"""The reading shared between the Dask worker and the flow process (issue 22, flows/parallel.py):
which chunk each side reads, in a deterministic setting, and that the batches come back as the
one-process read gives them, in order.

The worker here is a stand-in for distributed's Client with one worker whose reads finish when
the test says: `fast` (each read finished as soon as it is handed over) or `slow` (a read finishes
only when the flow process waits for it). The real cluster runs in tests/test_dask_parsing.py
(whole nights through `pilotkpi run`); this module pins the rule itself, with counts derived by
hand from it:
- a batch is cut in CHUNKS_PER_BATCH (4) runs of files;
- the worker is given chunks in file-name order while fewer than 4 are unfinished on it;
- when the next batch to validate is not all read, the flow process reads the next chunk not yet
  given to anyone, if it belongs to that batch or fewer than 6 (one batch and a half) are read or
  being read beyond it; else it waits for the worker.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from flows import parallel
from pilots import demo
from pilots.ingest import ToRead, read_batch
from pilots.registry import load_registry
from warehouse.stages import STAGE_LOG_ENV


class _Future:
    def __init__(self, fn, args, finished: bool):
        self.fn, self.args, self.finished, self.released = fn, args, finished, False

    def done(self) -> bool:
        return self.finished

    def result(self):
        self.finished = True  # the flow process waited until the worker was done
        return pickle.loads(pickle.dumps(self.fn(*self.args), protocol=5))  # as Dask sends it back

    def add_done_callback(self, fn) -> None:
        if self.finished:  # as Dask does: at once for a finished read, else once it finishes
            fn(self)

    def release(self) -> None:
        self.released = True


class _OneWorker:
    """distributed.Client as DaskReader uses it, one worker that reads fast or slow."""

    def __init__(self, fast: bool):
        self.fast, self.given, self.closed = fast, [], False

    def submit(self, fn, items, units, pure=True):
        self.given.append([item.name for item in items])
        return _Future(fn, (items, units), self.fast)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def demo_items(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharing")
    paths = demo.write_demo(root)
    registry = load_registry(paths.registry)
    items = [ToRead(p.name, "0" * 64, path=p) for p in sorted(paths.inbox.iterdir()) if p.is_file()]
    return registry, items


def _night(worker: _OneWorker, batches: list[list[ToRead]], registry, log: Path, monkeypatch):
    """Every batch's results through a DaskReader on `worker`; the batches as they were pulled,
    counted at each result (how far receiving ran ahead)."""
    monkeypatch.setenv(STAGE_LOG_ENV, str(log))
    reader = parallel.DaskReader(parallel.DaskOptions())
    reader.client, reader.workers = worker, 1  # started, on the stand-in
    pulled = []

    def received():
        for batch in batches:
            pulled.append(len(batch))
            yield batch

    results, pulled_at = [], []
    for result in reader(received(), registry, demo.AS_OF):
        results.append(result)
        pulled_at.append(len(pulled))
    return results, pulled_at, reader


def _count(log: Path, name: str) -> int:
    """Lines of stage `name` in the stage log."""
    if not log.exists():
        return 0
    return sum(line.startswith(f"stage {name} ") for line in log.read_text(encoding="utf-8").splitlines())


def _read_here(log: Path) -> int:
    return _count(log, "read_here")


def _names(items: list[ToRead]) -> list[str]:
    return [item.name for item in items]


def test_a_slow_worker_leaves_the_flow_process_to_read_what_the_bound_allows(demo_items, tmp_path, monkeypatch):
    """Three batches of 8 files (chunks of 2 files, 4 a batch). The worker is given batch 0's four
    chunks and finishes none by itself. Waiting for batch 0, the flow process reads the next chunks
    itself: batch 1's four and batch 2's first two (6 chunks beyond batch 0: the bound), then waits
    for the worker's four. Batch 1 is then all read, batch 2 half: the worker is given batch 2's
    last two chunks when batch 0 is validated, and the flow process waits for them."""
    registry, items = demo_items
    batches = [items[0:8], items[8:16], items[16:24]]
    worker = _OneWorker(fast=False)
    results, pulled_at, reader = _night(worker, batches, registry, tmp_path / "stages.log", monkeypatch)

    assert worker.given == [_names(items[i:i + 2]) for i in (0, 2, 4, 6, 20, 22)]
    assert _read_here(tmp_path / "stages.log") == 6  # items 8-19, two files a chunk
    assert (_count(tmp_path / "stages.log", "read_wait"), _count(tmp_path / "stages.log", "read_fetch")) == (6, 0)
    assert results == [read_batch(batch, registry, demo.AS_OF) for batch in batches]
    assert pulled_at == [3, 3, 3]  # batch 2 was pulled (received) before batch 0 was validated
    assert worker.closed and reader.client is None  # the last read back, the worker went


def test_a_worker_that_keeps_up_reads_everything(demo_items, tmp_path, monkeypatch):
    """Each read finished as soon as it is given: the flow process never finds a batch unread, so
    it reads nothing; the worker reads every chunk once, in order, and is given at most one batch
    and a half beyond the batch validated next (batch 0 and 1 whole, then batch 2's first two
    chunks; its last two once batch 0 is validated)."""
    registry, items = demo_items
    batches = [items[0:8], items[8:16], items[16:23]]  # the last one 7 files: chunks of 2, 2, 2, 1
    worker = _OneWorker(fast=True)
    results, pulled_at, _ = _night(worker, batches, registry, tmp_path / "stages.log", monkeypatch)

    assert worker.given == [*(_names(items[i:i + 2]) for i in range(0, 22, 2)), _names(items[22:23])]
    assert _read_here(tmp_path / "stages.log") == 0
    assert (_count(tmp_path / "stages.log", "read_wait"), _count(tmp_path / "stages.log", "read_fetch")) == (0, 12)
    assert results == [read_batch(batch, registry, demo.AS_OF) for batch in batches]
    assert pulled_at == [3, 3, 3]


def test_batches_with_nothing_to_read_keep_their_place(demo_items, tmp_path, monkeypatch):
    """A batch of duplicates only has nothing to read: its (empty) result comes in its place."""
    registry, items = demo_items
    batches = [[], items[0:3], [], items[3:5], []]
    worker = _OneWorker(fast=False)
    results, _, _ = _night(worker, batches, registry, tmp_path / "stages.log", monkeypatch)
    assert [len(r) for r in results] == [0, 3, 0, 2, 0]
    assert results[1] == read_batch(items[0:3], registry, demo.AS_OF)
    assert results[3] == read_batch(items[3:5], registry, demo.AS_OF)
    # Chunks of one file: batch 1's three and batch 3's first go to the worker (4 unfinished on
    # it); waiting for batch 1, the flow process reads batch 3's second (2 beyond batch 1, under 6).
    assert worker.given == [_names(items[i:i + 1]) for i in range(4)]
    assert _read_here(tmp_path / "stages.log") == 1


@pytest.mark.parametrize("files, runs", [(7, [2, 2, 2, 1]), (8, [2, 2, 2, 2]), (3, [1, 1, 1]), (1000, [250] * 4),
                                         (1001, [251, 250, 250, 250]), (0, [])])
def test_a_batch_is_cut_in_four_runs_of_files_in_order(files, runs):
    items = [ToRead(f"f{i:04}.csv", "0" * 64, data=b"") for i in range(files)]
    cut = parallel.chunks_of(items)
    assert [len(run) for run in cut] == runs
    assert [item for run in cut for item in run] == items
