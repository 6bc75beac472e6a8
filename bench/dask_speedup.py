"""The ingest step in process and on a local Dask cluster of 1 and 2 workers, in one run; 4 workers
simulated from the measured per-batch times (this machine has 2 cores).

    python -m bench.dask_speedup [--copies 20] [--batch-size 100]

Workload: the demo inbox (130 files) `--copies` times, each copy distinct (bench.read_path). Each
variant ingests it into a fresh warehouse through pilots.ingest.Ingestor, as the nightly flow does,
inside one Prefect flow on a temporary Prefect server. The simulation replays the in-process run's
per-batch read and write times on k workers with the flow's rules (batches submitted in order, at
most 2 per worker ahead of the writer, written in order), plus the cluster's start and per-batch
overhead measured on the real 1- and 2-worker runs.

Since issue 22's second core the workers only read (the flow process validates each batch as it
comes back), so its "read" per batch on k workers is the read alone; the simulation still replays
the in-process read + validate as one step (issue 12's model). `python -m bench.second_core`
measures the whole night as it now runs.
"""
from __future__ import annotations

import argparse
import heapq
import tempfile
import time
from datetime import datetime
from pathlib import Path

from flows.settings import apply_defaults

apply_defaults()

IN_FLIGHT = 1  # batches per worker (flows/parallel.py: one being read while the flow process validates)


def simulate(reads: list[float], writes: list[float], workers: int, in_flight: int) -> float:
    """Makespan of the pipeline: workers read batches in submission order, the writer writes them
    in order; batch i is submitted only once batch i - workers * in_flight is written."""
    free = [0.0] * workers  # when each worker is next free (a heap)
    written: list[float] = []
    done_writing = 0.0
    window = workers * in_flight
    for i, (r, w) in enumerate(zip(reads, writes)):
        submit = written[i - window] if i >= window else 0.0
        start = max(heapq.heappop(free), submit)
        ready = start + r
        heapq.heappush(free, ready)
        done_writing = max(ready, done_writing) + w
        written.append(done_writing)
    return done_writing


def _demo_copies(inbox: Path, copies: int) -> Path:
    """An inbox of `copies` distinct copies of the demo's files (a trailing newline apiece)."""
    from pilots import demo

    inbox.mkdir()
    for c in range(copies):
        for name, data in sorted(demo.inbox_files().items()):
            (inbox / f"{c:04d}-{name}").write_bytes(data + b"\n" * c)
    return inbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)

    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.parallel import DaskOptions, DaskReader
    from pilots import demo, ingest
    from pilots.inbox import receive
    from pilots.registry import load_registry
    from warehouse.db import connect

    with tempfile.TemporaryDirectory(prefix="pilotkpi-dask-bench-") as tmp, \
            prefect_test_harness(server_startup_timeout=90):
        root = Path(tmp)
        registry = load_registry(demo.write_demo(root / "demo").registry)
        inbox = _demo_copies(root / "inbox", args.copies)
        store_dir = root / "evidence"
        files = receive(sorted(inbox.iterdir()), store_dir)
        reads: list[float] = []
        writes: list[float] = []

        def timed_in_process(batches, registry, as_of):
            for batch in batches:
                start = time.perf_counter()
                result = ingest.read_batch(batch, registry, as_of)
                reads.append(time.perf_counter() - start)
                yield result

        first: dict[int, float] = {}  # workers -> seconds to the first batch's result (cluster start, GE import)
        runs = [0]

        def first_result(reader, workers):
            def read(batches, registry, as_of):
                start = time.perf_counter()
                for i, result in enumerate(reader(batches, registry, as_of)):
                    if i == 0:
                        first[workers] = time.perf_counter() - start
                    yield result
            return read

        @flow(name="bench-ingest")
        def run(workers: int) -> float:
            runs[0] += 1  # a fresh warehouse each time: a known file would be a duplicate, not read
            con = connect(root / f"w{runs[0]}.duckdb")
            ingestor = ingest.Ingestor(con, registry, evidence_dir=store_dir, run_id=f"bench{workers}",
                                       as_of=demo.AS_OF, received_at=datetime(2006, 8, 15))
            write = ingestor._write_batch

            def timed_write(batch, results):
                start = time.perf_counter()
                write(batch, results)
                writes.append(time.perf_counter() - start)

            ingestor._write_batch = timed_write
            start = time.perf_counter()
            con.execute("BEGIN")
            if workers:
                with DaskReader(DaskOptions(workers=workers)) as reader:
                    ingestor.ingest(files, args.batch_size, read_batches=first_result(reader, workers))
            else:
                ingestor.ingest(files, args.batch_size, read_batches=timed_in_process)
            con.execute("COMMIT")
            con.close()
            return time.perf_counter() - start

        run(0)  # warm-up: imports and the GE context of this process
        reads.clear(), writes.clear()
        measured = {0: run(0)}
        reads_0, writes_0 = list(reads), list(writes)
        for workers in (1, 2):
            measured[workers] = run(workers)
        again = run(0)  # the machine's load changes: in process again, after
        n = len(files)
        print(f"{n} files in {len(reads_0)} batches of {args.batch_size}; read stage {sum(reads_0):.1f} s, "
              f"writer {sum(writes_0):.1f} s in process")
        base = measured[0]
        overhead = {}
        for workers in (1, 2):
            predicted = simulate(reads_0, writes_0, workers, IN_FLIGHT)
            overhead[workers] = measured[workers] - predicted
        fixed = max(0.0, min(overhead.values()))  # cluster start and task overhead, as measured
        print(f"in process: {base:.1f} s ({base / n * 1000:.1f} ms/file); again after the Dask runs: {again:.1f} s")
        print("first batch's result after: " + ", ".join(f"{w} worker(s) {t:.1f} s" for w, t in first.items()))
        for workers in (1, 2):
            print(f"{workers} worker(s): {measured[workers]:.1f} s measured, speed-up {base / measured[workers]:.2f}x "
                  f"(simulated {simulate(reads_0, writes_0, workers, IN_FLIGHT) + fixed:.1f} s)")
        for workers in (4,):
            sim = simulate(reads_0, writes_0, workers, IN_FLIGHT) + fixed
            print(f"{workers} workers (simulated): {sim:.1f} s, speed-up {base / sim:.2f}x")
        # Without the fixed cost: what a long quarter-end ingest tends to, with a free core per worker.
        print("steady state (simulated, no cluster start): " + ", ".join(
            f"{w} worker(s) {base / simulate(reads_0, writes_0, w, IN_FLIGHT):.2f}x" for w in (1, 2, 4)))


if __name__ == "__main__":
    main()
