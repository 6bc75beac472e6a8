"""The analyst guide's queries, a revision's text against this checkout's, on one published copy.

    .venv/bin/python -m bench.analyst_paired WAREHOUSE.published.duckdb [--against main] [--runs 20]

For each worked question whose SQL differs between the two guides (docs/analyst-guide.md), both
queries run in turns on the same connection (the machine's load hits both alike): the answers must
be the same rows, and each side's p50/p95 (nearest rank, as bench/measure.py) is printed. Exit 1
if an answer differs.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.measure import GUIDE, PAIR, guide_queries, machine, percentile

ROOT = Path(__file__).resolve().parent.parent


def queries_at(revision: str) -> dict[str, str]:
    """title -> SQL of the guide at that revision, read as bench/measure.guide_queries reads it."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{GUIDE.relative_to(ROOT)}"],
                          check=True, capture_output=True, text=True).stdout
    titles = re.findall(r"^## (\d+\. .*)$", text, re.M)
    return dict(zip(titles, [sql for sql, _ in PAIR.findall(text)]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("published", type=Path)
    parser.add_argument("--against", default="main")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    before, now = queries_at(args.against), dict(guide_queries())
    con = duckdb.connect(str(args.published), read_only=True)
    same = True
    print(f"machine {machine()}")
    for title, sql in now.items():
        old = before.get(title)
        if old is None or old == sql:
            continue
        answers = [con.execute(q).fetchall() for q in (old, sql)]
        same &= answers[0] == answers[1]
        times: dict[str, list[float]] = {args.against: [], "branch": []}
        for _ in range(args.runs):
            for side, q in ((args.against, old), ("branch", sql)):
                start = time.perf_counter()
                con.execute(q).fetchall()
                times[side].append((time.perf_counter() - start) * 1000)
        print(f"{title}: {len(answers[1])} rows, same answer: {answers[0] == answers[1]}")
        for side, ms in times.items():
            print(f"  {side:>8}: p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms")
    print(f"machine {machine()}")
    con.close()
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
