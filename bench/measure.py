"""The measuring instruments of the national benchmark: the floor (every file read once), a timed
`pilotkpi` run with its process tree's RSS sampled, and the analyst guide's queries.

Wall times are time.perf_counter() differences; memory is sampled over the process tree (the run
and its children: Prefect's server, the watchdog, a Dask worker): the RSS sum counts shared pages
once per process (an upper bound), the PSS sum counts them once (Sampler).
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
import psutil

from pilots.readers.base import fewer_collections
from pilots.readers.xlsx_reader import open_workbook
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
# - CSV: each file's bytes decoded once (UTF-8 with or without a BOM, else Windows-874) and parsed
#   by Python's csv module (C), the separator taken from the header line;
# - XLSX: openpyxl read-only, values only, opened without openpyxl's parse of each sheet's
#   <dimension> tag (pilots.readers.xlsx_reader.open_workbook, as the pipeline opens them since
#   that parse was found to cost a quarter of the read: the floor stays the cheapest read);
#   JSON: json.load;
# - with Python's garbage collector run as the pipeline's read runs it (fewer_collections).
# The issue proposed one DuckDB read_csv over many files at once (union_by_name, all VARCHAR) for
# the CSVs. It is measured beside the floor (`duckdb_read_csv`), on the UTF-8 files (DuckDB reads
# Windows-874 only through its `encodings` extension, which cannot be installed offline), but it
# is not the floor: over thousands of small files DuckDB's per-file work (sniffing each file's
# dialect and header for union_by_name) costs far more than parsing them (bench/README.md, "The
# floor"), so it is not the cheapest means.

def _xlsx_rows(path: Path) -> int:
    book = open_workbook(path.read_bytes())
    try:
        sheet = next((book[n] for n in ("report", "รายงาน") if n in book.sheetnames), book.worksheets[0])
        sheet.reset_dimensions()  # the rows in the XML, whatever the tag says (as the pipeline reads)
        rows = [r for r in sheet.iter_rows(values_only=True) if any(v not in (None, "") for v in r)]
        return max(len(rows) - 1, 0)  # after the header
    finally:
        book.close()


def _json_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return len(json.load(fh)["lines"])


def _csv_rows(path: Path, utf8: dict[Path, int]) -> int:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
        utf8[path] = 0
    except UnicodeDecodeError:
        text = data.decode("cp874")  # Windows-874: the Thai house style (workload.py)
    first = text.split("\n", 1)[0]
    sep = max((",", ";", "\t"), key=first.count)
    rows = sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if row) - 1  # after the header
    if path in utf8:
        utf8[path] = rows
    return rows


def duckdb_read_csv(paths: list[Path]) -> dict:
    """The issue's proposal, measured: one DuckDB read_csv over all these CSV files at once
    (union_by_name, every column VARCHAR), materialised in DuckDB, never fetched into Python."""
    con = duckdb.connect()
    try:
        start = time.perf_counter()
        con.execute("CREATE TEMP TABLE rows AS SELECT * FROM read_csv(?, header = true, union_by_name = true, "
                    "all_varchar = true)", [[str(p) for p in paths]])
        lines = con.execute("SELECT count(*) FROM rows").fetchone()[0]
        return {"seconds": round(time.perf_counter() - start, 3), "files": len(paths), "lines": lines}
    finally:
        con.close()


def _read_each(by_fmt: dict[str, list[Path]], readers: dict, counts: dict, seconds: dict, failed: list[str]) -> None:
    for fmt, paths in by_fmt.items():
        mark, total = time.perf_counter(), 0
        for path in paths:
            try:
                total += readers[fmt](path)
            except (KeyError, ValueError, zipfile.BadZipFile, csv.Error) as exc:  # a defective file is still read
                failed.append(f"{path.name}: {type(exc).__name__}")
        counts[fmt], seconds[fmt] = total, round(time.perf_counter() - mark, 3)


def floor_read(inbox: Path, compare_duckdb: bool = True) -> dict:
    """Read every file of the inbox once, in this process: the floor a run is compared with."""
    files = sorted(p for p in Path(inbox).iterdir() if p.is_file())
    by_fmt: dict[str, list[Path]] = {"csv": [], "xlsx": [], "json": []}
    for path in files:
        by_fmt[path.suffix.lower().lstrip(".")].append(path)
    failed: list[str] = []
    utf8: dict[Path, int] = {}  # the UTF-8 CSVs and their lines
    readers = {"csv": lambda path: _csv_rows(path, utf8), "xlsx": _xlsx_rows, "json": _json_rows}
    counts, seconds = {}, {}
    start, cpu = time.perf_counter(), time.process_time()
    with fewer_collections():  # as the pipeline's read stage runs
        _read_each(by_fmt, readers, counts, seconds, failed)
    total_seconds = time.perf_counter() - start
    # CPU seconds beside the wall: on a shared, loaded machine the wall time is mostly waiting.
    cpu_seconds = time.process_time() - cpu
    lines = sum(counts.values())
    report = {"seconds": round(total_seconds, 3), "cpu_seconds": round(cpu_seconds, 3), "files": len(files),
              "lines": lines, "unreadable": failed,
              "by_format": {k: {"files": len(by_fmt[k]), "lines": counts[k]} for k in counts},
              "cp874_files": len(by_fmt["csv"]) - len(utf8), "seconds_by_format": seconds,
              "files_per_s": round(len(files) / total_seconds, 1) if total_seconds else None,
              "lines_per_s": round(lines / total_seconds, 1) if total_seconds else None}
    if compare_duckdb and utf8:
        report["duckdb_read_csv"] = {**duckdb_read_csv(list(utf8)), "python_csv_seconds": seconds["csv"],
                                     "python_csv_lines": sum(utf8.values())}
    return report


# --- a timed run ---------------------------------------------------------------------------------

FORKSERVER = "multiprocessing.forkserver"  # in the command line of the forkserver and all it forked


def process_role(proc: psutil.Process, parent_role: str | None = None) -> str:
    """What a process of a night's tree is, from its command line (and its parent's role, for
    the processes forked without an exec, which keep their parent's command line: the warm
    nights forked from `serve`'s forkserver, and each night's forked reader)."""
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if FORKSERVER in command:
        return {"forkserver": "night", "night": "forked reader"}.get(parent_role or "", "forkserver")
    for marker, role in (("prefect.server.api.server", "prefect server"), ("resource_tracker", "resource tracker"),
                         ("spawn_main", "dask worker"), ("signal", "server watchdog")):
        if marker in command:
            return role
    return "other"


def memory_of(pid: int) -> tuple[int, int, int] | None:
    """(RSS, PSS, USS) of a process, bytes, from /proc/PID/smaps_rollup (Linux 4.14+): one read
    that sums its mappings in the kernel. PSS: each resident page divided by the number of
    processes mapping it (a page a night shares copy-on-write with its forkserver counts half in
    each), so PSS adds up over a tree to the memory it really holds; USS: its private pages only
    (what ending it would free). (0, 0, 0) for a process gone; None for one there whose file
    cannot be read (hidepid, a sandbox): no PSS is known then, rather than a 0 that would pass."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh.read().splitlines()[1:]:
                name, _, value = line.partition(b":")
                fields[name] = int(value.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0, 0
    except (OSError, ValueError, IndexError):
        return None
    return fields.get(b"Rss", 0), fields.get(b"Pss", 0), fields.get(b"Private_Clean", 0) + fields.get(
        b"Private_Dirty", 0)


PSS_BUDGET = 20  # at most 1/20 of the sampler's time reading smaps_rollup (Sampler._loop)


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


def _mib(n: int) -> float:
    return round(n / MIB, 1)


@dataclass
class Sampler:
    """RSS and PSS of a process and its descendants, every `interval` seconds, in a thread; and
    each process's own peak by its role (process_role), with what each held when the tree peaked.

    The RSS sum counts a page shared by N processes N times (forked processes share most of their
    parent's pages copy-on-write): an upper bound. The PSS sum counts it once, divided among its
    sharers: the memory the tree really holds (bench/README.md, "Memory"). Per process, USS too."""
    pid: int
    interval: float = 0.25
    root_role: str = "flow process"
    # (s, tree RSS, main RSS, tree PSS) MiB; the PSS None where the sample could be no peak (_loop)
    curve: list[tuple[float, float, float, float | None]] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)  # role -> its highest RSS, MiB
    at_tree_peak: dict[str, float] = field(default_factory=dict)  # role -> its RSS when the tree's RSS peaked
    peaks_pss: dict[str, float] = field(default_factory=dict)  # role -> its highest PSS read, MiB
    # role -> {"rss", "pss", "uss"} MiB (and "processes") at the highest RSS sum, and the highest
    # PSS sum, of the samples read in full (_loop: within a few seconds of the peaks)
    full_at_rss_peak: dict[str, dict] = field(default_factory=dict)
    full_at_pss_peak: dict[str, dict] = field(default_factory=dict)
    read_seconds: float = 0.0  # spent reading smaps_rollup, in all (the sampler's cost)
    cheap_samples: int = 0  # samples not read in full (no possible peak, or the budget): RSS only

    def __post_init__(self) -> None:
        self._roles: dict[int, str] = {}  # pid -> role, found once per process
        self._tree_peak = 0  # bytes, the RSS sum's peak (every sample)
        self._full_rss_peak = self._pss_peak = 0  # bytes, of the samples read in full
        self._pss_next = 0.0  # perf_counter before which no smaps_rollup is read (_loop)
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
            except psutil.Error:
                return
            rss = [_rss(p) for p in procs]
            if not rss[0]:  # the root is gone
                return
            at = round(time.perf_counter() - self._start, 2)
            # smaps_rollup walks a process's page tables (5-13 ms of CPU for 500 MiB here, holding
            # its memory map's lock; a sample of the served tree took 93 ms of wall under load):
            # read only where the sample could be a peak, and within a budget. A tree's PSS sum is
            # at most its RSS sum, so a sample whose RSS sum is below the highest PSS sum seen
            # cannot be a PSS peak; and after a read taking t seconds the next waits PSS_BUDGET x t
            # (memory moves slowly against that: the PSS peak is the highest read, within a few
            # seconds of the true one). Between them statm's RSS alone: the RSS curve stays whole.
            self._rss_by_role(procs, rss)
            # A rise of the RSS sum 2% past the highest one read in full is read at once, budget
            # or not: a short peak between budgeted reads is not missed (a few dozen reads more).
            total = sum(rss)
            rising = total > self._full_rss_peak * 1.02
            if total <= self._pss_peak or (time.perf_counter() < self._pss_next and not rising):
                self.curve.append((at, _mib(total), _mib(rss[0]), None))
                self.cheap_samples += 1
            else:
                mark = time.perf_counter()
                sizes = [memory_of(p.pid) for p in procs]
                took = time.perf_counter() - mark
                self.read_seconds += took
                self._pss_next = mark + took * PSS_BUDGET
                if None in sizes:  # a process's memory could not be read: this sample has no PSS
                    self.curve.append((at, _mib(total), _mib(rss[0]), None))
                else:
                    self.curve.append((at, _mib(total), _mib(rss[0]), _mib(sum(s[1] for s in sizes))))
                    self._full_by_role(procs, sizes)
            self._stop.wait(self.interval)

    def _role(self, proc: psutil.Process, is_root: bool) -> str:
        role = self._roles.get(proc.pid)
        if role is None:
            if is_root:
                role = self.root_role
            else:
                try:
                    parent = self._roles.get(proc.ppid())
                except psutil.Error:
                    parent = None
                role = process_role(proc, parent)
            self._roles[proc.pid] = role
        return role

    def _rss_by_role(self, procs: list[psutil.Process], rss: list[int]) -> None:
        """Every sample: each role's RSS peak, and each role's RSS when the tree's RSS sum peaked."""
        roles: dict[str, float] = {}
        for i, (proc, size) in enumerate(zip(procs, rss)):  # parents before their children
            role = self._role(proc, i == 0)
            if role != "gone" and size:  # ended between the listing and its reading: nothing to count
                roles[role] = round(roles.get(role, 0.0) + size / MIB, 1)
        for role, mib in roles.items():
            self.peaks[role] = max(self.peaks.get(role, 0.0), mib)
        if sum(rss) > self._tree_peak:
            self._tree_peak, self.at_tree_peak = sum(rss), roles

    def _full_by_role(self, procs: list[psutil.Process], sizes: list[tuple[int, int, int]]) -> None:
        """A sample read in full: each role's RSS, PSS and USS, kept at the highest RSS sum and
        the highest PSS sum so read."""
        full: dict[str, dict] = {}
        for i, (proc, (rss, pss, uss)) in enumerate(zip(procs, sizes)):
            role = self._role(proc, i == 0)
            if role == "gone" or not rss:
                continue
            held = full.setdefault(role, {"rss": 0, "pss": 0, "uss": 0, "processes": 0})
            held["rss"], held["pss"], held["uss"] = held["rss"] + rss, held["pss"] + pss, held["uss"] + uss
            held["processes"] += 1
        for role, held in full.items():
            self.peaks_pss[role] = max(self.peaks_pss.get(role, 0.0), _mib(held["pss"]))
        in_mib = {role: {**{k: _mib(v) for k, v in held.items() if k != "processes"}, "processes": held["processes"]}
                  for role, held in full.items()}
        rss_sum, pss_sum = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
        if rss_sum > self._full_rss_peak:
            self._full_rss_peak, self.full_at_rss_peak = rss_sum, in_mib
        if pss_sum > self._pss_peak:
            self._pss_peak, self.full_at_pss_peak = pss_sum, in_mib

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict:
        """The peaks for a run's report: RSS and PSS sums, by role, and the sampler's own cost."""
        curve = self.curve
        return {"peak_rss_tree_mib": max((c[1] for c in curve), default=None),
                "peak_rss_main_mib": max((c[2] for c in curve), default=None),
                "peak_pss_tree_mib": max((c[3] for c in curve if c[3] is not None), default=None),
                "peak_rss_by_process_mib": self.peaks, "rss_at_tree_peak_mib": self.at_tree_peak,
                "peak_pss_by_process_mib": self.peaks_pss,
                "memory_at_rss_peak_mib": self.full_at_rss_peak, "memory_at_pss_peak_mib": self.full_at_pss_peak,
                "rss_samples": len(curve), "pss_samples": len(curve) - self.cheap_samples,
                "sampler_ms_per_pss_sample": round(self.read_seconds / (len(curve) - self.cheap_samples) * 1000, 2)
                if len(curve) > self.cheap_samples else None}


COUNTS = re.compile(r"files seen (\d+): (.*)")


def ge_seconds(stages: dict) -> float:
    """GE's own seconds in a night: its validations (`ge`) and its setup built in a background
    thread while the CLI's server starts (`ge_warm`, flows/early.py). The warm-up is counted
    although the night does not wait for it: GE's share stays its cost, not only its wait."""
    return stages.get("ge", 0.0) + stages.get("ge_warm", 0.0)


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
        "ge_share_of_wall": round(ge_seconds(stages) / wall, 4) if wall else None,
        "files": files, "lines": lines,
        "files_per_s": round(files / wall, 1) if wall else None,
        "lines_per_s": round(lines / wall, 1) if wall else None,
        **sampler.figures(), "rss_curve": _downsample(curve),
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
