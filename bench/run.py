"""`make bench`: the national benchmark of issues 12 and 22, in one process tree and one run.

    python -m bench.run [--pilots 400] [--work DIR] [--results bench/results]

1. writes the workload (bench/workload.py) for --pilots pilots, and two copies of its inbox;
2. the floor: every file read once, in this process, by the cheapest honest means (bench/measure.py);
3. the nights as they happen, on Prefect's ephemeral server: the full first night on a fresh
   warehouse; the next night with 1% new files (revisions), its as-of one day later; a quiet
   night (nothing new) one more day later; before each later night what the one before wrote
   is flushed to disk, as a day later (a_day_later);
4. the same three nights on a second warehouse against a running `pilotkpi server`, as production
   runs them: `pilotkpi serve` holds the deployment and each night is a `run_deployment`, waited
   for (bench/served.py; warm nights, flows/warm.py), unless --no-server;
5. the full first night in one process (`--workers 0`) on a third warehouse, unless --no-workers:
   the nights above read on a second process by default (a local Dask cluster of one worker, for
   2,000 new files or more: flows/parallel.py), so this is the night without it, for the ratio;
6. every query of docs/analyst-guide.md on the published copy, p50/p95 over 20 runs;
7. the full night of a quarter of the workload (--pilots/4): peak RSS at 25% against 100%,
   unless --no-quarter;
8. the reader micro-benchmark (bench/micro.py);
9. Prefect's fixed cost of a night (bench/prefect_floor.py), after the nights of each server: one
   flow run with one task run and nothing of ours, a cold process on its temporary server as
   `pilotkpi run` starts it, and a warm served run of an empty deployment on the running server;
   the median of --prefect-floor-runs each. The 1%-new and quiet nights are printed less it.

Every ratio is printed in one table at the end. The pipeline's own read stage is reported beside
the floor: a floor slower than it is wrong, and the bench says so loudly (FLOOR_IS_WRONG).

It writes `<results>/<date>-<host>.json` and `.md` (the date in Bangkok, flows/clock.py) and
prints the Markdown. No figure is asserted here: tests/test_bench_smoke.py checks the structure
and that the counts agree with the workload's manifest.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench import measure, micro, prefect_floor, workload
from flows.clock import today_in_bangkok
from flows.settings import QUIET_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
TOP_STAGES = {  # the issue's stages -> the flow's stage names (warehouse/stages.py)
    "server start": ("server_start",),
    "  beside it: GE built (flows/early.py)": ("ge_warm",),
    "registry": ("registry",),
    "receive": ("settle", "receive"),
    "read": ("read",),  # on the Dask worker when the night reads on a second process (flows/parallel.py)
    "  second process: its start": ("dask_start",),
    "  second process: read waited for": ("read_wait",),
    "  second process: finished reads fetched": ("read_fetch",),
    "  read by the flow process itself": ("read_here",),
    "validate": ("validate",),
    "  of which GE": ("ge",),
    "write": ("write",),
    "marts": ("marts",),
    "summaries + validation report": ("validation_report", "summaries", "artifact"),
    "letters": ("letters",),
    "file away": ("file_away",),
    "publish": ("publish",),
}


FLOOR_IS_WRONG = "FLOOR_IS_WRONG"
PREFECT_FLOOR_IS_WRONG = "PREFECT_FLOOR_IS_WRONG"
QUIET_ON_A_RUNNING_SERVER_TARGET_S = 5.0
# Issue 22's before: GE took 74.1 s of a 291.7 s full night. Its target halves that share; the
# "before" column is the previous bench run, which may already be below it.
ISSUE_GE_SHARE = 74.1 / 291.7


def _ge_warm(stages: dict) -> str:
    """The part of GE's seconds built beside the server's start (flows/early.py), when there is one."""
    warm = stages.get("ge_warm", 0.0)
    return f", of which {warm:.1f} s built while the server starts" if warm else ""


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, **QUIET_DEFAULTS}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))  # never the user's ~/.prefect
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # this checkout's code
    return env


def _run_args(wl: workload.Workload, inbox: Path, warehouse: Path, out: Path, days_later: int = 0,
              *extra: str) -> list[str]:
    as_of = wl.as_of + timedelta(days=days_later)
    return ["run", "--registry", str(wl.registry), "--inbox", str(inbox), "--warehouse", str(warehouse),
            "--out", str(out), "--as-of", as_of.isoformat(), "--settle-seconds", "0", *extra]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_server(env: dict[str, str], fn) -> dict:
    """fn(env with PREFECT_API_URL) while a `pilotkpi server` we started runs; its start time too."""
    from flows.serve import wait_for_health

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    start = time.perf_counter()
    server = subprocess.Popen(measure.pilotkpi("server", "--port", str(port)), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_health(url, 180)
        started = time.perf_counter() - start
        result = fn({**env, "PREFECT_API_URL": url})
        result["running_server_start_seconds"] = round(started, 3)
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group, which we created
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _sizes(out: Path, warehouse: Path) -> dict:
    pages = {p.name: p.stat().st_size for p in sorted(out.glob("*.html"))}
    return {"pages_bytes": pages, "warehouse_bytes": warehouse.stat().st_size,
            "published_bytes": warehouse.with_name(warehouse.stem + ".published.duckdb").stat().st_size}


def _core_lines(published: Path) -> int:
    import duckdb

    con = duckdb.connect(str(published), read_only=True)
    try:
        return con.execute("SELECT (SELECT count(*) FROM core.kpi_actuals) + (SELECT count(*) FROM core.budget_lines)"
                           ).fetchone()[0]
    finally:
        con.close()


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _nights(wl: workload.Workload, inbox: Path, root: Path, env: dict[str, str], log: Path, new: dict,
            increment) -> dict:
    """The full first night on a fresh warehouse, the 1%-new night one day later, the quiet night
    one more day later: {name: timed run}."""
    warehouse, out = root / "warehouse.duckdb", root / "out"
    root.mkdir(parents=True, exist_ok=True)
    nights = {"full": measure.timed_run(_run_args(wl, inbox, warehouse, out, 0), env, log, wl.manifest["files"],
                                        wl.manifest["lines"])}
    increment(inbox)
    a_day_later()
    nights["one_percent"] = measure.timed_run(_run_args(wl, inbox, warehouse, out, 1), env, log, new["files"],
                                              new["lines"])
    a_day_later()
    nights["quiet"] = measure.timed_run(_run_args(wl, inbox, warehouse, out, 2), env, log, 0, 0)
    return nights


def a_day_later() -> None:
    """Between two nights: what the night before wrote is on disk (os.sync), as it is a day later
    when the next one runs. Without it the next night's first flush (its receive's os.sync,
    warehouse/evidence.py KeepBatch) wrote back the full night's ~200 MB still dirty in the page
    cache (the evidence store, the filed-away inbox, the warehouse and its published copy), and
    the kernel's writeback could take CPU from its first second: the served 1%-new night at 400
    pilots took 2.64 s in run 29, its receive's flush, its reads and its checkpoint all slower
    than in the runs before, and 2.01 s in run 30 with this (docs/scale-out.md). Then it waits (15 s at most) for the machine to be
    quiet (under 10% of its CPUs over half a second): a day later, no night's aftermath (the
    Prefect server's handling of its events, `serve`'s reaping) runs beside the next."""
    import psutil

    os.sync()
    deadline = time.monotonic() + 15
    while psutil.cpu_percent(interval=0.5) >= 10 and time.monotonic() < deadline:
        pass


def _served_nights(wl: workload.Workload, inbox: Path, root: Path, env: dict[str, str], new: dict, increment) -> dict:
    """The same three nights through `pilotkpi serve`'s deployment (bench/served.py), as the
    nightly schedule runs them: {name: night}, and `serve`'s start (until its deployment is
    registered, its nights' process ready) as serve_start_seconds."""
    from bench.served import serving

    with serving(wl.registry, inbox, root / "warehouse.duckdb", root / "out", env, root) as served:
        nights = {"full": served.night(wl.as_of, wl.manifest["files"], wl.manifest["lines"])}
        increment(inbox)
        a_day_later()
        nights["one_percent"] = served.night(wl.as_of + timedelta(days=1), new["files"], new["lines"])
        a_day_later()
        nights["quiet"] = served.night(wl.as_of + timedelta(days=2), 0, 0)
        nights["serve_start_seconds"] = round(served.start_seconds, 3)
    return nights


