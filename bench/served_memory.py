"""The served full night's memory, per process, of two trees' code (issue 22's bounded memory on a
running server):

    python -m bench.served_memory [--pilots 400] [--workload /tmp/W400] [--base main] [--rounds 1] [--work DIR]

Each round, each tree (--base, taken out of git, and this checkout) serves the full first night
of the workload on a fresh warehouse (`pilotkpi serve`, warm, on one running `pilotkpi server`),
in turn first, one tree at a time (a tree's nights never share the machine's memory with the
other's). Printed: each night's peak RSS sum and peak PSS sum over `serve`'s tree, and what each
process (by role: serve, forkserver, night, forked reader, Dask worker) held, as RSS, PSS and
USS, when the tree's PSS sum peaked (bench/measure.py Sampler). The wall and CPU seconds are
beside, for a night made no slower; memory figures do not depend on the machine's load, the
seconds do (pair them: the trees alternate first).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from bench import run as bench_run
from bench.receive_paired import CODE
from bench.paired import tree_at
from bench.second_core import QUIET
from bench.served import serving
from bench.small_nights import _workload, paired_parser

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("serve", "forkserver", "night", "forked reader", "dask worker", "resource tracker", "other")


def full_night(name: str, code: Path, wl, work: Path, server_env: dict[str, str]) -> dict:
    """One served full night of `code` on a fresh warehouse under `work`: served.night's figures."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(wl.inbox, work / "inbox")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PILOTKPI_"))}, **QUIET,
           "PYTHONPATH": str(code), "PREFECT_HOME": str(work / "prefect-home"),
           "PREFECT_API_URL": server_env["PREFECT_API_URL"]}
    # A deployment of its own per night: no night can be a run another tree's `serve` registered.
    with serving(wl.registry, work / "inbox", work / "warehouse.duckdb", work / "out", env, work / "serve",
                 name=f"memory-{work.name}", code=code) as served:
        night = served.night(wl.as_of, wl.manifest["files"], wl.manifest["lines"])
    if night["exit_code"] != 0:
        raise SystemExit(f"{name}: the served full night failed\n{night['stdout']}\n{night['stderr']}")
    shutil.rmtree(work / "inbox", ignore_errors=True)  # 160 MB a tree at 400 pilots
    return night


def markdown(nights: dict[str, list[dict]]) -> str:
    lines = ["| tree | round | wall | CPU | peak RSS sum | peak PSS sum | PSS samples read | ms per PSS sample |", "|---|---|---|---|---|---|---|---|"]
    for name, runs in nights.items():
        for i, n in enumerate(runs, 1):
            lines.append(f"| {name} | {i} | {n['wall_seconds']:.1f} s | {n['cpu_seconds']:.1f} s | "
                         f"{n['peak_rss_tree_mib']:.0f} MiB | {n['peak_pss_tree_mib']:.0f} MiB | "
                         f"{n['pss_samples']} of {n['rss_samples']} | {n['sampler_ms_per_pss_sample']} |")
    for peak in ("memory_at_pss_peak_mib", "memory_at_rss_peak_mib"):
        lines += ["", f"At the tree's {'PSS' if 'pss' in peak else 'RSS'} peak (the first round), MiB:", "",
                  "| process | " + " | ".join(f"{name} RSS / PSS / USS" for name in nights) + " |",
                  "|---|" + "---|" * len(nights)]
        held = {name: runs[0][peak] for name, runs in nights.items()}
        for role in [r for r in ROLES if any(r in h for h in held.values())]:
            cells = [f"{h[role]['rss']:.0f} / {h[role]['pss']:.0f} / {h[role]['uss']:.0f}" if role in h else "-"
                     for h in held.values()]
            lines.append(f"| {role} | " + " | ".join(cells) + " |")
        sums = [f"{sum(v['rss'] for v in h.values()):.0f} / {sum(v['pss'] for v in h.values()):.0f} / "
                f"{sum(v['uss'] for v in h.values()):.0f}" for h in held.values()]
        lines.append("| **tree** | " + " | ".join(sums) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = paired_parser(__doc__.split("\n\n")[0], pilots=400, rounds=1)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--work-tree-first", action="store_true", help="the work tree's night first in round 1")
    args = parser.parse_args(argv)
    work = args.work or Path("/tmp") / f"pilotkpi-served-memory-p{args.pilots}"
    work.mkdir(parents=True, exist_ok=True)
    wl = _workload(args.pilots, args.workload, work)
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    tree_at(args.base, base, CODE)
    trees = {args.base: base, "work tree": ROOT}
    nights: dict[str, list[dict]] = {name: [] for name in trees}

    def measure_all(server_env: dict[str, str]) -> dict:
        for r in range(args.rounds):
            for name in list(trees) if (r + args.work_tree_first) % 2 == 0 else list(trees)[::-1]:
                night = full_night(name, trees[name], wl, work / f"night-{len(nights[name])}-{name.replace(' ', '-')}",
                                   server_env)
                nights[name].append(night)
                print(f"round {r + 1} {name}: wall {night['wall_seconds']} s, CPU {night['cpu_seconds']} s, peak RSS "
                      f"{night['peak_rss_tree_mib']} MiB, PSS {night['peak_pss_tree_mib']} MiB, at the PSS peak "
                      f"{night['memory_at_pss_peak_mib']}", file=sys.stderr, flush=True)
        return {}

    bench_run._with_server({**os.environ, **QUIET, "PREFECT_HOME": str(work / "server-home")}, measure_all)
    if args.json:
        args.json.write_text(json.dumps({"pilots": args.pilots, "base": args.base, "nights": nights}, indent=1,
                                        ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(nights))


if __name__ == "__main__":
    main()
