"""The measuring instruments of the national benchmark: the floor (every file read once), a timed
`pilotkpi` run with its process tree's RSS sampled, and the analyst guide's queries.

Wall times are time.perf_counter() differences; RSS is psutil's resident set size summed over
the process tree (the run and its children: Prefect's server, the watchdog), so shared pages
count once per process and the sum is an upper bound.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import openpyxl
import psutil

from warehouse.stages import STAGE_LOG_ENV, read_stage_log

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analyst-guide.md"
PAIR = re.compile(r"```sql\n(.*?)```\s*\n```text\n(.*?)```", re.S)  # as tests/test_analyst_guide.py reads it
MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def pilotkpi(*args: str) -> list[str]:
    """The command line of `pilotkpi ARGS` running this checkout's code (from ROOT, as `python -m`)."""
    return [sys.executable, "-m", "flows.cli", *args]


# --- the floor ----------------------------------------------------------------------------------
# Every file read once, in one process, by the cheapest honest means (issue 22 item 5):
# - CSV in UTF-8 (with or without a BOM): one DuckDB read_csv over all of them at once
#   (union_by_name: each file's dialect and header sniffed by DuckDB itself; every column VARCHAR),
#   materialised into a DuckDB table, never fetched into Python;
# - CSV in Windows-874: each file decoded once and parsed by Python's csv module (C). DuckDB reads
#   other encodings only through its `encodings` extension, which cannot be installed offline, and
#   writing a UTF-8 copy back to disk for it would cost more than the parse;
# - XLSX: openpyxl read-only, values only; JSON: json.load.
# The floor is told which files are Windows-874 (the workload's house styles): the pipeline has to
# find out, so this only makes the floor cheaper, never dearer.

def _xlsx_rows(path: Path) -> int:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = next((book[n] for n in ("report", "รายงาน") if n in book.sheetnames), book.worksheets[0])
        rows = [r for r in sheet.iter_rows(values_only=True) if any(v not in (None, "") for v in r)]
        return max(len(rows) - 1, 0)  # after the header
    finally:
        book.close()


def _json_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return len(json.load(fh)["lines"])


def _cp874_rows(path: Path) -> int:
    text = path.read_bytes().decode("cp874")
    first = text.split("\n", 1)[0]
    sep = max((",", ";", "\t"), key=first.count)
    return sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if row) - 1  # after the header


