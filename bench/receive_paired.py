"""The idle second core before and after the ingest (issue 22, engineer R): a base revision
against this work tree, paired, in one command.

    python -m bench.receive_paired receive [--workload /tmp/W400 | --pilots 100] [--base main] [--rounds 3]
    python -m bench.receive_paired night [--workload DIR | --pilots 100] [--base main] [--rounds 2]

`receive`: pilots.inbox.receive of the whole inbox (copy and hash of every file into a fresh
evidence store, one flush), in each tree's own Python process (bench/paired.py), the trees taking
turns (the order alternates between rounds, so a change of the machine's load hits both alike).
Per run: wall and CPU seconds of the receive (time.process_time: every thread of the process),
of which `sync_s` the one flush (os.sync: the whole machine's dirty pages, so on a shared machine
it mostly measures the others' writes) and `copy_s` the rest,
and a digest of what it gave and kept (each InboxFile's name, SHA-256, size and stored path, in
order, and the store's files with their modes): both trees must give the same digest.

`night`: the full first night of each tree (bench/second_core.night: a fresh warehouse and a
fresh copy of the inbox, Prefect's ephemeral server), the trees taking turns. Per night: wall, CPU
of the process tree, the stages of the steps before and after the ingest (`receive`;
`validation_report`, `summaries`, `letters`, `file_away`, `file_away_background`, `publish`), and
two hashes that must be equal between the trees: every table the night wrote (second_core's), and
its outputs: the bytes of every file under OUT (the run's id and times written as placeholders;
the outputs book and the summaries' section caches, `.pilotkpi-*`, which key by code digests,
left out) and where each inbox file was
filed (processed/ or quarantine/, by name).

The load average before each run is printed with it: the machine is shared, so compare the two
trees of the same round, and the medians. The result ends with one JSON line.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import workload
from bench.paired import FOLDERS, run_in, tree_at

ROOT = Path(__file__).resolve().parent.parent
CODE = ("flows", "kpis", "pilots", "warehouse", "web")

RECEIVE = r"""
import hashlib, json, os, shutil, sys, time
from pathlib import Path
from pilots import inbox

source, store = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(store, ignore_errors=True)
paths = inbox.candidates(source)
synced = [0.0]
real_sync = os.sync
def timed_sync():
    start = time.perf_counter()
    real_sync()
    synced[0] += time.perf_counter() - start
os.sync = timed_sync  # the one flush: the whole machine's dirty pages, whoever wrote them
load = os.getloadavg()[0]
wall, cpu = time.perf_counter(), time.process_time()
files = inbox.receive(paths, store)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
digest = hashlib.sha256()
for f in files:
    kept = f.kept_at.relative_to(store).as_posix() if f.kept_at else None
    digest.update(repr((f.name, f.inbox_path.name, f.sha256, f.size, kept)).encode())
for p in sorted(store.rglob("*")):
    digest.update(repr((p.relative_to(store).as_posix(), oct(p.lstat().st_mode))).encode())
shutil.rmtree(store, ignore_errors=True)
print(json.dumps({"files": len(files), "wall_s": round(wall, 3), "sync_s": round(synced[0], 3),
                  "copy_s": round(wall - synced[0], 3), "cpu_s": round(cpu, 3),
                  "load_before": round(load, 2), "digest": digest.hexdigest()}))
