"""The full night on both cores (issue 22, engineer P): `pilotkpi run` of a base revision against
this work tree, paired, over the same inbox, with what each wrote hashed.

    python -m bench.second_core [--pilots 100] [--base main] [--rounds 2] [--work DIR] [--extra ARGS]
                                [--workload /tmp/W400]

It writes (or reuses) bench/workload.py's workload for --pilots, then each round runs the full
first night of the tree at `--base` (its flows, kpis, pilots, warehouse and web folders, taken out
of git) and of the work tree, in turn (the order alternates between rounds, so a change of the
machine's load hits both alike), each on a fresh warehouse and a fresh copy of the inbox, on
Prefect's ephemeral server. For each night: wall seconds, CPU seconds of the whole process tree
(the flow process, Dask's workers, Prefect's server: psutil, sampled every 0.2 s, each process's
last reading), peak RSS of the tree and of each process (`by_process`: command, CPU s, MiB), the
stages (PILOTKPI_STAGE_LOG: `read_wait` is the flow process's wait for the worker, `read_fetch` its
fetch of reads the worker had finished, `read_here` its own reads), and the load average before it;
at the end, each tree's medians in one line. Every table the night wrote (ingest.*, core.*, every
mart; run ids and times left out) is hashed: both trees must give the same hash (`same results` in
the output).

`--extra` adds arguments to both runs (e.g. `--extra="--workers 0"` for the in-process night).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench import workload
from bench.paired import tree_at
from warehouse.stages import STAGE_LOG_ENV, read_peak_log, read_stage_log

ROOT = Path(__file__).resolve().parent.parent
CODE = ("flows", "kpis", "pilots", "warehouse", "web")
VOLATILE = {"run_id", "received_at", "changed_at"}
MIB = 1024 * 1024
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
         "PREFECT_LOGGING_LEVEL": "WARNING", "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false"}


class TreeSampler:
    """Peak RSS of a process tree and each process's CPU seconds, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.main = psutil.Process(pid)
        self.interval, self.cpu, self.peak_tree, self.peak_main = interval, {}, 0.0, 0.0
        self.peak: dict[int, float] = {}  # pid -> its own peak RSS (MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.main, *self.main.children(recursive=True)]
            except psutil.Error:
                return
            tree = 0.0
            for p in procs:
                try:
                    with p.oneshot():
                        rss, times = p.memory_info().rss / MIB, p.cpu_times()
                    # Read at every sample: a child first seen between its fork and its exec
                    # still shows its parent's command line (a Dask worker named flows.cli).
                    command = " ".join(p.cmdline())[:60]
                except psutil.Error:
                    continue
                tree += rss
                self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), rss)
                if p is self.main:
                    self.peak_main = max(self.peak_main, rss)
                self.cpu[p.pid] = (command, times.user + times.system)
            self.peak_tree = max(self.peak_tree, tree)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def results_hash(warehouse: Path) -> str:
    """SHA-256 of every row a night wrote (both stores), run ids and times left out."""
    import duckdb

    digest = hashlib.sha256()
    for path in (warehouse, warehouse.with_name(warehouse.stem + ".restricted.duckdb")):
        if not path.exists():
            continue
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = con.execute("SELECT DISTINCT schema_name, table_name FROM duckdb_columns() "
                                 "WHERE database_name = current_database() AND schema_name IN ('ingest', 'core', 'marts') "
                                 "ORDER BY ALL").fetchall()
            for schema, table in tables:
                columns = [c for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND "
                    "schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
                    if c not in VOLATILE]
                rows = con.execute(f'SELECT {", ".join(columns)} FROM {schema}.{table} ORDER BY ALL').fetchall()
                digest.update(f"{path.name} {schema}.{table} {columns} {len(rows)}\n".encode())
                for row in rows:
                    digest.update(repr(row).encode())
        finally:
            con.close()
    return digest.hexdigest()


