"""The served 1%-new night, paired (issue 22, engineer P): a base revision's `pilotkpi serve`
against this work tree's, on one running Prefect server, timed as bench/served.py times a night.

    python -m bench.served_paired [--pilots 400] [--workload /tmp/W400] [--base main] [--rounds 3] [--work DIR]

Each tree prepares its own state once: the full first night of bench/workload.py's workload
(`pilotkpi run`, as-of the workload's date), kept as `after-full` (the caches of its outputs are
its own code's). Then one `pilotkpi serve` per tree, each of its own deployment, runs from that
tree (warm nights). --rounds times, in alternating order (a change of the machine's load hits both
alike), each tree's served state is put back to `after-full` with the 1%-new files in its inbox,
and its deployment runs the 1%-new night (as-of +1), then the quiet night after it (as-of +2).
Every night is bench/served.py's `Served.night`: the server's own Pending-to-end wall, stages,
`other_seconds`, the CPU of `serve`'s process tree. After each night its tables (ingest.*, core.*,
marts.*, registry.*; run ids and times left out) and its summary pages are hashed: both trees
must give the same hashes (`same_results`).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from bench import measure, run as bench_run, workload
from bench.second_core import QUIET, results_hash
from bench.served import serving
from bench.small_nights import _pages_hash, _registry_hash, paired_parser, paired_start

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("one_percent", "quiet")
STATE_FILES = ("warehouse.duckdb", "warehouse.restricted.duckdb", "warehouse.published.duckdb")


class Tree:
    """One tree's code, its prepared state, its served copy of that state and its nights."""

    def __init__(self, name: str, code: Path, wl: workload.Workload, work: Path, increment: Path):
        self.name, self.code, self.wl, self.work, self.increment = name, code, wl, work, increment
        self.prepared, self.live = work / "after-full", work / "live"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PILOTKPI_"))}, **QUIET,
                    "PYTHONPATH": str(code), "PREFECT_HOME": str(work / "prefect-home")}

    def prepare(self, keep: bool) -> None:
        """The full first night by `pilotkpi run` of this tree (its temporary server)."""
        if keep and (self.prepared / "prepared").exists():
            return
        shutil.rmtree(self.work, ignore_errors=True)
        self.prepared.mkdir(parents=True)
        shutil.copytree(self.wl.inbox, self.prepared / "inbox")
        args = ["run", "--registry", str(self.wl.registry), "--inbox", str(self.prepared / "inbox"), "--warehouse",
                str(self.prepared / "warehouse.duckdb"), "--out", str(self.prepared / "out"), "--as-of",
                self.wl.as_of.isoformat(), "--settle-seconds", "0"]
        saved, measure.ROOT = measure.ROOT, self.code  # timed_run runs `python -m flows.cli` from ROOT
        try:
            night = measure.timed_run(args, self.env, self.work / "stages.log", 0, 0)
        finally:
            measure.ROOT = saved
        if night["exit_code"] != 0:
            raise SystemExit(f"{self.name}: the full night failed\n{night['stdout']}\n{night['stderr']}")
        (self.prepared / "prepared").write_text(night["stdout"], encoding="utf-8")

    def restore(self) -> None:
        """The served state back to after-full, with the 1%-new files in its inbox. The databases
        and the outputs are copied (their mtimes kept: the outputs' caches check them); the
        evidence stores and the filed-away inbox are hard links (a night only adds to them)."""
        shutil.rmtree(self.live, ignore_errors=True)
        self.live.mkdir(parents=True)
        for name in STATE_FILES:
            if (self.prepared / name).exists():
                shutil.copy2(self.prepared / name, self.live / name)
        shutil.copytree(self.prepared / "out", self.live / "out")
        for folder in ("warehouse.evidence", "warehouse.restricted.evidence"):
            if (self.prepared / folder).exists():
                shutil.copytree(self.prepared / folder, self.live / folder, copy_function=os.link)
        (self.live / "inbox").mkdir()
        for folder in ("processed", "quarantine"):
            if (self.prepared / "inbox" / folder).exists():
                shutil.copytree(self.prepared / "inbox" / folder, self.live / "inbox" / folder, copy_function=os.link)
        for f in self.increment.iterdir():
            shutil.copy2(f, self.live / "inbox" / f.name)
        os.sync()  # the copies on disk, as a night finds its state (bench/run.py a_day_later)