def bench(pilots: int, work: Path, *, server: bool = True, workers: bool = True, quarter: bool = True,
          analyst_runs: int = 20, micro_runs: int = 100, increment: float = 0.01, prefect_floor_runs: int = 3,
          save=lambda report: None) -> dict:
    """Every measurement of one benchmark; save(report) after each phase (a national run is long)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = _env(work)
    report: dict = {"schema": 2, "complete": False, "pilots": pilots, "date": today_in_bangkok().isoformat(),
                    "host": socket.gethostname(), "machine_at_start": measure.machine(), "python": sys.version.split()[0]}

    start = time.perf_counter()
    wl = workload.write_workload(work / "national", pilots)
    cp874 = wl.manifest.pop("cp874_files")
    # Each warehouse gets the inbox as it was first written (a run files its inbox away).
    inboxes = {"ephemeral": wl.inbox}
    for name, wanted in (("running_server", server), ("workers", workers)):
        if wanted:
            inboxes[name] = shutil.copytree(wl.inbox, work / f"inbox-{name}")
    report["workload"] = {**wl.manifest, "cp874_files": len(cp874),
                          "generate_seconds": round(time.perf_counter() - start, 3)}
    save(report)
    report["floor"] = measure.floor_read(wl.inbox)
    report["machine_after_floor"] = measure.machine()
    save(report)

    log = work / "stages.log"
    runs = report["runs"] = {}
    new: dict = {}

    def add_increment(inbox: Path) -> None:
        new.update(workload.write_increment(work / "national", pilots, increment, inbox))

    on_ephemeral = _nights(wl, inboxes["ephemeral"], work / "ephemeral", env, log, new, add_increment)
    runs.update(on_ephemeral)
    report["increment"] = {k: v for k, v in new.items() if k != "cp874_files"}
    warehouse = work / "ephemeral" / "warehouse.duckdb"
    published = warehouse.with_name(warehouse.stem + ".published.duckdb")
    report["warehouse"] = {**_sizes(work / "ephemeral" / "out", warehouse), "core_lines": _core_lines(published)}
    _check_floor(report)
    save(report)
    # On the PREFECT_HOME the nights used (migrated by the full night), as the later nights find it.
    floors = report["prefect_floor"] = {"cli": prefect_floor.cli_floor(env, prefect_floor_runs)}
    _check_prefect_floor(report, "cli", "")
    save(report)
    if server:
        def on_running_server(e: dict[str, str]) -> dict:
            nights = _served_nights(wl, inboxes["running_server"], work / "running-server", e, new, add_increment)
            floors["running_server"] = prefect_floor.served_floor(e, work / "prefect-floor-served", prefect_floor_runs)
            return nights

        on_server = _with_server(env, on_running_server)
        report["running_server_start_seconds"] = on_server.pop("running_server_start_seconds")
        report["serve_start_seconds"] = on_server.pop("serve_start_seconds")
        runs.update({f"{name}_running_server": night for name, night in on_server.items()})
        _check_prefect_floor(report, "running_server", "_running_server")
        save(report)
    if workers:
        runs["full_one_process"] = measure.timed_run(
            _run_args(wl, inboxes["workers"], work / "workers" / "warehouse.duckdb", work / "workers" / "out", 0,
                      "--workers", "0"), env, log, wl.manifest["files"], wl.manifest["lines"])
        save(report)
    report["analyst"] = measure.analyst_timings(published, analyst_runs)
    save(report)
    if quarter:
        q = max(1, pilots // 4)
        qwl = workload.write_workload(work / "quarter", q)
        runs["quarter_full"] = measure.timed_run(
            _run_args(qwl, qwl.inbox, work / "quarter" / "warehouse.duckdb", work / "quarter" / "out"), env, log,
            qwl.manifest["files"], qwl.manifest["lines"])
        runs["quarter_full"]["pilots"] = q
    report["micro_reader"] = micro.measure(micro_runs)
    report["machine_at_end"] = measure.machine()

    summarise(report)
    return report


def _check_floor(report: dict) -> None:
    """The floor reads what the pipeline's read stage reads, with less work: slower, it is wrong."""
    floor, read = report["floor"]["seconds"], report["runs"]["full"]["stages"].get("read")
    report["floor"]["pipeline_read_seconds"] = read
    if read is not None and floor > read:
        report["floor"]["wrong"] = True
        print(f"\n{FLOOR_IS_WRONG}: the floor took {floor:.1f} s, the pipeline's own read stage {read:.1f} s. "
              "The floor must not be slower than the pipeline's read: the floor is wrong.\n", file=sys.stderr,
              flush=True)


