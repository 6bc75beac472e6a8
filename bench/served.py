"""The nights on a running server, as production runs them: `pilotkpi serve` holds the nightly
deployment, each night is started with Prefect's `run_deployment` and waited for, and the served
process runs it (warm: forked from its pre-imported process, flows/warm.py).

A night's wall time is the server's own record of it: from the runner's Pending (the night's
process is started) to its final state. The client's view (from asking for the run until it is
seen finished) also counts the runner's poll for new runs (every second here, 10 s by default);
it is kept beside, as `client_seconds`. Stages come from the night's stage log, as for a
`pilotkpi run` (warehouse/stages.py); memory is sampled over `serve`'s process tree (serve, its
forkserver, the night, its forked reader and its Dask worker): the RSS sum, an upper bound as for
the CLI nights, and the PSS sum, what the tree holds (bench/measure.py Sampler).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

from bench import measure
from warehouse.stages import STAGE_LOG_ENV, read_stage_log

DEPLOYMENT = "bench"
NEVER = "0 2 29 2 *"  # 29 February, 02:00: the schedule does not fire during a bench
TOP = ("registry", "settle", "receive", "ingest", "marts", "validation_report", "summaries", "artifact", "letters",
       "file_away", "publish")


class Served:
    """A running `pilotkpi serve` of one inbox and warehouse, against the server at env's PREFECT_API_URL."""

    def __init__(self, process: subprocess.Popen, output: Path, stage_log: Path, api_url: str, started: float,
                 name: str = DEPLOYMENT, flow: str = "nightly"):
        self.process, self.output, self.stage_log, self.api_url = process, output, stage_log, api_url
        self.start_seconds, self.name, self.flow = started, name, flow

    def night(self, as_of: date, files: int, lines: int) -> dict:
        """One night through the deployment, waited for: a timed run's figures (bench/measure.py)."""
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.stage_log.unlink(missing_ok=True)
        seen = len(self.output.read_text(encoding="utf-8", errors="replace").splitlines())
        idle = set(_tree(self.process.pid))
        cpu_before = tree_cpu_seconds(self.process.pid)
        sampler = measure.Sampler(self.process.pid, root_role="serve")
        asked = time.perf_counter()
        try:
            with temporary_settings({PREFECT_API_URL: self.api_url}):
                run = run_deployment(f"{self.flow}/{self.name}", timeout=None, poll_interval=0.2,
                                     parameters={"as_of": as_of.isoformat(), "settle_seconds": 0})
                states = _states(run.id)
            _wait_until_reaped(self.process.pid, idle)  # its CPU then counts in its parent's children times
        finally:
            client_seconds = time.perf_counter() - asked
            sampler.stop()
        cpu = tree_cpu_seconds(self.process.pid) - cpu_before
        assert self.process.poll() is None, self.output.read_text(errors="replace")[-3000:]
        lines_now = self.output.read_text(encoding="utf-8", errors="replace").splitlines()[seen:]
        ended = [line for line in lines_now if line.startswith("pilotkpi: scheduled run ")]
        warm = [line for line in lines_now if line.startswith("pilotkpi: warm night ")]
        stages = {k: round(v, 3) for k, v in
                  read_stage_log(self.stage_log.read_text(encoding="utf-8") if self.stage_log.exists() else "").items()}
        wall = _seconds(states, "PENDING", run.state.type.value)
        curve = sampler.curve
        return {
            "exit_code": 0 if run.state.is_completed() else 1, "wall_seconds": round(wall, 3),
            "client_seconds": round(client_seconds, 3), "cpu_seconds": round(cpu, 3),
            "start_seconds": round(_seconds(states, "PENDING", "RUNNING"), 3),
            "stdout": "\n".join(ended + warm)[-2000:], "stderr": "" if run.state.is_completed() else
            f"{run.state.type.value}: {run.state.message}"[-2000:],
            # The served line ends "...quarantined N; summaries in OUT": the counts are before the ";".
            "counts": measure.parse_counts("\n".join(line.split(";")[0] for line in ended)), "stages": stages,
            "other_seconds": round(wall - sum(stages.get(k, 0.0) for k in TOP), 3),
            "wall_without_server_start": round(wall, 3),
            "ge_share_of_wall": round(measure.ge_seconds(stages) / wall, 4) if wall else None,
            "files": files, "lines": lines,
            "files_per_s": round(files / wall, 1) if wall else None,
            "lines_per_s": round(lines / wall, 1) if wall else None,
            **sampler.figures(),  # main: `serve` itself
            "rss_curve": measure._downsample(curve),
        }