def night(tree: Path, wl: workload.Workload, root: Path, extra: list[str]) -> dict:
    """One full first night of `tree`'s code in `root` (fresh): its figures and its results' hash."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    inbox = root / "inbox"
    shutil.copytree(wl.inbox, inbox)
    log = root / "stages.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PILOTKPI_"))}, **QUIET,
           "PYTHONPATH": str(tree), "PREFECT_HOME": str(root / "prefect-home"), STAGE_LOG_ENV: str(log)}
    args = [sys.executable, "-m", "flows.cli", "run", "--registry", str(wl.registry), "--inbox", str(inbox),
            "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", wl.as_of.isoformat(),
            "--settle-seconds", "0", *extra]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: exit {proc.returncode}\n{out[-2000:]}\n{err[-3000:]}")
    text = log.read_text(encoding="utf-8")
    kept = root.parent / "logs"  # each night's stage log, kept for a look at its order (`night` is reused)
    kept.mkdir(exist_ok=True)
    shutil.copy(log, kept / f"{tree.name}-{int(time.time())}.log")
    stages = {k: round(v, 2) for k, v in read_stage_log(text).items()}
    return {"wall_s": round(wall, 2), "cpu_s": round(sum(c for _, c in sampler.cpu.values()), 2),
            "by_process": sorted(((name, round(c, 2), round(sampler.peak.get(pid, 0.0), 1))
                                  for pid, (name, c) in sampler.cpu.items()), key=lambda x: -x[1]),
            "peak_tree_mib": round(sampler.peak_tree, 1), "peak_flow_mib": round(sampler.peak_main, 1),
            "peak_flow_by_stage": read_peak_log(text), "load_before": round(load, 2), "stages": stages,
            "hash": results_hash(root / "w.duckdb"), "summary": out.strip().splitlines()[1:2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pilots", type=int, default=100)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--extra", default="", help="more `pilotkpi run` arguments for both trees")
    parser.add_argument("--workload", type=Path, default=None,
                        help="an existing workload folder (registry/, inbox/, manifest.json; e.g. /tmp/W400), "
                             "read only: each night copies its inbox")
    args = parser.parse_args()
    work = args.work or Path(tempfile.gettempdir()) / f"pilotkpi-second-core-p{args.pilots}"
    folder = args.workload or work / f"workload-p{args.pilots}"
    if (folder / "manifest.json").exists():
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        wl = workload.Workload(folder / "registry", folder / "inbox", workload.AS_OF, manifest)
    elif args.workload:
        raise SystemExit(f"{folder}: no manifest.json (not a bench/workload.py workload)")
    else:
        wl = workload.write_workload(folder, args.pilots)
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    tree_at(args.base, base, CODE)
    trees = {args.base: base, "work tree": ROOT}
    results: dict[str, list] = {name: [] for name in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for name in order:
            results[name].append(night(trees[name], wl, work / "night", args.extra.split()))
            row = results[name][-1]
            print(f"round {r + 1} {name}: wall {row['wall_s']} s, CPU {row['cpu_s']} s, peak tree "
                  f"{row['peak_tree_mib']} MiB (flow {row['peak_flow_mib']}), load {row['load_before']}, "
                  f"stages {row['stages']}", flush=True)
    hashes = {row["hash"] for rows in results.values() for row in rows}
    for name, rows in results.items():
        print(f"{name}: {summary(rows)}", flush=True)
    print(json.dumps({"pilots": args.pilots, "files": wl.manifest["files"], "same_results": len(hashes) == 1,
                      "results": results}, indent=1))


SUMMED = ("server_start", "ingest", "read_wait", "read_fetch", "read_here", "read_ahead", "dask_start", "ge", "ge_warm")


def flow_cpu(row: dict) -> float:
    """CPU seconds of the night's own process (`flows.cli`), of the tree's `by_process`."""
    return sum(cpu for command, cpu, _ in row["by_process"] if "flows.cli" in command)


def summary(rows: list[dict]) -> str:
    """A tree's nights in one line: the median of each figure (`flow_cpu_s`: the flow process's
    own CPU), and the load averages they ran at. `read_wait` is the flow process's wait for the
    worker, `read_fetch` its taking of reads the worker had finished (their transfer, where not
    done in the background already, and their unpickling), `read_here` its own reads
    (flows/parallel.py)."""
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    figures = {"wall_s": median([r["wall_s"] for r in rows]), "cpu_s": median([r["cpu_s"] for r in rows]),
               "flow_cpu_s": median([flow_cpu(r) for r in rows]),
               **{name: median([r["stages"].get(name, 0.0) for r in rows]) for name in SUMMED},
               "peak_tree_mib": median([r["peak_tree_mib"] for r in rows]),
               "peak_flow_mib": median([r["peak_flow_mib"] for r in rows])}
    return f"medians {figures}, loads {[r['load_before'] for r in rows]}"


if __name__ == "__main__":
    main()
