"""The worker -> flow process transfer of a read (flows/parallel.py, pilots/reading.py): a worker
sends back one pickled payload (read_files_packed), Dask's done-callback fetches it as soon as the
read finishes, and the flow process takes it unpickled (unpack_read). On a real local cluster of
one reading process, as a night starts it (TLS, direct gathering)."""
from __future__ import annotations

import pickle
import threading
import time

import pytest

from flows import parallel
from pilots import demo
from pilots.ingest import read_batch, validate_read
from pilots.reading import ToRead, read_files, read_files_packed, unpack_read
from tests.test_dask_sharing import demo_items  # noqa: F401  (the demo's files to read, as there)
from warehouse.stages import STAGE_LOG_ENV


def test_the_packed_read_unpacks_to_what_the_read_gives_and_validates_alike(demo_items):
    """All 130 demo files, packed as a worker sends them and unpacked here: the same records
    (rows, issues, identity; no bytes), and validate_read gives what the one-process stage gives."""
    registry, items = demo_items
    units = registry.kpi_units()
    payload = read_files_packed(items, units)
    assert isinstance(payload, bytes)
    back = unpack_read(payload)
    assert back == read_files(items, units)
    assert len(back) == 130 and all(rec.data == b"" for rec in back)
    assert sum(bool(rec.table and rec.table.rows) for rec in back) >= 121  # every accepted file (docs/demo.md) has rows
    assert validate_read(back, registry, demo.AS_OF) == read_batch(items, registry, demo.AS_OF)


def test_a_finished_read_is_fetched_in_the_background_then_taken_unpickled(demo_items, tmp_path, monkeypatch):
    """A batch's four chunks on the worker: once each read finishes, its payload is here before
    the flow process asks for it (Dask's done-callback); taking it is `read_fetch` (never a wait)
    and gives the records the read gives. The payload is dropped once taken."""
    registry, items = demo_items
    log = tmp_path / "stages.log"
    monkeypatch.setenv(STAGE_LOG_ENV, str(log))
    batch = items[:20]
    with parallel.DaskReader(parallel.DaskOptions(workers=1)) as reader:
        reader.start_opening()
        assert reader.finish_opening(wait=True) and reader.started
        schedule = parallel._Schedule(reader, iter([batch]), registry)
        schedule._feed()
        chunks = list(schedule.slots[0])
        assert [len(chunk.items) for chunk in chunks] == [5, 5, 5, 5]
        assert all(chunk.future is not None for chunk in chunks)  # all four given to the worker
        deadline = time.monotonic() + 120
        while not all(chunk.landed.is_set() for chunk in chunks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(chunk.claimed and isinstance(chunk.payload, bytes) for chunk in chunks)  # fetched unasked
        for chunk in chunks:
            schedule._fetch(chunk)
            assert chunk.payload is None and chunk.future is None
            assert chunk.received == read_files(chunk.items, registry.kpi_units())
    stages = [line.split()[1] for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("stage ")]
    assert stages.count("read_fetch") == 4 and "read_wait" not in stages


def test_a_read_that_fails_on_the_worker_fails_where_the_flow_process_takes_it(demo_items, tmp_path):
    """The background fetch leaves a failed read alone: taking it raises the worker's error here,
    in the run (a file gone from the evidence store between receipt and read)."""
    registry, items = demo_items
    gone = ToRead("gone.csv", "0" * 64, path=tmp_path / "gone.csv")
    with parallel.DaskReader(parallel.DaskOptions(workers=1)) as reader:
        reader.start_opening()
        assert reader.finish_opening(wait=True)
        schedule = parallel._Schedule(reader, iter([[items[0], gone]]), registry)
        schedule._feed()
        chunks = list(schedule.slots[0])
        assert [chunk.items for chunk in chunks] == [[items[0]], [gone]]
        with pytest.raises(FileNotFoundError, match="gone.csv"):
            for chunk in chunks:
                schedule._fetch(chunk)
        assert chunks[0].received == read_files([items[0]], registry.kpi_units()) and chunks[1].received is None


class _Finished:
    """A finished read's future: counts its fetches (each a transfer on a real cluster)."""

    def __init__(self, records):
        self.payload, self.fetches = pickle.dumps(records, protocol=5), 0

    def result(self):
        self.fetches += 1
        return self.payload


def test_a_read_is_fetched_once_by_whichever_side_claims_it_first(demo_items):
    """The callback first (the usual case): this process takes its payload, no second transfer.
    This process first (it needed the read before the callback ran): the late callback fetches
    nothing, so no fetch of a read is under way once this process has released its future."""
    registry, items = demo_items
    records = read_files(items[:3], registry.kpi_units())

    early = parallel._Chunk(items[:3], future=_Finished(records))
    early.arrive(early.future)
    assert early.landed.is_set() and early.future.fetches == 1
    assert early.fetch() == records and early.future.fetches == 1 and early.payload is None

    late = parallel._Chunk(items[:3], future=_Finished(records))
    assert late.fetch() == records and late.future.fetches == 1
    late.arrive(late.future)
    assert late.future.fetches == 1 and late.payload is None and late.landed.is_set()


class _Fetching:
    """A finished read whose transfer takes until `go` is set: Dask's callback thread is inside it."""

    def __init__(self, payload):
        self.payload, self.go, self.inside = payload, threading.Event(), threading.Event()

    def result(self):
        self.inside.set()
        self.go.wait(10)
        return pickle.dumps(self.payload, protocol=5)


def test_a_failed_night_closes_only_once_no_callback_is_fetching(demo_items):
    """A batch's validation or write raised: the night leaves chunks in flight and closes the
    reader. One read's fetch is under way in the callback's thread: close waits for it to land
    before the client closes. One read not yet fetched is claimed by close: its late callback
    fetches nothing."""
    registry, items = demo_items
    records = read_files(items[:2], registry.kpi_units())
    in_flight = parallel._Chunk(items[:1], future=_Fetching(records[:1]))
    not_yet = parallel._Chunk(items[1:2], future=_Finished(records[1:2]))
    callback = threading.Thread(target=in_flight.arrive, args=(in_flight.future,))
    callback.start()
    assert in_flight.future.inside.wait(10)

    reader = parallel.DaskReader(parallel.DaskOptions())
    schedule = parallel._Schedule(reader, iter([]), None)
    schedule.slots.append([in_flight, not_yet])
    reader._schedule = schedule
    closing = threading.Thread(target=reader.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # waiting for the fetch under way
    in_flight.future.go.set()
    closing.join(10)
    callback.join(10)
    assert not closing.is_alive() and in_flight.landed.is_set() and in_flight.payload is not None
    not_yet.arrive(not_yet.future)
    assert not_yet.future.fetches == 0 and not_yet.payload is None