def _check_prefect_floor(report: dict, kind: str, suffix: str) -> None:
    """Prefect's floor is our cheapest night less all of ours: slower than that night, it is wrong."""
    floor, quiet = report["prefect_floor"][kind]["wall_seconds"], report["runs"].get(f"quiet{suffix}", {})
    if quiet.get("exit_code") == 0 and floor > quiet["wall_seconds"]:
        report["prefect_floor"][kind]["wrong"] = True
        print(f"\n{PREFECT_FLOOR_IS_WRONG}: Prefect alone ({kind}) took {floor:.2f} s, the quiet night "
              f"{quiet['wall_seconds']:.2f} s: the floor must not be slower than our cheapest night.\n",
              file=sys.stderr, flush=True)


def summarise(report: dict) -> dict:
    """The ratios and memory figures from the runs measured so far (a stopped run has fewer)."""
    runs, floor = report.get("runs", {}), report.get("floor", {}).get("seconds")
    wall = {name: run["wall_seconds"] for name, run in runs.items()}
    less_start = {name: run["wall_without_server_start"] for name, run in runs.items()}
    ratios = {}
    if "full" in runs:
        ratios["full_over_floor"] = _ratio(wall["full"], floor)
        ratios["full_without_server_start_over_floor"] = _ratio(less_start["full"], floor)
        ratios["pipeline_read_over_floor"] = _ratio(runs["full"]["stages"].get("read"), floor)
    for suffix in ("", "_running_server"):
        if f"one_percent{suffix}" in runs:
            ratios[f"one_percent_over_full{suffix}"] = _ratio(wall[f"one_percent{suffix}"], wall.get(f"full{suffix}"))
        if f"quiet{suffix}" in runs:
            ratios[f"quiet_without_server_start_over_floor{suffix}"] = _ratio(less_start[f"quiet{suffix}"], floor)
        prefect = report.get("prefect_floor", {}).get("cli" if not suffix else "running_server", {}).get("wall_seconds")
        if prefect is not None and f"one_percent{suffix}" in runs:
            # What is ours in the 1%-new night: its wall time less Prefect's fixed cost (bench/prefect_floor.py).
            ratios[f"one_percent_less_prefect_over_full{suffix}"] = _ratio(wall[f"one_percent{suffix}"] - prefect,
                                                                          wall.get(f"full{suffix}"))
    if "full_running_server" in runs:
        ratios["full_running_server_over_floor"] = _ratio(wall["full_running_server"], floor)
    if "full_one_process" in runs:
        ratios["full_one_process_over_floor"] = _ratio(wall["full_one_process"], floor)
        ratios["full_over_full_one_process"] = _ratio(wall.get("full"), wall["full_one_process"])
    report["ratios"] = ratios
    memory = {}
    if "full" in runs:
        memory.update(peak_full_mib=runs["full"]["peak_rss_tree_mib"], peak_full_main_mib=runs["full"]["peak_rss_main_mib"],
                      peak_full_pss_mib=runs["full"].get("peak_pss_tree_mib"))
    if "full_running_server" in runs:
        memory.update(peak_full_served_mib=runs["full_running_server"]["peak_rss_tree_mib"],
                      peak_full_served_pss_mib=runs["full_running_server"].get("peak_pss_tree_mib"))
    if "quarter_full" in runs:
        memory.update(peak_quarter_mib=runs["quarter_full"]["peak_rss_tree_mib"],
                      peak_quarter_main_mib=runs["quarter_full"]["peak_rss_main_mib"],
                      full_over_quarter=_ratio(memory.get("peak_full_mib"), runs["quarter_full"]["peak_rss_tree_mib"]))
    report["memory"] = memory
    return report