def _tree(pid: int) -> dict[int, object]:
    import psutil

    main = psutil.Process(pid)
    return {p.pid: p for p in [main, *main.children(recursive=True)]}


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of `serve`'s process tree so far: its live processes and the
    children they reaped (a cold night is reaped by `serve`, a warm one by the forkserver)."""
    import psutil

    total = 0.0
    for process in _tree(pid).values():
        try:
            t = process.cpu_times()
        except psutil.Error:  # ended between the listing and now: its parent's children times have it
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _wait_until_reaped(pid: int, idle: set[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while set(_tree(pid)) - idle and time.monotonic() < deadline:
        time.sleep(0.05)


def _states(run_id) -> list:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run_states(run_id)


def _seconds(states: list, first: str, last: str) -> float:
    """From the last `first` state up to the first `last` state after it, as the server stamped them."""
    ordered = sorted(states, key=lambda s: s.timestamp)
    end = next(s for s in reversed(ordered) if s.type.value == last)
    begin = [s for s in ordered if s.type.value == first and s.timestamp <= end.timestamp][-1]
    return (end.timestamp - begin.timestamp).total_seconds()


@contextmanager
def serving(registry: Path, inbox: Path, warehouse: Path, out: Path, env: dict[str, str],
            work: Path, name: str = DEPLOYMENT, warm: bool = True, code: Path | None = None,
            command: list[str] | None = None, flow: str = "nightly") -> Iterator[Served]:
    """`pilotkpi serve` of the bench's deployment `name` while inside (warm or cold nights);
    stopped (SIGTERM) at the end. code: the tree whose code serves (default this checkout; `python
    -m` puts its working directory first on the path, so it runs from there). command: another
    serving process instead, of the deployment `flow`/`name` (bench/prefect_floor.py)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    work.mkdir(parents=True, exist_ok=True)
    output, stage_log = work / "serve.log", work / "stages.log"
    env = {**env, STAGE_LOG_ENV: str(stage_log), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    start = time.perf_counter()
    with open(output, "wb") as fh:
        process = subprocess.Popen(command or measure.pilotkpi(
                                       "serve", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(warehouse), "--out", str(out), "--name", name, "--cron", NEVER,
                                       "--warm" if warm else "--cold"),
                                   cwd=code or measure.ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            deadline = time.monotonic() + 180
            while True:
                assert process.poll() is None, output.read_text(errors="replace")[-3000:]
                try:
                    with get_client(sync_client=True) as client:
                        client.read_deployment_by_name(f"{flow}/{name}")
                    break
                except Exception:  # not registered yet
                    assert time.monotonic() < deadline, output.read_text(errors="replace")[-3000:]
                    time.sleep(0.5)
        yield Served(process, output, stage_log, env["PREFECT_API_URL"], time.perf_counter() - start, name, flow)
    finally:
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            if process.poll() is not None:
                break
            os.killpg(process.pid, sig)  # its own group: serve, its forkserver, a night still running
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                pass



def paired(pilots: int, work: Path, pairs: int = 3) -> dict:
    """Cold against warm served nights, paired on one running server (the machine's load hits both
    alike): two `serve` processes of the same workload, one `--cold`, one `--warm`, each on its own
    warehouse; the full night, the 1%-new night, then `pairs` quiet nights, one day apart, each
    night taken on both, in turn first. {night: {"cold": night, "warm": night}}."""
    import shutil
    from contextlib import ExitStack
    from datetime import timedelta

    from bench import run as bench_run, workload

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = bench_run._env(work)
    wl = workload.write_workload(work / "national", pilots)
    inboxes = {kind: shutil.copytree(wl.inbox, work / f"inbox-{kind}") for kind in ("cold", "warm")}
    report: dict = {"pilots": pilots, "machine_at_start": measure.machine(), "nights": {}}

    def measure_all(server_env: dict[str, str]) -> dict:
        with ExitStack() as stack:
            served = {kind: stack.enter_context(serving(wl.registry, inboxes[kind], work / kind / "warehouse.duckdb",
                                                        work / kind / "out", server_env, work / kind,
                                                        name=f"bench-{kind}", warm=kind == "warm"))
                      for kind in ("cold", "warm")}
            plan = [("full", 0, wl.manifest["files"], wl.manifest["lines"])]
            nights = report["nights"]
            for i, (night, days, files, lines) in enumerate(plan + [("one_percent", 1, None, None)] + [
                    (f"quiet_{k + 1}", 2 + k, 0, 0) for k in range(pairs)]):
                if night == "one_percent":
                    new = {kind: workload.write_increment(work / "national", pilots, 0.01, inboxes[kind])
                           for kind in ("cold", "warm")}
                    files, lines = new["warm"]["files"], new["warm"]["lines"]
                order = ("cold", "warm") if i % 2 == 0 else ("warm", "cold")
                nights[night] = {kind: served[kind].night(wl.as_of + timedelta(days=days), files, lines)
                                 for kind in order}
        return {}

    bench_run._with_server(env, measure_all)
    report["machine_at_end"] = measure.machine()
    return report


def paired_markdown(report: dict) -> str:
    start, end = report["machine_at_start"]["load_average"][0], report["machine_at_end"]["load_average"][0]
    lines = [f"Cold against warm served nights, {report['pilots']} pilots, paired on one running server "
             f"(load average {start:.1f} at the start, {end:.1f} at the end). Wall: the server's Pending to "
             "the night's end; start: Pending to Running; CPU: `serve`'s process tree during the night.", "",
             "| night | wall cold | wall warm | start cold | start warm | CPU cold | CPU warm | CPU saved |",
             "|---|---|---|---|---|---|---|---|"]
    for night, kinds in report["nights"].items():
        cold, warm = kinds["cold"], kinds["warm"]
        ok = "" if cold["exit_code"] == warm["exit_code"] == 0 else " (**a night failed**)"
        lines.append(f"| {night}{ok} | {cold['wall_seconds']:.2f} s | {warm['wall_seconds']:.2f} s | "
                     f"{cold['start_seconds']:.2f} s | {warm['start_seconds']:.2f} s | {cold['cpu_seconds']:.2f} s | "
                     f"{warm['cpu_seconds']:.2f} s | {cold['cpu_seconds'] - warm['cpu_seconds']:.2f} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Cold against warm served nights, paired (bench/served.py).")
    parser.add_argument("--pilots", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=3, help="quiet nights taken on both")
    parser.add_argument("--work", type=Path, default=measure.ROOT / "bench" / "work-served")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    report = paired(args.pilots, args.work, args.pairs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(paired_markdown(report))


if __name__ == "__main__":
    main()
