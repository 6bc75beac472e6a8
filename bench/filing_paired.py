"""Filing away in the child (pilots/filing.py) alone, paired (issue 22, engineer H): a base
revision against this work tree, in one command.

    python -m bench.filing_paired [--files 20000] [--base main] [--rounds 6] [--work DIR]

Each round, the trees taking turns (the order alternating between rounds), each tree in a fresh
Python process of its own code (bench/paired.py): N small files written into a fresh inbox, their
InboxFiles made (SHA-256), then `pilots.filing.file_away` with the child's threshold at one file.
Per run: its wall seconds and the CPU seconds of its children (the filing child: its start, its
import and its moves). Every run must file all N files. What it measures: the cost of the
child's note before each move (the night's honest count after a failed child).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.paired import run_in, tree_at

ROOT = Path(__file__).resolve().parent.parent

ONE = r"""
import hashlib, json, os, resource, sys, time
from pathlib import Path
os.environ["PILOTKPI_FILING_PROCESS_FILES"] = "1"
from pilots import filing
from pilots.inbox import InboxFile
inbox, n = Path(sys.argv[1]), int(sys.argv[2])
inbox.mkdir(parents=True)
files = []
for i in range(n):
    data = f"line {i}\n".encode() * 20
    path = inbox / f"r{i:06d}.csv"
    path.write_bytes(data)
    files.append((InboxFile(path.name, path, hashlib.sha256(data).hexdigest(), len(data), None),
                  "quarantined" if i % 7 == 0 else "accepted"))
before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
moved = filing.file_away(files, inbox)
wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
assert len(moved) == n, len(moved)
print(json.dumps({"wall": round(wall, 3),
                  "child_cpu": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)}))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.gettempdir()) / "pilotkpi-filing-paired"
    shutil.rmtree(work, ignore_errors=True)
    trees = {args.base: tree_at(args.base, work / "base", ("pilots", "warehouse")), "work tree": ROOT}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
            load = os.getloadavg()[0]
            shutil.rmtree(work / "inbox", ignore_errors=True)
            runs[name].append({**run_in(trees[name], ONE, work / "inbox", args.files), "load_before": round(load, 2)})
            print(f"round {r + 1} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"files": args.files, "base": args.base, "rounds": args.rounds, "median": {
        name: {key: round(statistics.median(run[key] for run in done), 3) for key in ("wall", "child_cpu")}
        for name, done in runs.items()}, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