# A run's nights under the names of schema 2; schema 1 (issue 12's bench) had a no-op rerun of the
# same day where schema 2 has the quiet night one day later: shown in its place, and said so.
_BEFORE_NAMES = {"quiet": ("quiet", "noop"), "quiet_running_server": ("quiet_running_server", "noop_running_server")}


def before_figures(path: Path) -> dict:
    """The figures of an earlier results JSON, to print beside this run's ("before"): every night's
    wall time (and less the server's start), its floor, its peaks, its GE seconds and its load."""
    r = json.loads(path.read_text(encoding="utf-8"))
    nights, renamed = {}, []
    for name in ("full", "one_percent", "quiet", "full_running_server", "one_percent_running_server",
                 "quiet_running_server", "full_one_process", "quarter_full"):
        found = next((n for n in _BEFORE_NAMES.get(name, (name,)) if n in r.get("runs", {})), None)
        if found is None:
            continue
        run = r["runs"][found]
        nights[name] = {"wall_seconds": run["wall_seconds"],
                        "wall_without_server_start": run.get("wall_without_server_start", run["wall_seconds"]),
                        "ge_seconds": measure.ge_seconds(run.get("stages", {})) or None, "peak_rss_tree_mib": run.get("peak_rss_tree_mib")}
        if found != name:
            renamed.append(f"{found} for {name}")
    floor = r.get("floor") or r.get("bare_read") or {}
    return {"file": path.name, "date": r.get("date"), "pilots": r.get("pilots"), "floor_seconds": floor.get("seconds"),
            "load_average": (r.get("machine_at_start") or {}).get("load_average"), "nights": nights, "renamed": renamed}


def default_before(results: Path, pilots: int, exclude: Path) -> Path | None:
    """The newest complete results JSON of the same size in `results`, other than this run's."""
    found = []
    for path in sorted(results.glob("*.json")):
        if path == exclude or path.name.startswith("web-"):
            continue
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if r.get("pilots", 400 if "-p" not in path.stem else None) == pilots and r.get("complete") and r.get("runs"):
            found.append((r.get("date") or "", path.name, path))
    return max(found)[2] if found else None


