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
(bench/workload.py, written once; or `--workload FOLDER`, one already written: its registry/ and
inbox/, e.g. /tmp/W400). In each tree's own process, per format (csv, xlsx, json): that tree's
floor (bench/measure.floor_read's readers) and the read a Dask worker runs
(pilots.reading.read_files over batches of `--batch-size` files of the format in name order; both
read each file from the inbox, the page cache), then what the worker sends back: pickle.dumps of each batch's result
(in the worker) and pickle.loads (in the flow process), protocol 5 as distributed's. CPU seconds
(time.process_time: the machine is shared); the trees take turns, best of `--rounds`. Each
tree's read is digested (every file's format, encoding, rows, defects, identity and headers, by
value): the digests must be equal, or the change changed an answer.

    python -m bench.read_path --against-floor 400 --workload /tmp/W400 --base main --rounds 3

`--sample csv=3000,xlsx=1000,json=500`: that many files of each format of the workload, evenly
spaced in name order (links in a temporary inbox beside the workload's registry). With it, each
tree's process also times every file's floor read and the pipeline's read of it (read_into, as
read_files runs it per file) back to back, `--file-rounds` times, and keeps each file's best of
each: summed per format, the read's cost above the floor that the machine's load moves least.

    python -m bench.read_path --against-floor 400 --workload /tmp/W400 --sample csv=3000,xlsx=1000,json=500 --base main
"""
from __future__ import annotations

import argparse
import json
import os
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
import gc, hashlib, json, pickle, sys, time
from pathlib import Path
from bench import measure
from pilots.reading import Received, ToRead, read_files, read_into
from pilots.readers.base import fewer_collections
from pilots.registry import load_registry
folder, batch_size, file_rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
units = load_registry(folder / "registry").kpi_units()
paths = sorted(p for p in (folder / "inbox").iterdir() if p.is_file())
by_format = {}
for p in paths:
    by_format.setdefault(p.suffix.lower().lstrip("."), []).append(p)
utf8 = {}
floor_readers = {"csv": lambda path: measure._csv_rows(path, utf8), "xlsx": measure._xlsx_rows, "json": measure._json_rows}
out, digest = {}, hashlib.sha256()
for fmt, group in sorted(by_format.items()):
    items = [ToRead(p.name, "-", path=p) for p in group]  # read from the inbox, as a local worker does
    read_files(items[:20], units)  # warm-up: imports, memos
    start = time.process_time()
    with fewer_collections():  # as the pipeline's read runs
        for path in group:
            try:
                floor_readers[fmt](path)
            except Exception:
                pass
    floor = time.process_time() - start
    # Each file's floor and pipeline read back to back, the best of file_rounds of each kept.
    best_floor, best_read = [float("inf")] * len(group), [float("inf")] * len(group)
    with fewer_collections():
        for _ in range(file_rounds):
            for k, (path, item) in enumerate(zip(group, items)):
                start = time.process_time()
                try:
                    floor_readers[fmt](path)
                except Exception:
                    pass
                mid = time.process_time()
                rec = Received(Path(item.name), item.read_bytes(), item.sha256)
                read_into(rec, units)
                end = time.process_time()
                best_floor[k], best_read[k] = min(best_floor[k], mid - start), min(best_read[k], end - mid)
    read = dumps = loads = size = 0.0
    for at in range(0, len(items), batch_size):
        start = time.process_time()
        received = read_files(items[at:at + batch_size], units)
        read += time.process_time() - start
        start = time.process_time()
        sent = pickle.dumps(received, protocol=5)
        dumps += time.process_time() - start
        start = time.process_time()
        pickle.loads(sent)
        loads += time.process_time() - start
        size += len(sent)
        for r in received:
            t = r.table
            digest.update(repr((r.path.name, r.format, r.encoding, r.issues, r.raw_identity, t and t.rows,
                                t and t.issues, t and sorted(t.missing_columns), t and t.headers)).encode())
        del received, sent
        gc.collect()
    out[fmt] = {"files": len(group), "floor": floor, "read": read, "dumps": dumps, "loads": loads, "mb": size / 1e6,
                "file_floor": sum(best_floor) if file_rounds else 0.0, "file_read": sum(best_read) if file_rounds else 0.0}
print(json.dumps({"formats": out, "digest": digest.hexdigest()}))
"""


