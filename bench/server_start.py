"""The CLI's wait for Prefect's temporary server, paired (issue 22, engineer C): the first night on a
fresh PREFECT_HOME (Prefect creates and migrates its database) and the next night on the same home,
a base revision against this work tree.

    python -m bench.server_start [--pilots 10] [--base main | --no-base] [--rounds 4] [--work DIR] [--workload DIR]

Each round, in alternating order (a change of the machine's load hits both alike), each tree:
a fresh PREFECT_HOME and a fresh copy of the workload's inbox; the full night (as-of the workload's
date), then the quiet night (two days later) on the same home and warehouse. Both are `pilotkpi run`
timed as bench/small_nights.py times them (`bench.measure.timed_run`; the night's orphans, its
server and watchdog, waited for after its wall time, their CPU seconds counted). Per night:
`server_start` (what the job waited for its server after its own imports: the figure in question),
`server_boot` (the server's launch to its API's first answer), wall seconds and the CPU seconds of
the night's process tree. Tables and pages are hashed: both trees must give the same.
A small workload is enough: the server's start does not depend on the inbox.

`--server-only`: no night, only each tree's `flows.ephemeral.TemporaryServer` launched and waited
for (its health route, then its API's first answer, as `ready` does), on a fresh home and then on
the same home again: the server process's CPU seconds at that answer (/proc/PID/stat), the figure
least moved by the machine's load, and the wall seconds.

`--no-base`: this work tree alone, no base taken out of git and nothing paired (`base` is null in
the report): a smoke run of the bench itself (tests/test_bench_smoke.py), no figure to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.paired import tree_at
from bench.second_core import QUIET
from bench.small_nights import CODE, ROOT, Tree, _adopt_orphans, _workload, paired_parser, paired_start, print_paired

KINDS = ("first", "later")

# Run with a tree's code first on the path: its TemporaryServer, launched and waited for by hand
# (no job, no stage log); the server's CPU seconds when its API first answered.
SERVER_ONLY = r"""
import json, os, sys, time
import httpx
from flows.ephemeral import TemporaryServer
def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
server = TemporaryServer()
start = time.perf_counter()
server.launch()
getattr(server, "serve", lambda: None)()  # a tree with the serve gate (flows/ephemeral.py): serve at once
with httpx.Client() as client:
    while True:
        try:
            if client.get(f"{server.api_url}/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    client.get(f"{server.api_url}/admin/version").raise_for_status()
print(json.dumps({"wall": round(time.perf_counter() - start, 3), "server_cpu": cpu(server.process.pid)}))
server.stop()
"""


def _server_only(code: Path, home: Path) -> dict:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PILOTKPI_"))}, **QUIET,
           "PYTHONPATH": str(code), "PREFECT_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", SERVER_ONLY], env=env, cwd=code, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def server_only(args: argparse.Namespace) -> None:
    work = args.work or Path(tempfile.gettempdir()) / "pilotkpi-server-start"
    trees = {"work tree": ROOT}
    if args.base is not None:
        base = work / "base"
        shutil.rmtree(base, ignore_errors=True)
        trees = {args.base: tree_at(args.base, base, CODE), **trees}
    results = {name: {kind: [] for kind in KINDS} for name in trees}
    for r in range(args.rounds):
        for name, code in (list(trees.items()) if r % 2 == 0 else list(trees.items())[::-1]):
            home = work / "home"
            shutil.rmtree(home, ignore_errors=True)
            for kind in KINDS:
                start = _server_only(code, home)
                results[name][kind].append(start)
                print(f"round {r + 1} {name} {kind}: {start}, load {os.getloadavg()[0]:.2f}", file=sys.stderr,
                      flush=True)
    print(json.dumps(server_only_report(args.base, args.rounds, results), indent=1))


def server_only_report(base: str | None, rounds: int, results: dict[str, dict[str, list[dict]]]) -> dict:
    """`--server-only`'s report: each tree's median wall and server CPU seconds by kind, and every start."""
    return {"base": base, "rounds": rounds, "median": {
        name: {kind: {key: round(statistics.median(s[key] for s in starts), 3) for key in ("wall", "server_cpu")}
               for kind, starts in kinds.items()} for name, kinds in results.items()}, "starts": results}


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


def parser() -> argparse.ArgumentParser:
    options = paired_parser(__doc__.split("\n\n")[0], pilots=10, rounds=4)
    options.add_argument("--server-only", action="store_true",
                         help="only each tree's temporary server, started and waited for (no night)")
    options.add_argument("--no-base", dest="base", action="store_const", const=None,
                         help="this work tree alone: no base out of git, nothing paired (a smoke run)")
    return options


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.server_only:
        return server_only(args)
    _adopt_orphans()
    if args.base is None:
        work = args.work or Path(tempfile.gettempdir()) / f"pilotkpi-server-start-p{args.pilots}"
        work.mkdir(parents=True, exist_ok=True)
        # No increment: this bench's nights add no files (Tree keeps the path, never reads it).
        trees = [Tree("work tree", ROOT, _workload(args.pilots, args.workload, work), work / "state-work",
                      work / "increment")]
    else:
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
    print_paired(args, results, KINDS, _summary)


if __name__ == "__main__":
    main()