def _less_prefect(r: dict, kind: str, night: str, suffix: str) -> str | None:
    """The 1%-new night less Prefect's fixed cost (bench/prefect_floor.py), with the cost beside it
    and the quiet night's share of it."""
    floor, runs = r.get("prefect_floor", {}).get(kind), r.get("runs", {})
    if floor is None or f"{night}{suffix}" not in runs:
        return None
    wall = runs[f"{night}{suffix}"]["wall_seconds"]
    quiet = runs.get(f"quiet{suffix}", {}).get("wall_seconds")
    wrong = f" **{PREFECT_FLOOR_IS_WRONG}: slower than the quiet night**" if floor.get("wrong") else ""
    return (f"{r['ratios'].get(f'{night}_less_prefect_over_full{suffix}')} ({wall:.2f} s less Prefect's "
            f"{floor['wall_seconds']:.2f} s, CPU {floor['cpu_seconds']:.2f} s, median of {len(floor['runs'])}"
            + (f"; the quiet night {quiet:.2f} s, {quiet - floor['wall_seconds']:.2f} s over it" if quiet else "")
            + f"){wrong}")


def _stage(run: dict, names: tuple[str, ...]) -> str:
    present = [run["stages"][n] for n in names if n in run["stages"]]
    return f"{sum(present):.2f}" if present else "–"


def _row(label: str, value: str | None, target: str, before: str | None = None, met: bool | None = None) -> str:
    shown = value if value is not None else "not measured"
    verdict = "–" if met is None else ("met" if met else "**missed**")
    return f"| {label} | {before or '–'} | {shown} | {target} | {verdict} |"


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _succeeded(r: dict) -> dict:
    """The report with its ratios of failed nights left out (a failed night is no figure)."""
    failed = [name for name, run in r.get("runs", {}).items() if run.get("exit_code", 0) != 0]
    if not failed:
        return r
    ratios = {k: v for k, v in r.get("ratios", {}).items() if not set(_RATIO_NIGHTS.get(k, ())) & set(failed)}
    return {**r, "ratios": ratios}


_RATIO_NIGHTS = {  # each ratio of summarise() -> the nights it is made of
    "full_over_floor": ("full",), "full_without_server_start_over_floor": ("full",),
    "pipeline_read_over_floor": ("full",), "one_percent_over_full": ("one_percent", "full"),
    "one_percent_over_full_running_server": ("one_percent_running_server", "full_running_server"),
    "one_percent_less_prefect_over_full": ("one_percent", "full"),
    "one_percent_less_prefect_over_full_running_server": ("one_percent_running_server", "full_running_server"),
    "quiet_without_server_start_over_floor": ("quiet",),
    "quiet_without_server_start_over_floor_running_server": ("quiet_running_server",),
    "full_running_server_over_floor": ("full_running_server",), "full_one_process_over_floor": ("full_one_process",),
    "full_over_full_one_process": ("full", "full_one_process"),
}


