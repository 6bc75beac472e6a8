"""The full night's own work on the files in the flow process (receive, read, validate with GE's
share, decide and write), before and after a change, side by side in one run, with the floor beside
each (issue 22, engineers P and V).

    python -m bench.ingest_path [--pilots 40] [--base main] [--rounds 2] [--work DIR] [--files N]
                                [--workload DIR] [--no-floor] [--reads DIR]

It writes (or reuses) bench/workload.py's workload for --pilots (or takes an existing one with
--workload DIR: DIR/registry and DIR/inbox, such as the 400-pilot /tmp/W400; its as-of is the
workload's), then each round runs the tree at `--base` (extracted with `git archive`) and the work
tree in turn, each in its own Python process over the same inbox: the floor (bench/measure.py's
floor_read), then pilots.inbox.receive into a fresh evidence store, then one Ingestor over a
fresh warehouse (one transaction, the job's writing memory limit), batches of DEFAULT_BATCH_SIZE
files, the pure stage in the same process (as `--workers 0`, and as the flow process does for
the batches it reads itself). GE's start (its import and context, once per process) is its own
stage, "ge start", before the batches. Wall and CPU seconds are taken for each stage (CPU counts:
the machine is shared, and its wall time is mostly waiting); "decide+write" is the Ingestor's
time less its read and validate: deciding statuses, building the rows, and writing them.

Both trees must give the same hashes: of every file's status and defects (code, row, column,
English and Thai text), and of every table the Ingestor wrote (rows in order, every column; the
run's id and time are fixed).

`--no-floor` leaves the floor out (half of each run's CPU at 400 pilots, and the same code in
both trees): for a paired run of the validate and write alone on a loaded machine.

The flow process's own part of the night is "validate" and "decide+write"; "validate less GE" is
the Python and pandas work around Great Expectations (frames, numbering, numbers, file rules).

`--files N` takes only the inbox's first N files (in order of receipt): with N about 1% of the
files, GE's cost in a 1%-new night (its start, then one small batch).

`--reads DIR` measures validate and write alone, on reads made once: each tree receives the inbox
into DIR/<tree>-<N>/evidence and keeps every batch's read (read_files_packed's payload, in the
order a fresh Ingestor batches the files) on its first run, with its own code; every round then
unpickles them ("unpack", its own stage) and validates and writes them. Its tables are hashed as
with the reads (every row, in order and as written). The command for the flow process's validate
and write at 400 pilots (engineer B, 2026-12-05):

    python -m bench.ingest_path --workload /tmp/W400 --reads /tmp/ingest-reads --rounds 3

Prefect, the marts and the pages are not in it: `python -m bench.run` times the whole night.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.paired import run_in, tree_at

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import hashlib, json, sys, tempfile, time
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

inbox, registry_dir, as_of = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
first = int(sys.argv[4]) or None  # 0: every file
with_floor = sys.argv[5] == "1"
reads = Path(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else None  # --reads: this tree's cached reads
times = {}

@contextmanager
def timed(name):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        w, c = times.get(name, (0.0, 0.0))
        times[name] = (w + time.perf_counter() - wall, c + time.process_time() - cpu)

from bench import measure
from pilots import checks, ingest, inbox as folder, reading
from pilots.registry import load_registry
from warehouse import db
ingest.stage = checks.stage = reading.stage = timed  # the stages the run logs, with their CPU seconds too
registry = load_registry(registry_dir)
with timed("ge start"):  # GE's import and context: once per process (in a run, inside its first batch's GE)
    checks._gx()
if with_floor:
    with timed("floor"):
        floor = measure.floor_read(inbox, compare_duckdb=False)
import pickle

def cache_reads():
    # Receive the inbox into the cache once and keep every batch's read (as read_files_packed
    # gives it) in the order a fresh Ingestor batches the files (not timed).
    reads.mkdir(parents=True, exist_ok=True)
    files = folder.receive(folder.candidates(inbox)[:first], reads / "evidence")
    def read_and_keep(batches, registry, as_of):
        for n, items in enumerate(batches):
            payload = reading.read_files_packed(items, registry.kpi_units())
            (reads / f"read-{n:04d}.pickle").write_bytes(payload)
            yield ingest.validate_read(reading.unpack_read(payload), registry, as_of)
    with tempfile.TemporaryDirectory() as scratch:
        con = db.connect(Path(scratch) / "warehouse.duckdb")
        with db.transaction(con):
            ingest.Ingestor(con, registry, evidence_dir=reads / "evidence", run_id="bench", as_of=as_of,
                            received_at=datetime(2006, 1, 1)).ingest(files, read_batches=read_and_keep)
        con.close()
    (reads / "files.pickle").write_bytes(pickle.dumps(files))

def cached_reads(batches, registry, as_of):
    # The pure stage over the cached reads: each batch unpickled (its own stage), then validated.
    for n, _ in enumerate(batches):
        with timed("unpack"):
            received = reading.unpack_read((reads / f"read-{n:04d}.pickle").read_bytes())
        yield ingest.validate_read(received, registry, as_of)

if len(sys.argv) > 7 and sys.argv[7] == "cache":  # a process of its own, before the rounds
    if not (reads / "files.pickle").exists():
        cache_reads()
    print(json.dumps({}))
    sys.exit(0)
with tempfile.TemporaryDirectory() as store:
    if reads is None:
        with timed("receive"):
            files = folder.receive(folder.candidates(inbox)[:first], Path(store) / "evidence")
        evidence_dir = Path(store) / "evidence"
    else:
        files, evidence_dir = pickle.loads((reads / "files.pickle").read_bytes()), reads / "evidence"
    con = db.limit_memory(db.connect(Path(store) / "warehouse.duckdb"))
    con.execute("SET enable_progress_bar = false")  # its bar, on stdout, would break the JSON line below
    listed = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1, 2"
    # What the migrations wrote (their times among it) is not the Ingestor's: only tables it filled are hashed.
    filled_before = {t for t in con.execute(listed).fetchall()
                     if con.execute(f'SELECT count(*) FROM "{t[0]}"."{t[1]}"').fetchone()[0]}
    with db.transaction(con):
        ingestor = ingest.Ingestor(con, registry, evidence_dir=evidence_dir, run_id="bench",
                                   as_of=as_of, received_at=datetime(2006, 1, 1))
        with timed("ingest"):
            ingestor.ingest(files, read_batches=cached_reads if reads is not None else None)
    tables = {}
    for schema, table in con.execute(listed).fetchall():
        if (schema, table) in filled_before:
            continue
        rows = con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
        if rows:  # the rows, and the same rows in the order they were written
            stored = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            tables[f"{schema}.{table}"] = hashlib.sha256(repr((rows, stored)).encode()).hexdigest()
    con.close()
cpu = {k: c for k, (w, c) in times.items()}
wall = {k: w for k, (w, c) in times.items()}
for t in (cpu, wall):  # the Ingestor's own work: all of it but the pure stage it ran in this process
    t["decide+write"] = t["ingest"] - t.get("read", 0.0) - t.get("unpack", 0.0) - t.get("validate", 0.0)
    t["validate less GE"] = t.get("validate", 0.0) - t.get("ge", 0.0)
said = [(o.file_name, o.status, [(i.code, i.row_number, i.column_name, i.message_en, i.message_th)
                                 for i in o.issues]) for o in ingestor.outcomes]
print(json.dumps({"files": len(said), "quarantined": sum(s == "quarantined" for _, s, _ in said),
                  "lines": floor["lines"] if with_floor else None,
                  "defects_sha256": hashlib.sha256(json.dumps(said, ensure_ascii=False).encode()).hexdigest(),
                  "tables_sha256": tables,
                  "seconds": {k: round(v, 3) for k, v in wall.items()},
                  "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()}}))
"""
STAGES = ("floor", "receive", "read", "unpack", "validate", "ge", "validate less GE", "ge start", "write",
          "decide+write")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=40)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="where the workload is (or is written)")
    parser.add_argument("--files", type=int, default=0, help="only the inbox's first N files (0: all)")
    parser.add_argument("--workload", type=Path, default=None,
                        help="an existing workload (DIR/registry, DIR/inbox; read only) instead of --pilots")
    parser.add_argument("--no-floor", action="store_true", help="leave the floor out (validate and write alone)")
    parser.add_argument("--reads", type=Path, default=None,
                        help="validate and write alone on cached reads: DIR/<tree> holds each tree's receive and "
                             "reads, made by its own code on first use (implies --no-floor)")
    args = parser.parse_args(argv)
    if args.reads:
        args.no_floor = True
    from bench import measure, workload

    if args.workload:
        as_of, inbox, registry = workload.AS_OF.isoformat(), args.workload / "inbox", args.workload / "registry"
    else:
        work = args.work or ROOT / "bench" / f"work-ingest-{args.pilots}"
        if not (work / "manifest-written").exists():
            wl = workload.write_workload(work / "national", args.pilots)
            (work / "manifest-written").write_text(json.dumps({"as_of": wl.as_of.isoformat()}))
        as_of = json.loads((work / "manifest-written").read_text())["as_of"]
        inbox, registry = work / "national" / "inbox", work / "national" / "registry"
    print(f"load average at the start: {measure.machine()['load_average']}")
    with tempfile.TemporaryDirectory(prefix="pilotkpi-ingestpath-") as tmp:
        trees = {"base": tree_at(args.base, Path(tmp) / "base"), "now": ROOT}
        runs: dict[str, list[dict]] = {"base": [], "now": []}
        caches = {name: "" if args.reads is None else args.reads / f"{name}-{args.files}" for name in trees}
        for name, tree in trees.items():
            if caches[name]:
                run_in(tree, CHILD, inbox, registry, as_of, args.files, 0, caches[name], "cache")
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(run_in(tree, CHILD, inbox, registry, as_of, args.files, int(not args.no_floor),
                                         caches[name]))
    print(f"load average at the end: {measure.machine()['load_average']}")
    first = runs["base"][0]
    print(f"{first['files']} files, {first['lines'] if first['lines'] is not None else 'uncounted'} lines, "
          f"{first['quarantined']} quarantined")
    hashes = {r["defects_sha256"] for found in runs.values() for r in found}
    print("statuses and defects: " + ("the same in both trees" if len(hashes) == 1 else "DIFFERENT"))
    tables = {json.dumps(r["tables_sha256"], sort_keys=True) for found in runs.values() for r in found}
    print(f"tables written ({len(first['tables_sha256'])} with rows: {', '.join(sorted(first['tables_sha256']))}): "
          + ("the same in both trees" if len(tables) == 1 else "DIFFERENT"))
    print("| stage | " + " | ".join(f"{name} wall s (CPU s)" for name in runs) + " | now ÷ base (CPU) |")
    print("|---|" + "---|" * (len(runs) + 1))
    best = {name: {s: min(r["cpu_seconds"].get(s, 0.0) for r in found) for s in STAGES} for name, found in runs.items()}
    for stage in STAGES:
        cells = [", ".join(f"{r['seconds'].get(stage, 0):.1f} ({r['cpu_seconds'].get(stage, 0):.1f})" for r in found)
                 for found in runs.values()]
        ratio = best["now"][stage] / best["base"][stage] if best["base"][stage] else float("nan")
        print(f"| {stage} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    if args.reads:
        print(f"reads cached in {args.reads} (one set per tree, made by its own code); 'unpack' is their unpickling")
    for name in runs:
        floor = "" if args.no_floor else (
            f"pipeline read ÷ floor (CPU, best round) {best[name]['read'] / best[name]['floor']:.2f}; ")
        print(f"{name}: {floor}GE ÷ validate {best[name]['ge'] / best[name]['validate']:.0%}; "
              f"GE in all (its start and the batches, CPU) {best[name]['ge'] + best[name]['ge start']:.2f} s")
    ge_all = {name: best[name]["ge"] + best[name]["ge start"] for name in runs}
    print(f"GE in all, now ÷ base (CPU): {ge_all['now'] / ge_all['base']:.2f}")
    flow = {name: best[name]["validate"] + best[name]["decide+write"] for name in runs}
    print(f"the flow process's validate + decide+write (CPU, best round): base {flow['base']:.2f} s, "
          f"now {flow['now']:.2f} s, now ÷ base {flow['now'] / flow['base']:.2f}")


if __name__ == "__main__":
    main()
