"""The web front door's speed (issue 20): the check of a typical 60-line report, the agency's
pages, and 50 concurrent sessions, against `pilotkpi web` on loopback (a real uvicorn process).

    python -m bench.web                       # the demo (pilotkpi demo into a work folder)
    python -m bench.web --pilots 40           # bench/workload.py's workload, run once first
    python -m bench.web --site DIR            # an existing folder (registry/, inbox/, warehouse.duckdb)
    python -m bench.web --pilots 40 --held    # also /held, /held/{id}, /quarters and the what-if
                                              # (closes 2549-Q3 of the checked pilot: checks are then "held")

The load generator is bounded: 50 threads, each with its own httpx client and session, each
sending a fixed number of requests one after another (no open-loop flood). Percentiles are by
nearest rank (bench/measure.py). Figures go to bench/results/web-<date>-<scale>.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx

from bench.measure import machine, percentile

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2006-08-15"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
       "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=ENV, cwd=ROOT, check=True,
                          capture_output=True, text=True, **kw)


def prepare(work: Path, pilots: int) -> Path:
    """A site folder: the demo, or the workload of `pilots` pilots after one nightly run."""
    if pilots == 0:
        if not (work / "warehouse.published.duckdb").exists():
            subprocess.run([sys.executable, "-m", "flows.cli", "demo", str(work)], env=ENV, cwd=ROOT,
                           capture_output=True, text=True)  # exit 0; its output names the accounts
        return work
    from bench.workload import write_workload

    if not (work / "warehouse.published.duckdb").exists():
        write_workload(work, pilots)
        subprocess.run([sys.executable, "-m", "flows.cli", "run", "--registry", str(work / "registry"),
                        "--inbox", str(work / "inbox"), "--warehouse", str(work / "warehouse.duckdb"),
                        "--out", str(work / "out"), "--as-of", AS_OF, "--settle-seconds", "0"],
                       env=ENV, cwd=ROOT, capture_output=True, text=True)
    return work


def lead_with_files(site: Path) -> tuple[str, str, list[str]]:
    """(pilot, agency, KPI codes) of a lead agency with accepted files in the published copy."""
    import duckdb

    con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
    pilot, agency = con.execute(
        "SELECT p.pilot_id, p.lead_agency_code FROM registry.pilots p JOIN ingest.submissions s "
        "ON s.pilot_id = p.pilot_id AND s.agency_code = p.lead_agency_code AND s.status = 'accepted' "
        "WHERE p.classification = 'open' GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    kpis = [r[0] for r in con.execute("SELECT kpi_code FROM registry.kpis WHERE pilot_id = ? ORDER BY 1", [pilot]).fetchall()]
    con.close()
    return pilot, agency, kpis


def drill_paths(site: Path, pilot: str) -> list[str]:
    """The drill-down's steps for the lead's latest scored KPI (issue 21: within 300 ms a step):
    score with its formula -> the submission with its lines -> the original file."""
    import duckdb

    con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
    kpi, period, sha = con.execute(
        "SELECT k.kpi_code, k.period, s.sha256 FROM marts.kpi_scores k JOIN ingest.submissions s USING (submission_id) "
        "WHERE k.pilot_id = ? ORDER BY k.period DESC, k.kpi_code LIMIT 1", [pilot]).fetchone()
    con.close()
    return [f"/pilots/{pilot}/scores/{period}/{kpi}", f"/submissions/{sha}", f"/submissions/{sha}/original"]


def sixty_lines(pilot: str, agency: str, kpis: list[str], n: int) -> bytes:
    """A typical report: the lead's KPIs and budget lines up to 60 lines (2549-Q3)."""
    lines = ["pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"]
    lines += [f"{pilot},{agency},2549-Q3,2006-08-1{n % 5},kpi,{k},,{40 + i},,,,bench {n}" for i, k in enumerate(kpis)]
    for i in range(60 - len(kpis)):
        lines.append(f"{pilot},{agency},2549-Q3,2006-08-1{n % 5},budget,ACT-L{1 + i % 5}-{i:02},{1 + i % 5},,"
                     f"{1_000_000 + i * 1000}.00,{500_000 + i * 500}.00,own,bench line {i} run {n}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def start(site: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "web", "--registry", str(site / "registry"),
                             "--inbox", str(site / "inbox"), "--warehouse", str(site / "warehouse.duckdb"),
                             "--port", str(port), "--as-of", AS_OF], env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/signin", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("pilotkpi web did not start")


