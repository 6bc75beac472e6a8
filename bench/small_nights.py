"""The CLI's small nights, paired (issue 22, engineer Q): the quiet night and the 1%-new night of
`pilotkpi run`, a base revision against this work tree, timed as bench/run.py times them.

    python -m bench.small_nights [--pilots 100] [--base main] [--rounds 3] [--work DIR] [--workload DIR]

Each tree prepares its own warehouse once: the full first night of bench/workload.py's workload
(as-of the workload's date), then the next night with 1% new files (as-of one day later), as
bench/run.py runs them. Then, --rounds times, in alternating order (a change of the machine's
load hits both alike), each tree runs on a fresh copy of its prepared state:
- the quiet night: nothing new, as-of two days later;
- the 1%-new night again: the copy taken after the full night, the same new files, as-of +1.
Every night is `bench.measure.timed_run`: wall seconds, `wall_without_server_start` (the wall
less the `server_start` stage, the figure the national bench divides by the floor), the stages
and `other_seconds`; and the CPU seconds of the night's whole process tree: the job, Prefect's
server and its watchdog (getrusage of this process's children, before and after). A job need
not wait for its server to stop (flows/ephemeral.py: its watchdog stops it after the job), so
this process is a child subreaper (Linux prctl): the processes that outlive the job are
re-parented here and waited for after the night, outside its wall time, their CPU seconds counted
all the same, and the next night never runs beside them. After each night its tables
(registry.*, ingest.*, core.*, marts.*; run ids and times left out) and its summary pages are
hashed: both trees must give the same hashes (`same results`).
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench import measure, workload
from bench.paired import tree_at
from bench.second_core import QUIET, results_hash

ROOT = Path(__file__).resolve().parent.parent
CODE = ("flows", "kpis", "pilots", "warehouse", "web")


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _adopt_orphans() -> None:
    """Make this process the one that the night's orphans (its server, its watchdog) are re-parented to."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _wait_for_orphans() -> None:
    """Wait for every process left from the night (this process has no other child then)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _registry_hash(warehouse: Path) -> str:
    import duckdb

    digest = hashlib.sha256()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for (table,) in con.execute("SELECT DISTINCT table_name FROM duckdb_tables() WHERE database_name = "
                                    "current_database() AND schema_name = 'registry' ORDER BY ALL").fetchall():
            digest.update(f"{table} {con.execute(f'SELECT * FROM registry.{table} ORDER BY ALL').fetchall()}".encode())
    finally:
        con.close()
    return digest.hexdigest()


def _pages_hash(out: Path) -> str:
    digest = hashlib.sha256()
    for page in sorted(out.glob("summary.*")):
        digest.update(page.name.encode() + page.read_bytes())
    return digest.hexdigest()


class Tree:
    """One tree's code, its prepared states and its nights."""

    def __init__(self, name: str, code: Path, wl: workload.Workload, work: Path, increment: Path):
        self.name, self.code, self.wl, self.work, self.increment = name, code, wl, work, increment
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PILOTKPI_"))}, **QUIET,
                    "PYTHONPATH": str(code), "PREFECT_HOME": str(work / "prefect-home")}

    def run(self, state: Path, days: int, files: int = 0, lines: int = 0) -> dict:
        """`pilotkpi run` on the warehouse in `state`, as-of the workload's date + days; timed."""
        args = ["run", "--registry", str(self.wl.registry), "--inbox", str(state / "inbox"), "--warehouse",
                str(state / "w.duckdb"), "--out", str(state / "out"), "--as-of",
                (self.wl.as_of + timedelta(days=days)).isoformat(), "--settle-seconds", "0"]
        saved, measure.ROOT = measure.ROOT, self.code  # timed_run runs `python -m flows.cli` from ROOT
        cpu, load = _children_cpu(), os.getloadavg()[0]
        try:
            night = measure.timed_run(args, self.env, self.work / "stages.log", files, lines)
        finally:
            measure.ROOT = saved
            _wait_for_orphans()  # after the wall time, before the CPU seconds are read
        night["cpu_seconds"] = round(_children_cpu() - cpu, 3)
        if night["exit_code"] != 0:
            raise SystemExit(f"{self.name}: exit {night['exit_code']}\n{night['stdout']}\n{night['stderr']}")
        night["load_before"] = round(load, 2)
        night["hashes"] = {"tables": results_hash(state / "w.duckdb"), "registry": _registry_hash(state / "w.duckdb"),
                           "pages": _pages_hash(state / "out")}
        for bulky in ("rss_curve", "stdout", "stderr"):
            night.pop(bulky)
        return night

    def prepare(self) -> None:
        """The full first night, then the 1%-new night: kept as `after-full` and `after-1pct`."""
        full = self.work / "after-full"
        shutil.rmtree(self.work, ignore_errors=True)
        full.mkdir(parents=True)
        shutil.copytree(self.wl.inbox, full / "inbox")
        self.run(full, 0)
        one = self.work / "after-1pct"
        shutil.copytree(full, one)
        self._add_increment(one / "inbox")
        self.run(one, 1)

    def _add_increment(self, inbox: Path) -> None:
        for f in self.increment.iterdir():
            shutil.copy2(f, inbox / f.name)

    def night(self, kind: str, new: dict) -> dict:
        copy = self.work / "night"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.work / ("after-1pct" if kind == "quiet" else "after-full"), copy)
        if kind == "quiet":
            return self.run(copy, 2)
        self._add_increment(copy / "inbox")
        return self.run(copy, 1, new["files"], new["lines"])


