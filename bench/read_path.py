"""The read path (read + normalise + validate), before and after a change, side by side in one run.

    python -m bench.read_path [--copies 20] [--base REV] [--rounds 2] [--batch-size 500] [--now-batch-size N]
    python -m bench.read_path --against-floor 40 [--base REV] [--rounds 2]

The workload is the demo inbox (pilots.demo, 130 files) `--copies` times, each copy made distinct
by trailing blank lines (skipped by every reader) so that no file is a duplicate. Each round runs
the current tree and the tree at `--base` (extracted with `git archive`) in turn, each in its own
Python process, timing pilots.ingest.read_and_check (the same function in both) over batches
of `--batch-size` files (`--now-batch-size` for the work tree, default the same) after one warm-up batch (imports, GE context). It prints the per-file cost
of each and the share of Great Expectations (pilots.checks.row_defects' validate call).

`--against-floor N`: the read stage alone against the floor, on the national workload of N pilots
(bench/workload.py, written once). In each tree's own process: that tree's floor
(bench/measure.floor_read) and its pipeline read (pilots.ingest._read_all: read and normalise,
the `read` stage of a night), in CPU seconds (time.process_time: the machine is shared), each
file's bytes already in memory for both. Best of `--rounds`.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.paired import run_in, tree_at

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from pathlib import Path
from pilots import checks, demo, ingest
from pilots.registry import load_registry
from warehouse import evidence

copies, batch_size, registry_dir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
registry = load_registry(registry_dir)
files = sorted(demo.inbox_files().items())
items = [(f"{c:04d}-{name}", data + b"\n" * c) for c in range(copies) for name, data in files]
ge = [0.0]
validate = checks.row_defects
def timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return validate(*args, **kwargs)
    finally:
        ge[0] += time.perf_counter() - start
checks.row_defects = timed
def batch(part):
    received = [ingest.Received(Path(n), d, evidence.sha256_of(d)) for n, d in part]
    ingest.read_and_check(received, registry, demo.AS_OF)
batch(items[:50])  # warm-up: imports, the GE context
ge[0] = 0.0
start = time.perf_counter()
for at in range(0, len(items), batch_size):
    batch(items[at:at + batch_size])
total = time.perf_counter() - start
print(json.dumps({"files": len(items), "seconds": total, "ge_seconds": ge[0]}))
"""


FLOOR_CHILD = r"""
import json, sys, time
from pathlib import Path
from bench import measure
from pilots import ingest
from pilots.registry import load_registry
folder = Path(sys.argv[1])
registry = load_registry(folder / "registry")
files = [(p, p.read_bytes()) for p in sorted((folder / "inbox").iterdir()) if p.is_file()]
def read():
    ingest._read_all([ingest.Received(Path(p.name), data, "-") for p, data in files], registry)
read()  # warm-up: imports, memos
start = time.process_time()
floor = measure.floor_read(folder / "inbox", compare_duckdb=False)
floor_cpu = time.process_time() - start
start = time.process_time()
read()
print(json.dumps({"files": len(files), "floor": floor_cpu, "read": time.process_time() - start,
                  "floor_by_format": floor["seconds_by_format"]}))
"""


def _against_floor(trees: dict[str, Path], pilots: int, rounds: int, tmp: Path) -> None:
    from bench import workload

    folder = tmp / f"national-{pilots}"
    workload.write_workload(folder, pilots)
    best: dict[str, dict] = {}
    for _ in range(rounds):
        for name, tree in trees.items():
            r = run_in(tree, FLOOR_CHILD, folder)
            print(f"{name:4}: floor {r['floor']:.2f} s CPU, read {r['read']:.2f} s CPU, read / floor "
                  f"{r['read'] / r['floor']:.3f} ({r['files']} files)", flush=True)
            if name not in best or r["read"] < best[name]["read"]:
                best[name] = r
    for name, r in best.items():
        print(f"best {name:4}: floor {r['floor']:.2f} s, read {r['read']:.2f} s, read / floor {r['read'] / r['floor']:.3f}")
    if {"base", "now"} <= best.keys():
        print(f"read, base / now: {best['base']['read'] / best['now']['read']:.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--now-batch-size", type=int, default=None)
    parser.add_argument("--against-floor", type=int, metavar="PILOTS", default=None)
    args = parser.parse_args(argv)
    from pilots.demo import write_demo

    if args.against_floor:
        with tempfile.TemporaryDirectory(prefix="pilotkpi-readpath-") as tmp:
            trees = {"base": tree_at(args.base, Path(tmp) / "base"), "now": ROOT}
            _against_floor(trees, args.against_floor, args.rounds, Path(tmp))
        return
    with tempfile.TemporaryDirectory(prefix="pilotkpi-readpath-") as tmp:
        registry = write_demo(Path(tmp) / "demo").registry
        trees = {"base": tree_at(args.base, Path(tmp) / "base"), "now": ROOT}
        runs: dict[str, list[dict]] = {"base": [], "now": []}
        sizes = {"base": args.batch_size, "now": args.now_batch_size or args.batch_size}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(run_in(tree, CHILD, args.copies, sizes[name], registry))
        for name, found in runs.items():
            best = min(found, key=lambda r: r["seconds"])
            print(f"{name:4} ({args.base if name == 'base' else 'work tree'}, batches of {sizes[name]}): {best['files']} files, "
                  f"{best['seconds'] / best['files'] * 1000:.2f} ms/file, GE {best['ge_seconds'] / best['seconds']:.0%} "
                  f"of it (best of {len(found)}: " + ", ".join(f"{r['seconds']:.1f} s" for r in found) + ")")
        base = min(r["seconds"] for r in runs["base"])
        now = min(r["seconds"] for r in runs["now"])
        print(f"speed-up: {base / now:.2f}x")


if __name__ == "__main__":
    main()
