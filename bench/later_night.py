"""The 1%-new night, main against this checkout, paired (issue 22; engineer I's incremental marts).

    .venv/bin/python -m bench.later_night [--pilots 100] [--against main] [--pairs 3] [--work DIR] [--workload DIR]

Each tree (a revision's code taken out of git, and this checkout) gets its own first night of the
national workload (bench/workload.py) with its own code, so each warehouse has its own
bookkeeping. Then, in turns (main, branch, main, branch, ...: the machine's load hits both alike),
a copy of each first night gets the 1% new files and runs the next night, as of one day later, in
a child process that has started Prefect's server and imported GE first, as a served night's warm
process has (flows/warm.py): the night is timed from the flow's call to its return. Printed per
tree: wall and CPU seconds (median of the pairs), the stages (warehouse/stages.py), and a SHA-256
of every mart, which must be the same for both trees (the results do not change, only their cost).

Then each copy runs the quiet night after it (nothing new, as of one more day later), measured the
same way. After both nights the pages in OUT (summaries, pilot pages, letters; not the hidden
caches nor the validation report, which names its run) are hashed, and must be the same bytes on
both trees.
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
from pathlib import Path

from bench import workload
from bench.measure import machine
from bench.paired import tree_at
from bench.small_nights import _workload

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("flows", "kpis", "pilots", "warehouse", "bench")

# Runs in a tree: argv = registry inbox warehouse out as_of days_later stage_log prefect_home
NIGHT = r"""
import json, os, sys, time, warnings
from datetime import date, timedelta
from pathlib import Path
registry, inbox, warehouse, out, as_of, days, log, home = sys.argv[1:9]
os.environ.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
                  DO_NOT_TRACK="1", GX_ANALYTICS_ENABLED="false", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90")
import flows.nightly as nightly
from prefect import flow
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import great_expectations  # noqa: F401  as the warm process of `pilotkpi serve` has it

@flow
def warm_up():
    return 1

warm_up()  # Prefect's temporary server started, its engine warm
# CPU seconds (every thread of the process: DuckDB's too) of the marts and of the summaries, since
# a busy machine makes their wall times meaningless. Measured around the functions the job calls.
import flows.cheap as cheap
cpu_of = {"marts": 0.0, "summaries": 0.0}

def _timed(kind, fn):
    def call(*a, **k):
        start = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            cpu_of[kind] += time.process_time() - start
    return call

nightly.build_marts = _timed("marts", nightly.build_marts)
cheap.build_model = _timed("summaries", cheap.build_model)
cheap.write_summaries = _timed("summaries", cheap.write_summaries)
if int(days) == 0:  # the first night: not measured
    os.environ.pop("PILOTKPI_STAGE_LOG", None)
else:
    os.environ["PILOTKPI_STAGE_LOG"] = log
wall, cpu = time.perf_counter(), time.process_time()
result = nightly.nightly(Path(registry), Path(inbox), Path(warehouse), Path(out),
                         as_of=date.fromisoformat(as_of) + timedelta(days=int(days)), settle_seconds=0)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