"""

NIGHT_STAGES = ("receive", "validation_report", "summaries", "artifact", "letters", "file_away",
                "file_away_background", "publish")


def _workload(args) -> workload.Workload:
    if args.workload:
        folder = args.workload
    else:
        folder = _work(args) / f"workload-p{args.pilots}"
        if not (folder / "manifest.json").exists():
            return workload.write_workload(folder, args.pilots)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return workload.Workload(folder / "registry", folder / "inbox", workload.AS_OF, manifest)


def _base_tree(rev: str, folder: Path) -> Path:
    """The code of `rev` in `folder`, written afresh."""
    shutil.rmtree(folder, ignore_errors=True)
    return tree_at(rev, folder, tuple(dict.fromkeys(CODE + FOLDERS)))


def _work(args) -> Path:
    return args.work or Path(tempfile.gettempdir()) / "pilotkpi-receive-paired"


def outputs_hash(root: Path, run_id: str) -> str:
    """SHA-256 of what a night left outside the warehouse: OUT's files (the run's own id and
    stamps as placeholders, the outputs book left out) and the inbox's filing, by name."""
    digest = hashlib.sha256()
    out = root / "out"
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".pilotkpi-")):
        data = path.read_bytes().replace(run_id.encode(), b"<run>")
        data = re.sub(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?( UTC)?", b"<time>", data)
        digest.update(f"{path.relative_to(out).as_posix().replace(run_id, '<run>')} {len(data)}\n".encode())
        digest.update(data)
    for folder in ("", "processed", "quarantine"):
        names = sorted(p.name for p in (root / "inbox" / folder).iterdir() if p.is_file()) \
            if (root / "inbox" / folder).is_dir() else []
        digest.update(f"{folder or 'inbox'}: {names}\n".encode())
    return digest.hexdigest()


def _run_id(warehouse: Path) -> str:
    """The night's run id (the only run in its fresh warehouse)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT max(run_id) FROM ops.runs").fetchone()[0]
    finally:
        con.close()


def pair(trees: dict[str, Path], rounds: int, one) -> dict[str, list[dict]]:
    """`one(name, tree)` for each tree in turn, `rounds` times, the order alternating."""
    results: dict[str, list[dict]] = {name: [] for name in trees}
    for r in range(rounds):
        for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            row = one(name, trees[name])
            results[name].append(row)
            print(f"round {r + 1} {name}: {json.dumps(row)}", flush=True)
    return results


def medians(rows: list[dict], keys: list[str]) -> dict[str, float]:
    return {k: round(statistics.median(r.get(k, 0.0) for r in rows), 3) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("receive", "night"))
    parser.add_argument("--pilots", type=int, default=100)
    parser.add_argument("--workload", type=Path, default=None, help="a workload written already (e.g. /tmp/W400)")
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--store", type=Path, default=None,
                        help="receive: the evidence store's folder (default: under --work; e.g. /dev/shm/x "
                             "to leave the disk's journal out of a shared machine's figures)")
    args = parser.parse_args()
    wl = _workload(args)
    work = _work(args)
    trees = {args.base: _base_tree(args.base, work / "base"), "work tree": ROOT}

    if args.what == "receive":
        results = pair(trees, args.rounds, lambda name, tree: run_in(tree, RECEIVE, wl.inbox, args.store or work / "store"))
        keys = ["wall_s", "copy_s", "sync_s", "cpu_s"]
        same = len({r["digest"] for rows in results.values() for r in rows}) == 1
    else:
        from bench.second_core import night

        def one(name: str, tree: Path) -> dict:
            root = work / "night"
            row = night(tree, wl, root, [])
            stages = row.pop("stages")
            row.update({k: stages.get(k, 0.0) for k in NIGHT_STAGES})
            row["after_commit_s"] = round(sum(stages.get(k, 0.0) for k in NIGHT_STAGES[1:]
                                             if k != "file_away_background"), 2)
            row["outputs"] = outputs_hash(root, _run_id(root / "w.duckdb"))
            for noisy in ("by_process", "peak_flow_by_stage", "summary"):
                row.pop(noisy, None)
            return row

        results = pair(trees, args.rounds, one)
        keys = ["wall_s", "cpu_s", *NIGHT_STAGES, "after_commit_s"]
        same = (len({r["hash"] for rows in results.values() for r in rows}) == 1
                and len({r["outputs"] for rows in results.values() for r in rows}) == 1)
    for name, rows in results.items():
        print(f"{name}: medians {medians(rows, keys)}, loads {[r['load_before'] for r in rows]}", flush=True)
    print(json.dumps({"what": args.what, "files": wl.manifest["files"], "same_results": same,
                      "medians": {name: medians(rows, keys) for name, rows in results.items()}}))


if __name__ == "__main__":
    main()
