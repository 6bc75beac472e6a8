"""`make bench`: the national benchmark of issue 12, in one process tree and one run.

    python -m bench.run [--pilots 400] [--work DIR] [--results bench/results]

1. writes the workload (bench/workload.py) for --pilots pilots;
2. the bare read: every file parsed once in this process (bench/measure.py);
3. the full run: `pilotkpi run` on a fresh warehouse, on Prefect's ephemeral server;
4. a 1%-new run (revisions of 1% of the reports), then a no-op run (nothing new);
5. the no-op run again against a running `pilotkpi server` (PREFECT_API_URL), unless --no-server;
6. every query of docs/analyst-guide.md on the published copy, p50/p95 over 20 runs;
7. the full run of a quarter of the workload (--pilots/4): peak RSS at 25% against 100%,
   unless --no-quarter;
8. the reader micro-benchmark (bench/micro.py).

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
from pathlib import Path

from bench import measure, micro, workload
from flows.clock import today_in_bangkok
from flows.settings import QUIET_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
TOP_STAGES = {  # the stages -> the flow's stage names (warehouse/stages.py)
    "server start": ("server_start",),
    "registry": ("registry",),
    "receive": ("settle", "receive"),
    "read": ("read",),
    "validate": ("validate",),
    "  of which GE": ("ge",),
    "write": ("write",),
    "marts": ("marts",),
    "summaries + validation report": ("validation_report", "summaries", "artifact"),
    "letters": ("letters",),
    "file away": ("file_away",),
    "publish": ("publish",),
}


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, **QUIET_DEFAULTS}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))  # never the user's ~/.prefect
    return env


def _run_args(wl: workload.Workload, warehouse: Path, out: Path) -> list[str]:
    return ["run", "--registry", str(wl.registry), "--inbox", str(wl.inbox), "--warehouse", str(warehouse),
            "--out", str(out), "--as-of", wl.as_of.isoformat(), "--settle-seconds", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_server(env: dict[str, str], fn) -> dict:
    """fn(env with PREFECT_API_URL) while a `pilotkpi server` we started runs; its start time too."""
    from flows.serve import wait_for_health

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    exe = Path(sys.executable).with_name("pilotkpi")
    start = time.perf_counter()
    server = subprocess.Popen([str(exe), "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
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


def bench(pilots: int, work: Path, *, server: bool = True, quarter: bool = True, analyst_runs: int = 20,
          micro_runs: int = 100, increment: float = 0.01, save=lambda report: None) -> dict:
    """Every measurement of one benchmark; save(report) after each phase (a national run is long)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = _env(work)
    report: dict = {"schema": 1, "complete": False, "pilots": pilots, "date": today_in_bangkok().isoformat(), "host": socket.gethostname(),
                    "machine_at_start": measure.machine(), "python": sys.version.split()[0]}

    start = time.perf_counter()
    wl = workload.write_workload(work / "national", pilots)
    report["workload"] = {**wl.manifest, "generate_seconds": round(time.perf_counter() - start, 3)}
    save(report)
    report["bare_read"] = measure.bare_read(wl.inbox)
    save(report)
    bare = report["bare_read"]["seconds"]

    warehouse, out = work / "warehouse" / "warehouse.duckdb", work / "out"
    warehouse.parent.mkdir()
    log = work / "stages.log"
    runs = report["runs"] = {}
    runs["full"] = measure.timed_run(_run_args(wl, warehouse, out), env, log, wl.manifest["files"],
                                     wl.manifest["lines"])
    report["warehouse"] = {**_sizes(out, warehouse), "core_lines": _core_lines(
        warehouse.with_name(warehouse.stem + ".published.duckdb"))}
    save(report)

    new = workload.write_increment(work / "national", pilots, increment, wl.inbox)
    report["increment"] = new
    runs["one_percent"] = measure.timed_run(_run_args(wl, warehouse, out), env, log, new["files"], new["lines"])
    runs["noop"] = measure.timed_run(_run_args(wl, warehouse, out), env, log, 0, 0)
    save(report)
    if server:
        runs["noop_running_server"] = _with_server(
            env, lambda e: measure.timed_run(_run_args(wl, warehouse, out), e, log, 0, 0))
    report["analyst"] = measure.analyst_timings(warehouse.with_name(warehouse.stem + ".published.duckdb"),
                                                analyst_runs)
    save(report)
    if quarter:
        q = max(1, pilots // 4)
        qwl = workload.write_workload(work / "quarter", q)
        qwh = work / "warehouse-quarter" / "warehouse.duckdb"
        qwh.parent.mkdir()
        runs["quarter_full"] = measure.timed_run(_run_args(qwl, qwh, work / "out-quarter"), env, log,
                                                 qwl.manifest["files"], qwl.manifest["lines"])
        runs["quarter_full"]["pilots"] = q
    report["micro_reader"] = micro.measure(micro_runs)
    report["machine_at_end"] = measure.machine()

    summarise(report)
    return report


def summarise(report: dict) -> dict:
    """The ratios and memory figures from the runs measured so far (a stopped run has fewer)."""
    runs, bare = report.get("runs", {}), report.get("bare_read", {}).get("seconds")
    wall = {name: run["wall_seconds"] for name, run in runs.items()}
    ratios = {}
    if "full" in runs:
        ratios["full_over_bare"] = _ratio(wall["full"], bare)
        ratios["full_without_server_start_over_bare"] = _ratio(runs["full"]["wall_without_server_start"], bare)
    if "one_percent" in runs:
        ratios["one_percent_over_full"] = _ratio(wall["one_percent"], wall.get("full"))
    if "noop" in runs:
        ratios["noop_over_bare"] = _ratio(wall["noop"], bare)
        ratios["noop_without_server_start_over_bare"] = _ratio(runs["noop"]["wall_without_server_start"], bare)
    if "noop_running_server" in runs:
        ratios["noop_running_server_over_bare"] = _ratio(wall["noop_running_server"], bare)
    report["ratios"] = ratios
    memory = {}
    if "full" in runs:
        memory.update(peak_full_mib=runs["full"]["peak_rss_tree_mib"], peak_full_main_mib=runs["full"]["peak_rss_main_mib"])
    if "quarter_full" in runs:
        memory.update(peak_quarter_mib=runs["quarter_full"]["peak_rss_tree_mib"],
                      peak_quarter_main_mib=runs["quarter_full"]["peak_rss_main_mib"],
                      full_over_quarter=_ratio(memory.get("peak_full_mib"), runs["quarter_full"]["peak_rss_tree_mib"]))
    report["memory"] = memory
    return report


def _stage(run: dict, names: tuple[str, ...]) -> str:
    present = [run["stages"][n] for n in names if n in run["stages"]]
    return f"{sum(present):.2f}" if present else "–"


def _row(label: str, value: str | None, target: str) -> str:
    return f"| {label} | {value if value is not None else 'not measured'} | {target} |"


def markdown(r: dict) -> str:
    """The figures as Markdown; a figure whose phase did not run says so."""
    wl, runs = r["workload"], r.get("runs", {})
    start = r["machine_at_start"]
    end = r.get("machine_at_end", {}).get("load_average")
    ratios, mem, bare = r.get("ratios", {}), r.get("memory", {}), r.get("bare_read")

    def run_figure(ratio: str, name: str, extra: str = "") -> str | None:
        if name not in runs:
            return None
        return f"{ratios.get(ratio)} ({runs[name]['wall_seconds']:.1f} s{extra})"

    lines = [
        f"## {r['date']} on {r['host']} ({start['cpus']} cores, load average {start['load_average'][0]:.1f} at the "
        f"start" + (f", {end[0]:.1f} at the end)" if end else ")")
        + ("" if r.get("complete") else " — stopped before the end: later phases not measured"),
        "",
        f"Workload: {wl['pilots']} pilots, {wl['agencies']} agencies, {wl['files']:,} files, {wl['lines']:,} lines, "
        f"{wl['bytes'] / 1e6:.1f} MB ({', '.join(f'{k} {v}' for k, v in wl['by_format'].items())}); "
        f"expected {', '.join(f'{k} {v}' for k, v in wl['expected'].items())}; generated in {wl['generate_seconds']:.0f} s.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        _row("bare read", f"{bare['seconds']:.1f} s ({bare['files_per_s']} files/s, {bare['lines_per_s']} lines/s)"
             if bare else None, "–"),
        _row("full run ÷ bare read", run_figure("full_over_bare", "full", "; " + str(
            ratios.get("full_without_server_start_over_bare")) + " without the server's start") if "full" in runs
             else None, "≤ 1.5"),
        _row("1%-new run ÷ full run", run_figure("one_percent_over_full", "one_percent"), "≤ 0.03"),
        _row("no-op run ÷ bare read", run_figure("noop_over_bare", "noop", "; " + str(
            ratios.get("noop_without_server_start_over_bare")) + " without the server's start") if "noop" in runs
             else None, "≤ 0.1"),
        _row("no-op run with a running server ÷ bare read",
             run_figure("noop_running_server_over_bare", "noop_running_server"), "≤ 0.1"),
        _row("peak RSS of the full run (process tree)", f"{mem['peak_full_mib']:.0f} MiB (flow process "
             f"{mem['peak_full_main_mib']:.0f} MiB)" if mem.get("peak_full_mib") else None, "≤ 1024 MiB"),
        _row("peak RSS at 25% of the workload", f"{mem['peak_quarter_mib']:.0f} MiB (100% ÷ 25%: "
             f"{mem['full_over_quarter']})" if "peak_quarter_mib" in mem else None, "within 20%"),
        _row("GE share of the full run", f"{runs['full']['ge_share_of_wall'] * 100:.0f}% "
             f"({runs['full']['stages'].get('ge', 0):.1f} s)" if "full" in runs else None, "–"),
    ]
    if runs:
        lines += ["", "Stages (seconds):", "", "| stage | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
        for label, names in TOP_STAGES.items():
            lines.append(f"| {label} | " + " | ".join(_stage(run, names) for run in runs.values()) + " |")
        for label, key, fmt in (("other (imports, Prefect, commit)", "other_seconds", "{:.2f}"),
                                ("**wall**", "wall_seconds", "**{:.2f}**"), ("files/s", "files_per_s", "{}"),
                                ("lines/s", "lines_per_s", "{}"), ("peak RSS MiB (tree)", "peak_rss_tree_mib", "{}")):
            lines.append(f"| {label} | " + " | ".join(fmt.format(run[key]) for run in runs.values()) + " |")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="pilotkpi's national benchmark (issue 12).")
    parser.add_argument("--pilots", type=int, default=400, help="400: the national size; 40: a smoke run")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: bench/work-<pilots>)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-server", action="store_true", help="skip the no-op run on a running server")
    parser.add_argument("--no-quarter", action="store_true", help="skip the 25%% run (memory at 25%%)")
    parser.add_argument("--analyst-runs", type=int, default=20)
    parser.add_argument("--micro-runs", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--markdown", type=Path, help="only print the Markdown of this results JSON (e.g. a stopped run's)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(summarise(json.loads(args.markdown.read_text(encoding="utf-8")))))
        return
    work = args.work or ROOT / "bench" / f"work-{args.pilots}"
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"{today_in_bangkok().isoformat()}-{socket.gethostname()}"
    if args.pilots != 400:
        stem = stem.with_name(stem.name + f"-p{args.pilots}")

    def save(report: dict) -> None:  # the JSON so far; "complete" once every phase is done
        summarise(report)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")

    report = bench(args.pilots, work, server=not args.no_server, quarter=not args.no_quarter,
                   analyst_runs=args.analyst_runs, micro_runs=args.micro_runs, save=save)
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