def signed_in(base: str, name: str, password: str, csrf_page: str = "/upload") -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=120)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    assert client.post("/signin", data={"csrf": csrf, "name": name, "password": password}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(csrf_page).text).group(1)
    return client, csrf


def hold_one(site: Path) -> int:
    """A held file for the committee's pages (web/held.py), made once: 2549-Q3 closed for the lead's
    pilot, then its report sent again. Returns the held file's id."""
    import duckdb

    def held() -> list:
        con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
        try:
            return con.execute("SELECT submission_id FROM ingest.submissions WHERE status = 'held' ORDER BY 1").fetchall()
        finally:
            con.close()

    if not held():
        pilot, agency, kpis = lead_with_files(site)
        job = ["--registry", str(site / "registry"), "--warehouse", str(site / "warehouse.duckdb"),
               "--out", str(site / "out"), "--as-of", AS_OF]
        _cli("close-quarter", "2549-Q3", "--pilot", pilot, "--by", "bench", *job)
        (site / "inbox" / f"bench-held-{agency}.csv").write_bytes(sixty_lines(pilot, agency, kpis, 99))
        _cli("run", "--inbox", str(site / "inbox"), "--settle-seconds", "0", *job)
    return held()[0][0]


def whatif_times(site: Path, submission_id: int, n: int = 20) -> dict:
    """kpis/whatif.py in this process, warm: wall and CPU time of each call."""
    from kpis.whatif import what_if_approved

    what_if_approved(site / "warehouse.published.duckdb", submission_id)
    walls, cpus = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        what_if_approved(site / "warehouse.published.duckdb", submission_id)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {**stats(walls), "cpu_p50_ms": round(percentile(cpus, 50) * 1000, 1),
            "cpu_p95_ms": round(percentile(cpus, 95) * 1000, 1)}


def timed(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def stats(samples: list[float]) -> dict:
    return {"n": len(samples), "p50_ms": round(percentile(samples, 50) * 1000, 1),
            "p95_ms": round(percentile(samples, 95) * 1000, 1), "max_ms": round(max(samples) * 1000, 1)}


# --- decisions (issue 21): from the POST to the page showing the outcome, committed and published ---

def due_pilot(site: Path) -> tuple[str, str]:
    """(pilot, period): an open pilot and its latest due period, to close and reopen in turn."""
    import duckdb

    con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
    row = con.execute("SELECT d.pilot_id, max(d.period) FROM marts.due_periods d JOIN registry.pilots p USING (pilot_id) "
                      "WHERE p.classification = 'open' GROUP BY 1 ORDER BY 1 LIMIT 1").fetchone()
    con.close()
    return row


def is_closed(site: Path, pilot: str, period: str) -> bool:
    """Whether the published copy has the pilot's period closed (closing it again is refused)."""
    import duckdb

    con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM approval.quarter_closures WHERE pilot_id = ? AND period = ? "
                                "AND reopened_at IS NULL", [pilot, period]).fetchone()[0])
    finally:
        con.close()