import duckdb, hashlib
con = duckdb.connect(warehouse, read_only=True)
marts = {t: hashlib.sha256(repr(con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall()).encode()).hexdigest()
         for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1").fetchall()}
con.close()
print(json.dumps({"wall": wall, "cpu": cpu, "cpu_of": cpu_of, "counts": result.counts, "marts": marts}))
"""


def night(tree: Path, wl: workload.Workload, folder: Path, inbox: Path, days: int) -> dict:
    log = folder / "stages.log"
    log.unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", NIGHT, str(wl.registry), str(inbox), str(folder / "warehouse.duckdb"),
                          str(folder / "out"), wl.as_of.isoformat(), str(days), str(log), str(folder / "prefect-home")],
                         check=True, capture_output=True, text=True, cwd=tree,
                         env={"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1", "PATH": "/usr/bin:/bin",
                              "HOME": os.environ.get("HOME", "/tmp")})
    # The report is the last thing printed; a progress bar printed before it without its newline
    # (tqdm's, under load) can share its line: the report is read from its own start.
    report = json.loads(out.stdout[out.stdout.rindex('{"wall"'):])
    stages: dict[str, float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            kind, name, value = line.split()[:3]
            if kind == "stage":
                stages[name] = stages.get(name, 0.0) + float(value)
    report["stages"] = {k: round(v, 3) for k, v in stages.items()}
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pilots", type=int, default=100)
    parser.add_argument("--against", default="main")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pilotkpi-later-night"))
    parser.add_argument("--workload", type=Path, default=None,
                        help="an existing bench/workload.py folder (registry, inbox, manifest.json) for --pilots")
    args = parser.parse_args(argv)
    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    wl = _workload(args.pilots, args.workload, work / "national")
    increment = work / "increment"
    increment.mkdir()
    new = workload.write_increment(work / "national", args.pilots, 0.01, increment)
    trees = {args.against: tree_at(args.against, work / "tree-against", FOLDERS), "branch": ROOT}
    firsts = {}
    for name, tree in trees.items():  # each tree's own first night (not measured)
        first = work / f"first-{name}"
        inbox = shutil.copytree(wl.inbox, first / "inbox")
        night(tree, wl, first, inbox, 0)
        firsts[name] = first
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    quiet: dict[str, list[dict]] = {name: [] for name in trees}
    pages: dict[str, list[str]] = {name: [] for name in trees}
    load = [machine()]
    for pair in range(args.pairs):
        for name, tree in trees.items():
            folder = work / f"night-{name}"
            if folder.exists():
                shutil.rmtree(folder)
            shutil.copytree(firsts[name], folder)
            for f in increment.iterdir():
                shutil.copyfile(f, folder / "inbox" / f.name)
            runs[name].append(night(tree, wl, folder, folder / "inbox", 1))
            pages[name].append(pages_digest(folder / "out"))
            quiet[name].append(night(tree, wl, folder, folder / "inbox", 2))
            pages[name].append(pages_digest(folder / "out"))
    load.append(machine())
    marts = {name: (r[-1]["marts"], quiet[name][-1]["marts"]) for name, r in runs.items()}
    same = len({json.dumps(m, sort_keys=True) for m in marts.values()}) == 1
    same_pages = len({json.dumps(p) for p in pages.values()}) == 1
    print(f"{args.pilots} pilots; 1% new: {new['files']} files; {args.pairs} pairs; machine {load}")
    for title, nights in (("1%-new night", runs), ("quiet night", quiet)):
        print(title)
        _print(nights)
    print("every mart the same on both trees:", same)
    print("every page the same on both trees:", same_pages)
    if not (same and same_pages):
        sys.exit(1)


def pages_digest(out: Path) -> str:
    """SHA-256 over every page in OUT (its path and bytes), the hidden caches left out, and the
    validation report, which names its run (a run id has the time it started)."""
    h = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and not p.name.startswith("validation")):
        h.update(str(path.relative_to(out)).encode() + b"\x00" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _print(runs: dict[str, list[dict]]) -> None:
    for name, r in runs.items():
        stages = {s: round(statistics.median(x["stages"].get(s, 0.0) for x in r), 3) for s in r[0]["stages"]}
        print(f"{name:>8}: wall {statistics.median(x['wall'] for x in r):.2f} s, "
              f"cpu {statistics.median(x['cpu'] for x in r):.2f} s, of which marts "
              f"{statistics.median(x['cpu_of']['marts'] for x in r):.3f} s and summaries "
              f"{statistics.median(x['cpu_of']['summaries'] for x in r):.3f} s "
              f"(medians; walls {[round(x['wall'], 2) for x in r]}, cpus {[round(x['cpu'], 2) for x in r]}); "
              f"stages {stages}")


if __name__ == "__main__":
    main()