def _utf8_csv_rows(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> int:
    if not paths:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE floor_csv AS SELECT * FROM read_csv(?, header = true, "
                "union_by_name = true, all_varchar = true)", [[str(p) for p in paths]])
    return con.execute("SELECT count(*) FROM floor_csv").fetchone()[0]


def floor_read(inbox: Path, cp874: set[str] = frozenset()) -> dict:
    """Read every file of the inbox once, in this process: the floor a run is compared with.
    `cp874`: the names of the Windows-874 CSV files."""
    files = sorted(p for p in Path(inbox).iterdir() if p.is_file())
    by_fmt: dict[str, list[Path]] = {"csv": [], "xlsx": [], "json": []}
    for path in files:
        by_fmt[path.suffix.lower().lstrip(".")].append(path)
    failed = []

    def each(paths: list[Path], rows) -> int:
        total = 0
        for path in paths:
            try:
                total += rows(path)
            except (KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:  # still read
                failed.append(f"{path.name}: {type(exc).__name__}")
        return total

    con = duckdb.connect()
    seconds = {}
    try:
        start = time.perf_counter()
        utf8 = [p for p in by_fmt["csv"] if p.name not in cp874]
        csv_lines = _utf8_csv_rows(con, utf8)
        seconds["csv_utf8"] = time.perf_counter() - start
        mark = time.perf_counter()
        csv_lines += each([p for p in by_fmt["csv"] if p.name in cp874], _cp874_rows)
        seconds["csv_cp874"] = time.perf_counter() - mark
        mark = time.perf_counter()
        xlsx_lines = each(by_fmt["xlsx"], _xlsx_rows)
        seconds["xlsx"] = time.perf_counter() - mark
        mark = time.perf_counter()
        json_lines = each(by_fmt["json"], _json_rows)
        seconds["json"] = time.perf_counter() - mark
        total = time.perf_counter() - start
    finally:
        con.close()
    lines = csv_lines + xlsx_lines + json_lines
    counts = {"csv": csv_lines, "xlsx": xlsx_lines, "json": json_lines}
    return {"seconds": round(total, 3), "files": len(files), "lines": lines, "unreadable": failed,
            "by_format": {k: {"files": len(by_fmt[k]), "lines": counts[k]} for k in counts},
            "cp874_files": sum(p.name in cp874 for p in by_fmt["csv"]),
            "seconds_by_part": {k: round(v, 3) for k, v in seconds.items()},
            "files_per_s": round(len(files) / total, 1) if total else None,
            "lines_per_s": round(lines / total, 1) if total else None}


# --- a timed run ---------------------------------------------------------------------------------

@dataclass
class Sampler:
    """RSS of a process and its descendants, every `interval` seconds, in a thread."""
    pid: int
    interval: float = 0.25
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (s, tree MiB, main MiB)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.perf_counter()
        self._thread.start()

    def _loop(self) -> None:
        try:
            main = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                procs = [main, *main.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        rss.append(0)
                self.curve.append((round(time.perf_counter() - self._start, 2), round(sum(rss) / MIB, 1),
                                   round(rss[0] / MIB, 1)))
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


COUNTS = re.compile(r"files seen (\d+): (.*)")


def parse_counts(stdout: str) -> dict[str, int]:
    m = COUNTS.search(stdout)
    if not m:
        return {}
    counts = {"files_seen": int(m.group(1))}
    for part in m.group(2).split(","):
        name, _, value = part.strip().rpartition(" ")
        if value.isdigit():
            counts[name] = int(value)
    return counts


def _downsample(curve: list, points: int = 120) -> list:
    step = max(1, math.ceil(len(curve) / points))
    return curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])


def timed_run(args: list[str], env: dict[str, str], stage_log: Path, files: int, lines: int) -> dict:
    """Run `pilotkpi ARGS` once, sampling RSS; wall time, stages, counts, peaks."""
    stage_log.unlink(missing_ok=True)
    env = {**env, STAGE_LOG_ENV: str(stage_log)}
    start = time.perf_counter()
    proc = subprocess.Popen(pilotkpi(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sampler = Sampler(proc.pid)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop()
    stages = {k: round(v, 3) for k, v in
              read_stage_log(stage_log.read_text(encoding="utf-8") if stage_log.exists() else "").items()}
    top = ("server_start", "registry", "settle", "receive", "ingest", "marts", "validation_report", "summaries",
           "artifact", "letters", "file_away", "publish")
    other = wall - sum(stages.get(k, 0.0) for k in top)
    curve = sampler.curve
    return {
        "exit_code": proc.returncode, "wall_seconds": round(wall, 3), "stdout": stdout.strip()[-2000:],
        "stderr": stderr.strip()[-2000:], "counts": parse_counts(stdout), "stages": stages,
        "other_seconds": round(other, 3),
        "wall_without_server_start": round(wall - stages.get("server_start", 0.0), 3),
        "ge_share_of_wall": round(stages.get("ge", 0.0) / wall, 4) if wall else None,
        "files": files, "lines": lines,
        "files_per_s": round(files / wall, 1) if wall else None,
        "lines_per_s": round(lines / wall, 1) if wall else None,
        "peak_rss_tree_mib": max((c[1] for c in curve), default=None),
        "peak_rss_main_mib": max((c[2] for c in curve), default=None),
        "rss_samples": len(curve),
        "rss_curve": _downsample(curve),
    }


# --- analysts ------------------------------------------------------------------------------------

def guide_queries() -> list[tuple[str, str]]:
    """(title, sql) of every worked question of docs/analyst-guide.md."""
    text = GUIDE.read_text(encoding="utf-8")
    titles = re.findall(r"^## (\d+\. .*)$", text, re.M)
    sqls = [sql for sql, _ in PAIR.findall(text)]
    return list(zip(titles, sqls))


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: the ceil(p/100 x n)-th smallest (p95 of 20 runs is the 19th)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def analyst_timings(published: Path, runs: int = 20) -> list[dict]:
    """p50 and p95 of each guide query on the published copy, after one warm-up run."""
    con = duckdb.connect(str(published), read_only=True)
    out = []
    try:
        for title, sql in guide_queries():
            con.execute(sql).fetchall()
            times = []
            rows = 0
            for _ in range(runs):
                start = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                times.append((time.perf_counter() - start) * 1000)
            out.append({"question": title, "runs": runs, "rows": rows,
                        "p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2)})
    finally:
        con.close()
    return out


def machine() -> dict:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load],
            "memory_gib": round(psutil.virtual_memory().total / 1024 ** 3, 1)}