def markdown(r: dict) -> str:
    """The figures as Markdown, every target of issue 22 in one table with the before figures
    (an earlier results JSON, `before`) taken against this run's floor; a figure whose phase did
    not run says so."""
    r = _succeeded(r)
    wl, runs = r["workload"], r.get("runs", {})
    start = r["machine_at_start"]
    end = r.get("machine_at_end", {}).get("load_average")
    ratios, mem, floor = r.get("ratios", {}), r.get("memory", {}), r.get("floor")
    floor_s = (floor or {}).get("seconds")
    before = r.get("before") or {}
    was = before.get("nights", {})

    def night(name: str, ratio: str | None = None) -> str | None:
        if name not in runs:
            return None
        run = runs[name]
        if run.get("exit_code", 0) != 0:  # a failed night is no figure: say so, with its last line
            last = (run.get("stderr") or "").strip().splitlines()[-1:] or [""]
            return f"**failed** (exit {run['exit_code']} after {run['wall_seconds']:.1f} s: {last[0][:160]})"
        head = f"{ratios.get(ratio)} (" if ratio else ""
        return (f"{head}{run['wall_seconds']:.1f} s; {run['wall_without_server_start']:.1f} s without the server's "
                f"start" + (")" if ratio else ""))

    def then(name: str, over: str | None = "floor", less_start: bool = False) -> str | None:
        """The before night's seconds, as a ratio to this run's floor (or to the before full night)."""
        if name not in was:
            return None
        seconds = was[name]["wall_without_server_start" if less_start else "wall_seconds"]
        base = floor_s if over == "floor" else (was.get(over) or {}).get("wall_seconds") if over else None
        return f"{_ratio(seconds, base)} ({seconds:.1f} s)" if base else f"{seconds:.1f} s"

    read = runs.get("full", {}).get("stages", {}).get("read")
    duck = (floor or {}).get("duckdb_read_csv")
    quiet_served = runs.get("quiet_running_server", {}).get("wall_seconds")
    lines = [
        f"## {r['date']} on {r['host']} ({start['cpus']} cores, load average {start['load_average'][0]:.1f} at the "
        f"start" + (f", {end[0]:.1f} at the end)" if end else ")")
        + ("" if r.get("complete") else " — stopped before the end: later phases not measured"),
        "",
        f"Workload: {wl['pilots']} pilots, {wl['agencies']} agencies, {wl['files']:,} files, {wl['lines']:,} lines, "
        f"{wl['bytes'] / 1e6:.1f} MB ({', '.join(f'{k} {v}' for k, v in wl['by_format'].items())}; "
        f"{wl.get('cp874_files', 0)} CSV in Windows-874); "
        f"expected {', '.join(f'{k} {v}' for k, v in wl['expected'].items())}; generated in {wl['generate_seconds']:.0f} s.",
        "",
    ]
    if before:
        lines += [f"Before: `{before['file']}` ({before.get('pilots')} pilots, {before.get('date')}, load average "
                  f"{(before.get('load_average') or ['?'])[0]} at its start), its wall times divided by this run's "
                  f"floor" + (f"; {', '.join(before['renamed'])} (a same-day rerun, not a quiet night)"
                              if before.get("renamed") else "") + ".", ""]
    if floor and floor.get("wrong"):
        lines += [f"**{FLOOR_IS_WRONG}: the floor ({floor['seconds']:.1f} s) is slower than the pipeline's own read "
                  f"stage ({read:.1f} s).**", ""]
    ge_before = (was.get("full") or {}).get("ge_seconds")
    lines += [
        "| figure | before | now | target | |",
        "|---|---|---|---|---|",
        _row("floor: every file read once", f"{floor['seconds']:.1f} s (CPU {floor.get('cpu_seconds', 0):.1f} s; "
             f"{floor['files_per_s']} files/s, "
             f"{floor['lines_per_s']} lines/s; " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                                             floor["seconds_by_format"].items()) + ")"
             if floor else None, "–",
             f"{before['floor_seconds']:.1f} s (its floor)" if before.get("floor_seconds") else None),
        _row("the issue's CSV read: one DuckDB read_csv over the UTF-8 CSVs (union_by_name)",
             f"{duck['seconds']:.1f} s for {duck['files']:,} files, against {duck['python_csv_seconds']:.1f} s for "
             "all the CSVs with Python's csv: not the cheapest, so not the floor" if duck else None, "–"),
        _row("pipeline's own read stage (full night) ÷ floor",
             f"{ratios.get('pipeline_read_over_floor')} ({read:.1f} s)" if read is not None and floor else None,
             "≥ 1 (else the floor is wrong)", met=None if read is None or not floor else read >= floor_s),
        _row("full night ÷ floor", night("full", "full_over_floor"), "≤ 1.5", then("full"),
             _at_most(ratios.get("full_over_floor"), 1.5)),
        _row("1%-new next night (as-of +1 day) ÷ full night", night("one_percent", "one_percent_over_full"), "≤ 0.05",
             then("one_percent", "full"), _at_most(ratios.get("one_percent_over_full"), 0.05)),
        _row("  less Prefect's fixed cost (one flow, one task, nothing of ours) ÷ full night",
             _less_prefect(r, "cli", "one_percent", ""), "–"),
        _row("quiet night (as-of +2 days), less the server's start, ÷ floor",
             night("quiet", "quiet_without_server_start_over_floor"), "≤ 0.1", then("quiet", less_start=True),
             _at_most(ratios.get("quiet_without_server_start_over_floor"), 0.1)),
        _row("running server: full night ÷ floor", night("full_running_server", "full_running_server_over_floor"),
             "≤ 1.5", then("full_running_server"), _at_most(ratios.get("full_running_server_over_floor"), 1.5)),
        _row("running server: 1%-new night ÷ full night",
             night("one_percent_running_server", "one_percent_over_full_running_server"), "≤ 0.05",
             then("one_percent_running_server", "full_running_server"),
             _at_most(ratios.get("one_percent_over_full_running_server"), 0.05)),
        _row("  running server: less Prefect's fixed cost (a served empty flow) ÷ full night",
             _less_prefect(r, "running_server", "one_percent", "_running_server"), "–"),
        _row("running server: quiet night (÷ floor)",
             night("quiet_running_server", "quiet_without_server_start_over_floor_running_server"),
             f"≤ {QUIET_ON_A_RUNNING_SERVER_TARGET_S:.0f} s; ≤ 0.1 × floor", then("quiet_running_server"),
             None if quiet_served is None else (quiet_served <= QUIET_ON_A_RUNNING_SERVER_TARGET_S and bool(
                 _at_most(ratios.get("quiet_without_server_start_over_floor_running_server"), 0.1)))),
        _row("one process (`--workers 0`): full night ÷ floor", night("full_one_process", "full_one_process_over_floor")
             + f"; the default night (read on a second process) is {ratios.get('full_over_full_one_process')} of it"
             if "full_one_process" in runs else None, "–", then("full_one_process")),
        _row("peak RSS of the full night (process tree)", f"{mem['peak_full_mib']:.0f} MiB (flow process "
             f"{mem['peak_full_main_mib']:.0f} MiB" + (f"; PSS {mem['peak_full_pss_mib']:.0f} MiB" if mem.get("peak_full_pss_mib")
                                                       else "") + ")" if mem.get("peak_full_mib") else None, "≤ 1024 MiB",
             f"{was['full']['peak_rss_tree_mib']:.0f} MiB" if (was.get("full") or {}).get("peak_rss_tree_mib") else None,
             _at_most(mem.get("peak_full_mib"), 1024)),
        _row("running server: peak memory of the full night (serve's process tree)",
             f"PSS {mem['peak_full_served_pss_mib']:.0f} MiB (what the tree holds; its RSS sum "
             f"{mem['peak_full_served_mib']:.0f} MiB counts the pages a fork shares once per process)"
             if mem.get("peak_full_served_pss_mib") else None, "≤ 1024 MiB",
             f"RSS sum {was['full_running_server']['peak_rss_tree_mib']:.0f} MiB"
             if (was.get("full_running_server") or {}).get("peak_rss_tree_mib") else None,
             _at_most(mem.get("peak_full_served_pss_mib"), 1024)),
        _row("peak RSS at 25% of the workload", f"{mem['peak_quarter_mib']:.0f} MiB (100% ÷ 25%: "
             f"{mem['full_over_quarter']})" if "peak_quarter_mib" in mem else None, "within 20%",
             f"{was['quarter_full']['peak_rss_tree_mib']:.0f} MiB" if (was.get("quarter_full") or {}).get(
                 "peak_rss_tree_mib") else None,
             None if mem.get("full_over_quarter") is None else mem["full_over_quarter"] <= 1.2),
        _row("GE share of the full night", f"{runs['full']['ge_share_of_wall'] * 100:.0f}% "
             f"({measure.ge_seconds(runs['full']['stages']):.1f} s{_ge_warm(runs['full']['stages'])})" if "full" in runs else None,
             f"say it; halve the issue's {ISSUE_GE_SHARE * 100:.0f}% (≤ {ISSUE_GE_SHARE * 50:.1f}%)",
             f"{ge_before / was['full']['wall_seconds'] * 100:.0f}% ({ge_before:.1f} s)" if ge_before else None,
             None if "full" not in runs else runs["full"]["ge_share_of_wall"] <= ISSUE_GE_SHARE / 2),
    ]
    if "running_server_start_seconds" in r:
        lines += ["", f"The running server took {r['running_server_start_seconds']:.1f} s to start (not in its nights)"
                  + (f"; `pilotkpi serve` {r['serve_start_seconds']:.1f} s more (its nights' process imported, the "
                     "deployment registered), also not in its nights" if "serve_start_seconds" in r else "") + "."]
    served = {name: run for name, run in runs.items() if "start_seconds" in run}
    if served:
        lines += ["", "Served nights (running server): each from the runner's Pending to its end, as the Prefect "
                  "server stamped it; of which the night's process start (Pending to Running): "
                  + ", ".join(f"{name} {run['start_seconds']:.2f} s" for name, run in served.items())
                  + "; asked-for to seen-done, with the runner's 1 s poll: "
                  + ", ".join(f"{name} {run['client_seconds']:.1f} s" for name, run in served.items()) + "."]
    if runs:
        lines += ["", "Stages (seconds):", "", "| stage | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
        for label, names in TOP_STAGES.items():
            lines.append(f"| {label} | " + " | ".join(_stage(run, names) for run in runs.values()) + " |")
        for label, key, fmt in (("other (imports, Prefect, commit)", "other_seconds", "{:.2f}"),
                                ("**wall**", "wall_seconds", "**{:.2f}**"), ("files/s", "files_per_s", "{}"),
                                ("lines/s", "lines_per_s", "{}"), ("peak RSS MiB (tree)", "peak_rss_tree_mib", "{}"),
                                ("peak PSS MiB (tree: what it holds)", "peak_pss_tree_mib", "{}")):
            lines.append(f"| {label} | " + " | ".join(fmt.format(run.get(key)) for run in runs.values()) + " |")
    if r.get("analyst"):
        lines += ["", "Analyst guide queries on the published copy (p50/p95 of "
                  f"{r['analyst'][0]['runs']} runs; target p95 < 100 ms):", "",
                  "| question | rows | p50 ms | p95 ms |", "|---|---|---|---|"]
        lines += [f"| {a['question']} | {a['rows']} | {a['p50_ms']} | {a['p95_ms']} |" for a in r["analyst"]]
    if "warehouse" in r:
        pages = r["warehouse"]["pages_bytes"]
        lines += ["", f"Warehouse {r['warehouse']['warehouse_bytes'] / 1e6:.1f} MB; pages: "
                  + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in pages.items()) + "."]
    if "micro_reader" in r:
        m = r["micro_reader"]
        lines.append(f"Reader micro-benchmark: csv {m['csv_ms_per_file']} ms/file, xlsx {m['xlsx_ms_per_file']} ms/file.")
    return "\n".join(lines) + "\n"