def _workload(pilots: int, folder: Path | None, work: Path) -> workload.Workload:
    folder = folder or work / f"workload-p{pilots}"
    if (folder / "manifest.json").exists():
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return workload.Workload(folder / "registry", folder / "inbox", workload.AS_OF, manifest)
    return workload.write_workload(folder, pilots)


def paired_parser(description: str, pilots: int, rounds: int, rounds_help: str | None = None) -> argparse.ArgumentParser:
    """The options every paired bench of later nights takes (here, bench/served_paired.py,
    bench/server_start.py): what `paired_start` reads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pilots", type=int, default=pilots)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=rounds, help=rounds_help)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--workload", type=Path, default=None,
                        help="an existing bench/workload.py folder (registry, inbox, manifest.json) for --pilots")
    return parser


def paired_start(args: argparse.Namespace, name: str) -> tuple[Path, workload.Workload, Path, dict, Path]:
    """What a paired bench of later nights sets up first (here and bench/served_paired.py): its work
    folder, the workload for --pilots, a fresh 1%-new increment (and its counts), and the code of
    the tree at --base, taken out of git."""
    work = args.work or Path(tempfile.gettempdir()) / f"pilotkpi-{name}-p{args.pilots}"
    work.mkdir(parents=True, exist_ok=True)
    wl = _workload(args.pilots, args.workload, work)
    increment = work / "increment"
    shutil.rmtree(increment, ignore_errors=True)
    new = workload.write_increment(work / "increment-plan", args.pilots, 0.01, increment)
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    tree_at(args.base, base, CODE)
    return work, wl, increment, new, base


def _summary(nights: list[dict]) -> dict:
    def median(key: str) -> float:
        return round(statistics.median(n[key] for n in nights), 3)
    def stage(name: str) -> float:
        return round(statistics.median(n["stages"].get(name, 0.0) for n in nights), 3)
    # The stages of the small nights' fixed costs beside the totals (the checkpoint before
    # publishing is part of "other": bench/measure.py's top stages leave it out).
    return {"wall": median("wall_seconds"), "less_server_start": median("wall_without_server_start"),
            "other": median("other_seconds"), "cpu": median("cpu_seconds"), "server_start": stage("server_start"),
            **{name: stage(name) for name in ("marts", "summaries", "publish", "checkpoint")}}


def print_paired(args: argparse.Namespace, results: dict, kinds: tuple[str, ...], summary) -> None:
    """A paired bench's report on stdout: whether every night of a kind left the same hashes in
    both trees, each tree's medians (`summary` of its nights of a kind), and every night."""
    same = {kind: len({json.dumps(n["hashes"], sort_keys=True) for t in results.values() for n in t[kind]}) == 1
            for kind in kinds}
    print(json.dumps({"pilots": args.pilots, "base": args.base, "rounds": args.rounds, "same_results": same,
                      "median": {name: {kind: summary(n) for kind, n in by_kind.items()}
                                 for name, by_kind in results.items()},
                      "nights": results}, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = paired_parser(__doc__.split("\n\n")[0], pilots=100, rounds=3)
    args = parser.parse_args(argv)
    _adopt_orphans()
    work, wl, increment, new, base = paired_start(args, "small-nights")
    trees = [Tree(args.base, base, wl, work / "state-base", increment),
             Tree("work tree", ROOT, wl, work / "state-work", increment)]
    for tree in trees:
        tree.prepare()
    results: dict[str, dict[str, list]] = {t.name: {"quiet": [], "one_percent": []} for t in trees}
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            for kind in ("quiet", "one_percent"):
                night = tree.night(kind, new)
                results[tree.name][kind].append(night)
                print(f"round {r + 1} {tree.name} {kind}: wall {night['wall_seconds']} s, less the server's start "
                      f"{night['wall_without_server_start']} s, CPU {night['cpu_seconds']} s, load "
                      f"{night['load_before']}, stages {night['stages']}", file=sys.stderr, flush=True)
    print_paired(args, results, ("quiet", "one_percent"), _summary)


if __name__ == "__main__":
    main()