def night(served, tree: Tree, days: int, files: int, lines: int) -> dict:
    figures = served.night(tree.wl.as_of + timedelta(days=days), files, lines)
    if figures["exit_code"] != 0:
        raise SystemExit(f"{tree.name}: the night failed\n{figures['stdout']}\n{figures['stderr']}")
    figures["load_before"] = round(os.getloadavg()[0], 2)
    warehouse = tree.live / "warehouse.duckdb"
    figures["hashes"] = {"tables": results_hash(warehouse), "registry": _registry_hash(warehouse),
                         "pages": _pages_hash(tree.live / "out")}
    figures.pop("rss_curve")
    return figures


def _summary(nights: list[dict]) -> dict:
    def median(values) -> float:
        return round(statistics.median(values), 3)
    stages = sorted({k for n in nights for k in n["stages"]})
    return {"wall": median(n["wall_seconds"] for n in nights), "other": median(n["other_seconds"] for n in nights),
            "cpu": median(n["cpu_seconds"] for n in nights), "start": median(n["start_seconds"] for n in nights),
            "stages": {s: median(n["stages"].get(s, 0.0) for n in nights) for s in stages}}


def markdown(report: dict) -> str:
    names = list(report["median"])
    lines = [f"Served nights at {report['pilots']} pilots, paired on one running server, {report['rounds']} rounds "
             f"(load average {report['load'][0]:.1f} at the start, {report['load'][1]:.1f} at the end); medians. "
             f"Same results: {report['same_results']}.", "",
             "| night | figure | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind in KINDS:
        medians = [report["median"][n][kind] for n in names]
        for figure in ("wall", "other", "cpu", "start"):
            lines.append(f"| {kind} | {figure} | " + " | ".join(f"{m[figure]:.3f}" for m in medians) + " |")
        for stage in sorted({s for m in medians for s in m["stages"]}):
            lines.append(f"| {kind} | {stage} | " + " | ".join(f"{m['stages'].get(stage, 0.0):.3f}" for m in medians)
                         + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = paired_parser(__doc__.split("\n\n")[0], pilots=400, rounds=3,
                           rounds_help="0: prepare each tree's full night only")
    parser.add_argument("--keep-prepared", action="store_true", help="reuse each tree's full night from an earlier run")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    work, wl, increment, new, base = paired_start(args, "served-paired")
    trees = [Tree(args.base, base, wl, work / "state-base", increment),
             Tree("work tree", ROOT, wl, work / "state-work", increment)]
    for tree in trees:
        tree.prepare(args.keep_prepared)
    if args.rounds == 0:  # prepared only (then --keep-prepared)
        return
    results: dict[str, dict[str, list]] = {t.name: {kind: [] for kind in KINDS} for t in trees}
    load_start = os.getloadavg()[0]

    def measure_all(server_env: dict[str, str]) -> dict:
        with ExitStack() as stack:
            served = {}
            for i, tree in enumerate(trees):
                tree.restore()
                env = {**tree.env, "PREFECT_API_URL": server_env["PREFECT_API_URL"]}
                served[tree.name] = stack.enter_context(serving(
                    wl.registry, tree.live / "inbox", tree.live / "warehouse.duckdb", tree.live / "out", env,
                    tree.work / "serve", name=f"paired-{i}", code=tree.code))
            for r in range(args.rounds):
                for tree in trees if r % 2 == 0 else trees[::-1]:
                    tree.restore()
                    for kind, days, files, lines in (("one_percent", 1, new["files"], new["lines"]), ("quiet", 2, 0, 0)):
                        figures = night(served[tree.name], tree, days, files, lines)
                        results[tree.name][kind].append(figures)
                        print(f"round {r + 1} {tree.name} {kind}: wall {figures['wall_seconds']} s, other "
                              f"{figures['other_seconds']} s, CPU {figures['cpu_seconds']} s, load "
                              f"{figures['load_before']}, stages {figures['stages']}", file=sys.stderr, flush=True)
        return {}

    bench_run._with_server({**trees[1].env, "PREFECT_HOME": str(work / "server-home")}, measure_all)
    same = {kind: len({json.dumps(n["hashes"], sort_keys=True) for t in results.values() for n in t[kind]}) == 1
            for kind in KINDS}
    report = {"pilots": args.pilots, "base": args.base, "rounds": args.rounds, "same_results": same,
              "load": [round(load_start, 2), round(os.getloadavg()[0], 2)],
              "median": {name: {kind: _summary(n) for kind, n in kinds.items()} for name, kinds in results.items()},
              "nights": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