def memory_only(pilots: int, work: Path) -> dict:
    """`--memory-only` (issue 22's bounded memory): the full first night at --pilots and at a
    quarter of it, each on a fresh warehouse and the ephemeral server; peak RSS of the process
    tree and of the flow process, and the flow process's peak at the end of each stage
    (warehouse/stages.py's `peak` lines). No floor, no later nights."""
    from warehouse.stages import read_peak_log

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env, log = _env(work), work / "stages.log"
    report: dict = {"pilots": pilots, "machine_at_start": measure.machine(), "runs": {}}
    for name, n in (("quarter_full", max(1, pilots // 4)), ("full", pilots)):
        wl = workload.write_workload(work / name, n)
        run = measure.timed_run(_run_args(wl, wl.inbox, work / name / "warehouse.duckdb", work / name / "out"), env,
                                log, wl.manifest["files"], wl.manifest["lines"])
        run.update(pilots=n, stage_peaks_mib=read_peak_log(log.read_text(encoding="utf-8")))
        report["runs"][name] = {k: v for k, v in run.items() if k not in ("stdout", "rss_curve")}
        print(f"{n} pilots, {wl.manifest['files']:,} files: exit {run['exit_code']}, {run['wall_seconds']:.0f} s, "
              f"peak RSS {run['peak_rss_tree_mib']:.0f} MiB tree (PSS "
              f"{'unknown' if run['peak_pss_tree_mib'] is None else format(run['peak_pss_tree_mib'], '.0f')}), "
              f"{run['peak_rss_main_mib']:.0f} MiB flow process; "
              "at the tree's peak: " + ", ".join(f"{role} {mib:.0f}" for role, mib in run["rss_at_tree_peak_mib"].items()),
              flush=True)
    report["machine_at_end"] = measure.machine()
    summarise(report)
    print(f"full / quarter: {report['memory'].get('full_over_quarter')} (target: within 20%); load average "
          f"{report['machine_at_start']['load_average']} at the start, {report['machine_at_end']['load_average']} "
          "at the end")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="pilotkpi's national benchmark (issues 12 and 22).")
    parser.add_argument("--pilots", type=int, default=400, help="400: the national size; 40: a smoke run")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: bench/work-<pilots>)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-server", action="store_true", help="skip the nights on a running server")
    parser.add_argument("--no-workers", action="store_true", help="skip the full night in one process (--workers 0)")
    parser.add_argument("--no-quarter", action="store_true", help="skip the 25%% run (memory at 25%%)")
    parser.add_argument("--analyst-runs", type=int, default=20)
    parser.add_argument("--micro-runs", type=int, default=100)
    parser.add_argument("--prefect-floor-runs", type=int, default=3,
                        help="runs of Prefect's fixed cost alone on each server (their median: bench/prefect_floor.py)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the full night at --pilots and at a quarter of it: peak RSS (JSON on stdout)")
    parser.add_argument("--markdown", type=Path, help="only print the Markdown of this results JSON (e.g. a stopped run's)")
    parser.add_argument("--before", type=Path, default=None,
                        help="an earlier results JSON to show beside (default: the newest complete one of this size)")
    parser.add_argument("--no-before", action="store_true", help="show no before figures")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(summarise(json.loads(args.markdown.read_text(encoding="utf-8")))))
        return
    work = args.work or ROOT / "bench" / f"work-{args.pilots}"
    if args.memory_only:
        print(json.dumps(memory_only(args.pilots, work), indent=2, ensure_ascii=False))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"{today_in_bangkok().isoformat()}-{socket.gethostname()}"
    if args.pilots != 400:
        stem = stem.with_name(stem.name + f"-p{args.pilots}")

    before = None if args.no_before else args.before or default_before(args.results, args.pilots,
                                                                        stem.with_suffix(".json"))

    def save(report: dict) -> None:  # the JSON so far; "complete" once every phase is done
        if before is not None and "before" not in report:
            report["before"] = before_figures(before)
        summarise(report)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")

    report = bench(args.pilots, work, server=not args.no_server, workers=not args.no_workers, quarter=not args.no_quarter,
                   analyst_runs=args.analyst_runs, micro_runs=args.micro_runs,
                   prefect_floor_runs=args.prefect_floor_runs, save=save)
    report["complete"] = True
    save(report)
    md = markdown(report)
    stem.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"written: {stem}.json, {stem}.md")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
