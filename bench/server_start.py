"""The CLI's wait for Prefect's temporary server, paired (issue 22, engineer C): the first night on a
fresh PREFECT_HOME (Prefect creates and migrates its database) and the next night on the same home,
a base revision against this work tree.

    python -m bench.server_start [--pilots 10] [--base main] [--rounds 4] [--work DIR] [--workload DIR]

Each round, in alternating order (a change of the machine's load hits both alike), each tree:
a fresh PREFECT_HOME and a fresh copy of the workload's inbox; the full night (as-of the workload's
date), then the quiet night (two days later) on the same home and warehouse. Both are `pilotkpi run`
timed as bench/small_nights.py times them (`bench.measure.timed_run`; the night's orphans, its
server and watchdog, waited for after its wall time, their CPU seconds counted). Per night:
`server_start` (what the job waited for its server after its own imports: the figure in question),
`server_boot` (the server's launch to its API's first answer), wall seconds and the CPU seconds of
the night's process tree. Tables and pages are hashed: both trees must give the same.
A small workload is enough: the server's start does not depend on the inbox.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

from bench.small_nights import ROOT, Tree, _adopt_orphans, paired_start

KINDS = ("first", "later")


def _round(tree: Tree) -> dict[str, dict]:
    """The first night on a fresh Prefect home, then a later one on the same home."""
    shutil.rmtree(tree.work, ignore_errors=True)
    state = tree.work / "night"
    state.mkdir(parents=True)
    shutil.copytree(tree.wl.inbox, state / "inbox")
    return {"first": tree.run(state, 0), "later": tree.run(state, 2)}


def _summary(nights: list[dict]) -> dict:
    def median(values) -> float:
        return round(statistics.median(values), 3)
    return {"server_start": median(n["stages"].get("server_start", 0.0) for n in nights),
            "server_boot": median(n["stages"].get("server_boot", 0.0) for n in nights),
            "wall": median(n["wall_seconds"] for n in nights), "cpu": median(n["cpu_seconds"] for n in nights)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pilots", type=int, default=10)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--workload", type=Path, default=None,
                        help="an existing bench/workload.py folder (registry, inbox, manifest.json) for --pilots")
    args = parser.parse_args(argv)
    _adopt_orphans()
    work, wl, increment, _, base = paired_start(args, "server-start")
    trees = [Tree(args.base, base, wl, work / "state-base", increment),
             Tree("work tree", ROOT, wl, work / "state-work", increment)]
    results: dict[str, dict[str, list]] = {t.name: {kind: [] for kind in KINDS} for t in trees}
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            for kind, night in _round(tree).items():
                results[tree.name][kind].append(night)
                print(f"round {r + 1} {tree.name} {kind}: server_start {night['stages'].get('server_start')} s, "
                      f"server_boot {night['stages'].get('server_boot')} s, wall {night['wall_seconds']} s, "
                      f"CPU {night['cpu_seconds']} s, load {night['load_before']}", file=sys.stderr, flush=True)
    same = {kind: len({json.dumps(n["hashes"], sort_keys=True) for t in results.values() for n in t[kind]}) == 1
            for kind in KINDS}
    print(json.dumps({"pilots": args.pilots, "base": args.base, "rounds": args.rounds, "same_results": same,
                      "median": {name: {kind: _summary(n) for kind, n in kinds.items()}
                                 for name, kinds in results.items()},
                      "nights": results}, indent=1))


if __name__ == "__main__":
    main()
