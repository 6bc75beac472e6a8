"""The measuring instruments of the national benchmark: the bare read, a timed `pilotkpi` run
with its process tree's RSS sampled, and the analyst guide's queries.

Wall times are time.perf_counter() differences; RSS is psutil's resident set size summed over
the process tree (the run and its children: Prefect's server, the watchdog), so shared pages
count once per process and the sum is an upper bound.
"""
from __future__ import annotations

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
from pilots.contract import COLUMNS

ID_HEADERS = {name for c in COLUMNS if c.name in ("pilot_id", "agency_code", "period", "submitted_on", "item_code")
              for name in (c.name, c.thai)}
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analyst-guide.md"
PAIR = re.compile(r"```sql\n(.*?)```\s*\n```text\n(.*?)```", re.S)  # as tests/test_analyst_guide.py reads it
MIB = 1024 * 1024


# --- the bare read -------------------------------------------------------------------------------

def _csv_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rows of one CSV file through DuckDB's read_csv, the ID columns forced to VARCHAR."""
    data = path.read_bytes()
    source = str(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # Windows-874: DuckDB reads it only through its encodings extension
        text = data.decode("cp874")  # (not installable offline), so it reads a UTF-8 copy
        source = str(path.parent.parent / ".bare-read.csv")
        Path(source).write_text(text, encoding="utf-8", newline="")
    first = text.split("\n", 1)[0].rstrip("\r")
    sep = max((",", ";", "\t"), key=first.count)
    types = {h: "VARCHAR" for h in first.split(sep) if h in ID_HEADERS}
    return len(con.read_csv(source, header=True, sep=sep, dtype=types).fetchall())


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


def bare_read(inbox: Path) -> dict:
    """Parse every file once, in one process: the floor a run is compared with."""
    files = sorted(p for p in Path(inbox).iterdir() if p.is_file())
    con = duckdb.connect()
    counts = {"csv": [0, 0], "xlsx": [0, 0], "json": [0, 0]}
    failed = []
    start = time.perf_counter()
    for path in files:
        fmt = path.suffix.lower().lstrip(".")
        try:
            n = {"csv": lambda: _csv_rows(con, path), "xlsx": lambda: _xlsx_rows(path),
                 "json": lambda: _json_rows(path)}[fmt]()
        except (duckdb.Error, KeyError, ValueError, zipfile.BadZipFile) as exc:  # a defective file is still read
            failed.append(f"{path.name}: {type(exc).__name__}")
            n = 0
        counts[fmt][0] += 1
        counts[fmt][1] += n
    seconds = time.perf_counter() - start
    con.close()
    (Path(inbox).parent / ".bare-read.csv").unlink(missing_ok=True)
    lines = sum(v[1] for v in counts.values())
    return {"seconds": round(seconds, 3), "files": len(files), "lines": lines, "unreadable": failed,
            "by_format": {k: {"files": v[0], "lines": v[1]} for k, v in counts.items()},
            "files_per_s": round(len(files) / seconds, 1) if seconds else None,
            "lines_per_s": round(lines / seconds, 1) if seconds else None}


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
    exe = Path(sys.executable).with_name("pilotkpi")
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
