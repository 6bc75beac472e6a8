"""The full night's own work on the files (receive, read, validate with GE's share), before and
after a change, side by side in one run, with the floor beside each (issue 22, engineer P).

    python -m bench.ingest_path [--pilots 40] [--base main] [--rounds 2] [--work DIR] [--files N]

It writes (or reuses) bench/workload.py's workload for --pilots, then each round runs the tree at
`--base` (extracted with `git archive`) and the work tree in turn, each in its own Python process
over the same inbox: the floor (bench/measure.py's floor_read), then pilots.inbox.receive into a
fresh evidence store, then pilots.ingest.read_batch over batches of DEFAULT_BATCH_SIZE files, as
the nightly run does. GE's start (its import and context, once per process) is its own stage,
"ge start", before the batches. Wall and CPU seconds are taken for each stage (CPU counts: the
machine is shared, and its wall time is mostly waiting). Every file's status and defects (code,
row, column, English and Thai text) are hashed: both trees must give the same hash.

`--files N` takes only the inbox's first N files (in order of receipt): with N about 1% of the
files, GE's cost in a 1%-new night (its start, then one small batch).

Prefect, the warehouse writes, the marts and the pages are not in it: `python -m bench.run` times
the whole night.
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
from datetime import date
from pathlib import Path

inbox, registry_dir, as_of = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
first = int(sys.argv[4]) or None  # 0: every file
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
from pilots import checks, ingest, inbox as folder
from pilots.registry import load_registry
ingest.stage = checks.stage = timed  # the stages the run logs, with their CPU seconds too
registry = load_registry(registry_dir)
with timed("ge start"):  # GE's import and context: once per process (in a run, inside its first batch's GE)
    checks._gx()
with timed("floor"):
    floor = measure.floor_read(inbox, compare_duckdb=False)
with tempfile.TemporaryDirectory() as store:
    with timed("receive"):
        files = folder.receive(folder.candidates(inbox)[:first], Path(store) / "evidence")
    items = [ingest.ToRead(f.name, f.sha256, path=f.kept_at) for f in files]
    results = []
    for at in range(0, len(items), ingest.DEFAULT_BATCH_SIZE):
        results += ingest.read_batch(items[at:at + ingest.DEFAULT_BATCH_SIZE], registry, as_of)
said = [(r.name, bool(r.errors), [(i.code, i.row_number, i.column_name, i.message_en, i.message_th)
                                   for i in r.issues]) for r in results]
print(json.dumps({"files": len(results), "quarantined": sum(q for _, q, _ in said), "lines": floor["lines"],
                  "defects_sha256": hashlib.sha256(json.dumps(said, ensure_ascii=False).encode()).hexdigest(),
                  "seconds": {k: round(w, 3) for k, (w, c) in times.items()},
                  "cpu_seconds": {k: round(c, 3) for k, (w, c) in times.items()}}))
"""
STAGES = ("floor", "receive", "read", "validate", "ge", "ge start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=40)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="where the workload is (or is written)")
    parser.add_argument("--files", type=int, default=0, help="only the inbox's first N files (0: all)")
    args = parser.parse_args(argv)
    from bench import measure, workload

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
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(run_in(tree, CHILD, inbox, registry, as_of, args.files))
    print(f"load average at the end: {measure.machine()['load_average']}")
    first = runs["base"][0]
    print(f"{first['files']} files, {first['lines']} lines, {first['quarantined']} quarantined")
    hashes = {r["defects_sha256"] for found in runs.values() for r in found}
    print("statuses and defects: " + ("the same in both trees" if len(hashes) == 1 else "DIFFERENT"))
    print("| stage | " + " | ".join(f"{name} wall s (CPU s)" for name in runs) + " | now ÷ base (CPU) |")
    print("|---|" + "---|" * (len(runs) + 1))
    best = {name: {s: min(r["cpu_seconds"].get(s, 0.0) for r in found) for s in STAGES} for name, found in runs.items()}
    for stage in STAGES:
        cells = [", ".join(f"{r['seconds'].get(stage, 0):.1f} ({r['cpu_seconds'].get(stage, 0):.1f})" for r in found)
                 for found in runs.values()]
        ratio = best["now"][stage] / best["base"][stage] if best["base"][stage] else float("nan")
        print(f"| {stage} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    for name in runs:
        print(f"{name}: pipeline read ÷ floor (CPU, best round) {best[name]['read'] / best[name]['floor']:.2f}; "
              f"GE ÷ validate {best[name]['ge'] / best[name]['validate']:.0%}; "
              f"GE in all (its start and the batches, CPU) {best[name]['ge'] + best[name]['ge start']:.2f} s")
    ge_all = {name: best[name]["ge"] + best[name]["ge start"] for name in runs}
    print(f"GE in all, now ÷ base (CPU): {ge_all['now'] / ge_all['base']:.2f}")


if __name__ == "__main__":
    main()