def held_to_decide(site: Path, count: int) -> tuple[str, list[int]]:
    """At least `count` held files to approve and reject, made the way they arise: 2549-Q3 closed
    for the lead's pilot (`pilotkpi close-quarter`), then `count` reports of it, each with bytes of
    its own, in one night (`pilotkpi run`). Returns the pilot and the held files' ids, oldest first."""
    import duckdb

    pilot, agency, kpis = lead_with_files(site)
    job = ["--registry", str(site / "registry"), "--warehouse", str(site / "warehouse.duckdb"),
           "--out", str(site / "out"), "--as-of", AS_OF, "--wait"]  # behind the web's last decision job
    if not is_closed(site, pilot, "2549-Q3"):  # the close/reopen decisions before may have left it closed
        _cli("close-quarter", "2549-Q3", "--pilot", pilot, "--by", "bench", *job)
    first = int(time.time()) * 1000  # bytes of their own at every bench run (the same bytes would be duplicates)
    for n in range(first, first + count):
        (site / "inbox" / f"bench-decide-{agency}-{n}.csv").write_bytes(sixty_lines(pilot, agency, kpis, n))
    _cli("run", "--inbox", str(site / "inbox"), "--settle-seconds", "0", *job)
    con = duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True)
    try:
        return pilot, [r[0] for r in con.execute("SELECT submission_id FROM ingest.submissions WHERE status = 'held' "
                                                 "AND pilot_id = ? ORDER BY 1", [pilot]).fetchall()]
    finally:
        con.close()


def _decide(client: httpx.Client, token, form: dict) -> tuple[str, float]:
    """POST one decision and wait for its page to show the outcome: (state, seconds)."""
    t = time.perf_counter()
    location = client.post("/decisions", data={"csrf": token(), **form}).headers["location"]
    while True:
        state = re.search(r'data-state="(\w+)"', client.get(location).text).group(1)
        if state in ("applied", "refused", "not_applied"):
            return state, time.perf_counter() - t
        time.sleep(0.05)


def decision_times(base: str, site: Path, count: int) -> dict:
    """`count` decisions closing and reopening one pilot's due period in turn, then `count` held
    files approved and rejected in turn; each timed from the POST to the first GET of
    /decisions/{id} that shows it applied (the job committed and published). The web must run
    against a warm Prefect (its temporary server starts with it)."""
    name, password = "bench-committee", "bench-password-long"
    subprocess.run([sys.executable, "-m", "flows.cli", "accounts", "add", name, "--role", "committee",
                    "--warehouse", str(site / "warehouse.duckdb"), "--password-stdin"], input=password + "\n",
                   env=ENV, cwd=ROOT, capture_output=True, text=True)
    client = httpx.Client(base_url=base, timeout=300)
    token = lambda: re.search(r'name="csrf" value="([^"]+)"', client.get("/decisions").text).group(1)  # noqa: E731
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    assert client.post("/signin", data={"csrf": csrf, "name": name, "password": password}).status_code == 303
    pilot, period = due_pilot(site)
    times: dict[str, list[float]] = {"close": [], "reopen": [], "approve": [], "reject": []}
    states = []
    closed = is_closed(site, pilot, period)  # an earlier bench run may have left it closed
    for i in range(count + 1):  # the first is a warm-up (the engine's first job), not counted
        kind = "reopen" if closed else "close"
        state, took = _decide(client, token, {"kind": kind, "period": period, "pilot_id": pilot,
                                              "confirm": f"{pilot} {period}",
                                              "note" if kind == "close" else "reason": f"bench {i}"})
        states.append(state)
        if i > 0 and state == "applied":  # a refusal (one line, nothing written) is not a decision's time
            times[kind].append(took)
        closed = not closed if state == "applied" else closed
    # Approve and reject run the same engine and job path on a held file (flows/approval.decide_held).
    held_pilot, held = held_to_decide(site, count)
    for i, submission_id in enumerate(held[:count]):
        kind = "approve" if i % 2 == 0 else "reject"
        state, took = _decide(client, token, {"kind": kind, "submission_id": str(submission_id),
                                              "note" if kind == "approve" else "reason": f"bench {i}"})
        states.append(state)
        if state == "applied":
            times[kind].append(took)
    every = [t for k in times.values() for t in k]
    return {"pilot": pilot, "period": period, "held_pilot": held_pilot, "states": sorted(set(states)),
            "all": stats(every), **{k: stats(v) for k, v in times.items() if v}}