def _against_floor(trees: dict[str, Path], folder: Path, rounds: int, batch_size: int, file_rounds: int = 0) -> None:
    best: dict[str, dict] = {}
    digests: dict[str, str] = {}
    for rnd in range(rounds):
        order = list(trees.items()) if rnd % 2 == 0 else list(trees.items())[::-1]  # alternate who goes first
        for name, tree in order:
            r = run_in(tree, FLOOR_CHILD, folder, batch_size, file_rounds)
            digests[name] = r["digest"]
            for fmt, f in r["formats"].items():
                print(f"round {rnd + 1} {name:4} {fmt:4}: floor {f['floor']:6.2f} s, read {f['read']:6.2f} s "
                      f"({f['read'] / f['floor']:.2f}x), sent {f['mb']:.1f} MB: dumps {f['dumps']:.2f} s, "
                      f"loads {f['loads']:.2f} s", flush=True)
                kept = best.setdefault(name, {}).setdefault(fmt, dict(f))
                for key in ("floor", "read", "dumps", "loads", "file_floor", "file_read"):
                    kept[key] = min(kept[key], f[key])
    print(f"best of {rounds} (CPU seconds), {sum(f['files'] for f in next(iter(best.values())).values())} files, "
          f"batches of {batch_size}:")
    for name, formats in best.items():
        floor = sum(f["floor"] for f in formats.values())
        read = sum(f["read"] for f in formats.values())
        dumps = sum(f["dumps"] for f in formats.values())
        loads = sum(f["loads"] for f in formats.values())
        per = ", ".join(f"{fmt} {f['read']:.2f} / {f['floor']:.2f}" for fmt, f in formats.items())
        print(f"  {name:4}: floor {floor:.2f} s, read {read:.2f} s, read / floor {read / floor:.3f} "
              f"(read / floor by format: {per}); worker's dumps {dumps:.2f} s, flow process's loads {loads:.2f} s; "
              f"read + dumps + loads {read + dumps + loads:.2f} s")
    if file_rounds:
        print(f"each file's best of {file_rounds} x {rounds} rounds, floor and pipeline read back to back (CPU ms per file; "
              "above: read - floor):")
        for name, formats in best.items():
            per = ", ".join(f"{fmt} {f['file_read'] / f['files'] * 1e3:.3f} - {f['file_floor'] / f['files'] * 1e3:.3f} = "
                            f"{(f['file_read'] - f['file_floor']) / f['files'] * 1e3:.3f}" for fmt, f in formats.items())
            above = sum(f["file_read"] - f["file_floor"] for f in formats.values())
            print(f"  {name:4}: {per}; above the floor in all {above:.3f} s")
    if {"base", "now"} <= best.keys():
        total = {name: sum(f["read"] + f["dumps"] + f["loads"] for f in formats.values()) for name, formats in best.items()}
        print(f"  read + dumps + loads, now / base: {total['now'] / total['base']:.3f}")
        if file_rounds:
            above = {name: sum(f["file_read"] - f["file_floor"] for f in formats.values()) for name, formats in best.items()}
            print(f"  each file's read above its floor, now / base: {above['now'] / above['base']:.3f} "
                  f"({above['base']:.3f} -> {above['now']:.3f} s)")
        same = digests["base"] == digests["now"]
        print(f"  the reads' digests: {'equal' if same else 'DIFFERENT'} ({digests['now'][:16]})")


def _counts(text: str) -> dict[str, int]:
    """"csv=3000,xlsx=1000" -> {"csv": 3000, "xlsx": 1000}."""
    return {fmt.strip().lower(): int(n) for fmt, _, n in (part.partition("=") for part in text.split(","))}


def sample_of(workload: Path, counts: dict[str, int], into: Path) -> Path:
    """A workload folder of `counts` files per format of `workload`'s inbox (evenly spaced in name
    order), as symbolic links, beside a link to its registry. The workload is not written to."""
    inbox = into / "inbox"
    inbox.mkdir(parents=True)
    os.symlink((workload / "registry").resolve(), into / "registry")
    names = sorted(p.name for p in (workload / "inbox").iterdir() if p.is_file())
    for fmt, count in counts.items():
        of_format = [n for n in names if n.lower().endswith(f".{fmt}")]
        step = max(len(of_format) / max(count, 1), 1.0)
        for k in range(min(count, len(of_format))):
            name = of_format[int(k * step)]
            os.symlink((workload / "inbox" / name).resolve(), inbox / name)
    return into


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--now-batch-size", type=int, default=None)
    parser.add_argument("--against-floor", type=int, metavar="PILOTS", default=None)
    parser.add_argument("--workload", type=Path, default=None,
                        help="with --against-floor: a workload already written (its registry/ and inbox/)")
    parser.add_argument("--sample", default=None, metavar="csv=N,xlsx=N,json=N",
                        help="with --against-floor: that many files of each format, evenly spaced in name order; "
                             "each file also timed alone (--file-rounds)")
    parser.add_argument("--file-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from pilots.demo import write_demo

    if args.against_floor:
        with tempfile.TemporaryDirectory(prefix="pilotkpi-readpath-") as tmp:
            trees = {"base": tree_at(args.base, Path(tmp) / "base"), "now": ROOT}
            folder = args.workload
            if folder is None:
                from bench import workload

                folder = Path(tmp) / f"national-{args.against_floor}"
                workload.write_workload(folder, args.against_floor)
            if args.sample:
                folder = sample_of(folder, _counts(args.sample), Path(tmp) / "sample")
            _against_floor(trees, folder, args.rounds, args.now_batch_size or args.batch_size,
                           args.file_rounds if args.sample else 0)
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