def decision_table(decided: dict) -> list[str]:
    rows = ["| decision, POST to applied (committed and published) | n | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    what = {"close": f"close {decided['pilot']} {decided['period']}", "reopen": f"reopen {decided['pilot']} {decided['period']}",
            "approve": f"approve a held file of {decided.get('held_pilot')} 2549-Q3",
            "reject": f"reject a held file of {decided.get('held_pilot')} 2549-Q3", "all": "all"}
    return rows + [f"| {what[k]} | {decided[k]['n']} | {decided[k]['p50_ms']} | {decided[k]['p95_ms']} | "
                   f"{decided[k]['max_ms']} |" for k in what if k in decided]


def decisions_main(site: Path, scale: str, count: int) -> None:
    """`--decisions-only`: start the web (its temporary Prefect server warms at start), time the decisions."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start(site, port)
    try:
        decided = decision_times(f"http://127.0.0.1:{port}", site, count)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {"date": date.today().isoformat(), "scale": scale, "site": str(site), "machine": machine(),
              "load_average": os.getloadavg(), "decisions": decided}
    out = ROOT / "bench" / "results" / f"web-decisions-{result['date']}-{scale}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    table = [f"# pilotkpi web decisions, {scale} ({result['date']})", "", *decision_table(decided), "",
             f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; states {decided['states']}"]
    out.with_suffix(".md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=0, help="0: the demo")
    parser.add_argument("--site", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--label", default=None, help="the scale's name in the results (default demo or p<N>)")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="per session")
    parser.add_argument("--held", action="store_true", help="also the committee's held-file and quarters pages "
                        "(a quarter is closed and a report held first, once)")
    parser.add_argument("--decisions", type=int, default=20, help="committee decisions to time (0: none)")
    parser.add_argument("--decisions-only", action="store_true", help="time the decisions only")
    args = parser.parse_args(argv)
    scale = args.label or ("demo" if args.pilots == 0 else f"p{args.pilots}") + ("-held" if args.held else "")
    site = args.site or prepare(args.work or ROOT / "bench" / f"work-web-{scale.removesuffix('-held')}", args.pilots)
    if args.decisions_only:
        return decisions_main(site, scale, args.decisions)
    pilot, agency, kpis = lead_with_files(site)
    name, password = f"bench-{agency}", "bench-password-long"
    subprocess.run([sys.executable, "-m", "flows.cli", "accounts", "add", name, "--role", "agency", "--agency", agency,
                    "--warehouse", str(site / "warehouse.duckdb"), "--password-stdin"], input=password + "\n",
                   env=ENV, cwd=ROOT, capture_output=True, text=True)
    held_id = hold_one(site) if args.held else None
    if held_id is not None:
        subprocess.run([sys.executable, "-m", "flows.cli", "accounts", "add", "bench-committee", "--role", "committee",
                        "--restricted", "--warehouse", str(site / "warehouse.duckdb"), "--password-stdin"], input=password + "\n",
                       env=ENV, cwd=ROOT, capture_output=True, text=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = start(site, port)
    started = time.perf_counter() - t0
    try:
        client, csrf = signed_in(base, name, password)
        first = timed(lambda: client.post(f"/upload?csrf={csrf}", files={"file": ("r.csv", sixty_lines(pilot, agency, kpis, 0))}))
        verdicts, checks = [], []
        for n in range(1, 31):
            data = sixty_lines(pilot, agency, kpis, n)
            box = {}
            checks.append(timed(lambda: box.setdefault("r", client.post(f"/upload?csrf={csrf}", files={"file": ("r.csv", data)}))))
            verdicts.append(re.search(r'data-verdict="([a-z]+)"', box["r"].text).group(1))
        pages = {path: stats([timed(lambda: client.get(path).raise_for_status()) for _ in range(50)])
                 for path in ("/", "/submissions", "/upload", *drill_paths(site, pilot))}
        # The pilot pages (web/committee.py) as a cleared committee account; the first request after
        # a start (or a publish) builds the summary's model of the copy, timed on its own.
        subprocess.run([sys.executable, "-m", "flows.cli", "accounts", "add", "bench-committee", "--role", "committee",
                        "--restricted", "--warehouse", str(site / "warehouse.duckdb"), "--password-stdin"],
                       input=password + "\n", env=ENV, cwd=ROOT, capture_output=True, text=True)  # kept from an earlier run
        committee, _ = signed_in(base, "bench-committee", password)
        pilots_first = timed(lambda: committee.get("/pilots").raise_for_status())
        pages.update({path: stats([timed(lambda: committee.get(path).raise_for_status()) for _ in range(50)])
                      for path in ("/pilots", "/pilots?status=off_track", f"/pilots/{pilot}")})
        if held_id is not None:  # the committee's pages (web/held.py)
            committee, _ = signed_in(base, "bench-committee", password, csrf_page="/held")
            pages.update({path: stats([timed(lambda: committee.get(path).raise_for_status()) for _ in range(50)])
                          for path in ("/held", f"/held/{held_id}", "/quarters")})
        sessions = [signed_in(base, name, password)[0] for _ in range(args.sessions)]
        latencies: list[float] = []
        lock = threading.Lock()

        def session_load(c: httpx.Client) -> None:
            mine = [timed(lambda: c.get("/" if i % 2 == 0 else "/submissions").raise_for_status())
                    for i in range(args.requests)]
            with lock:
                latencies.extend(mine)

        t = time.perf_counter()
        threads = [threading.Thread(target=session_load, args=(c,)) for c in sessions]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        decided = decision_times(base, site, args.decisions) if args.decisions else None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "date": date.today().isoformat(), "scale": scale, "site": str(site), "machine": machine(),
        "load_average": os.getloadavg(),
        "server_start_s": round(started, 2), "first_check_s": round(first, 2),
        "pilots_first_s": round(pilots_first, 2),
        "check_60_lines": {**stats(checks), "verdicts": sorted(set(verdicts))},
        "pages": pages,
        "concurrent": {"sessions": args.sessions, "requests_per_session": args.requests, **stats(latencies),
                       "wall_s": round(wall, 2), "requests_per_s": round(len(latencies) / wall, 1)},
        "decisions": decided,
    }
    if held_id is not None:
        result["whatif"] = whatif_times(site, held_id)
    out = ROOT / "bench" / "results" / f"web-{result['date']}-{scale}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    table = [f"# pilotkpi web, {scale} ({result['date']})", "",
             "| what | n | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|",
             "| check, 60-line report (warm) | {n} | {p50_ms} | {p95_ms} | {max_ms} |".format(**result["check_60_lines"])]
    table += [f"| GET {p} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |" for p, s in pages.items()]
    if "whatif" in result:
        table.append("| what-if of a held file (kpis/whatif.py, in process) | {n} | {p50_ms} | {p95_ms} | {max_ms} |"
                     .format(**result["whatif"]))
    c = result["concurrent"]
    table += [f"| {c['sessions']} sessions at once, GET / and /submissions | {c['n']} | {c['p50_ms']} | {c['p95_ms']} | {c['max_ms']} |",
              "", f"server start {started:.1f} s; first (cold) check {first:.1f} s; first /pilots (model built) {pilots_first:.2f} s; "
                  f"{c['requests_per_s']} requests/s under {c['sessions']} sessions; check verdicts {sorted(set(verdicts))}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    if "whatif" in result:
        table.append(f"what-if CPU time p50 {result['whatif']['cpu_p50_ms']} ms, p95 {result['whatif']['cpu_p95_ms']} ms")
    if decided:
        table += ["", *decision_table(decided)]
    out.with_suffix(".md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))


if __name__ == "__main__":
    main()
