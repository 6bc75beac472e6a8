"""A night killed with SIGKILL while a Dask worker reads for it (issue 22, the second core).

The night runs as an operator runs it (`python -m flows.cli run`, its ephemeral Prefect server),
reading on a worker process by the size rule (PILOTKPI_DASK_MIN_FILES lowered to 10 for the
demo's files, `--batch-size 7`), and is stopped at the ingest test point, after its first batch
is written while the worker reads the next ones. Only the flow process is killed (not its process
group): its worker, and every other process it started, must go by themselves, since an orphan
worker would hold memory and a core for nothing. The warehouse must hold the night before, and the
next night must write what an uninterrupted one writes.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from pilots import demo
from pilots.demo import DemoPaths
from tests.support import ROOT, SERIAL, child_env, migrated_prefect_home
from tests.test_dask_parsing import TABLES, _rows, _run

FIRST_NIGHT = 60  # the demo's first 60 files (in name order) the first night, the other 70 the next


def _split_demo(root: Path):
    """The demo written under root, its inbox holding the first night's files; the next night's
    files wait in root/later."""
    paths = demo.write_demo(root)
    later = root / "later"
    later.mkdir()
    for path in sorted(p for p in paths.inbox.iterdir() if p.is_file())[FIRST_NIGHT:]:
        path.rename(later / path.name)
    return paths, later


def _bring_in(later: Path, inbox: Path) -> None:
    for path in sorted(later.iterdir()):
        path.rename(inbox / path.name)


def _comparable(rows: dict) -> dict:
    return {table: rows[table] for table in (*TABLES, "marts")}


def reference_and_first_night(tmp_path: Path):
    """The two nights uninterrupted, in process (tmp_path/reference), and in tmp_path/killed the
    first night run and the next night's files brought in: (reference tables, paths there, the
    tables after its first night)."""
    ref_paths, ref_later = _split_demo(tmp_path / "reference")
    _run(ref_paths.registry, ref_paths.inbox, tmp_path / "reference", ref_paths.as_of)
    # The killed side's first night is this one, copied (every path in the folder is relative to
    # it; mtimes kept): the same files through the same job, one demo night fewer to run.
    root = tmp_path / "killed"
    shutil.copytree(tmp_path / "reference", root, symlinks=True)
    paths, later = DemoPaths(root / "registry", root / "inbox", ref_paths.as_of), root / "later"
    before = _comparable(_rows(root / "w.duckdb"))
    _bring_in(later, paths.inbox)

    _bring_in(ref_later, ref_paths.inbox)
    _run(ref_paths.registry, ref_paths.inbox, tmp_path / "reference", ref_paths.as_of)
    reference = _comparable(_rows(tmp_path / "reference" / "w.duckdb"))
    return reference, paths, before


def night_paused_at(point: str, paths, root: Path) -> tuple[subprocess.Popen, Path]:
    """The next night as an operator runs it, in a child process reading on a worker by the size
    rule, stopping at the test point `point`: the process, and the marker it writes there."""
    marker = root / "paused"
    env = {k: v for k, v in child_env(PREFECT_HOME=str(migrated_prefect_home(root / "prefect-home")), PILOTKPI_DASK_MIN_FILES="10",
                                      PILOTKPI_PAUSE_AT=point, PILOTKPI_PAUSE_MARKER=str(marker)).items()
           if not k.startswith("PREFECT_API")}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "--registry", str(paths.registry), "--inbox",
                             str(paths.inbox), "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"),
                             "--as-of", paths.as_of.isoformat(), "--settle-seconds", "0", "--batch-size", "7"],
                            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, marker


def _killed_at_ingest(paths, root: Path) -> tuple[list[psutil.Process], list[str]]:
    """Run the next night in a child process, SIGKILL its flow process at the ingest point; the
    processes it had started (children and their children) when it was killed, and their
    command lines then."""
    proc, marker = night_paused_at("ingest", paths, root)
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine takes minutes to get there
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before reaching ingest: {proc.stdout.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the run never reached ingest"
            time.sleep(0.1)
        started = psutil.Process(proc.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in started]
        os.kill(proc.pid, signal.SIGKILL)  # the flow process alone
        proc.wait()
        return started, commands
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@SERIAL  # a Prefect server and a cluster of its own, in a child process
def test_a_night_killed_while_a_worker_reads_leaves_the_warehouse_old_and_no_process_behind(tmp_path, prefect_harness):
    # The reference: the same two nights, uninterrupted, in process.
    reference, paths, before = reference_and_first_night(tmp_path)
    root = tmp_path / "killed"
    assert len(before["ingest.submissions"]) == FIRST_NIGHT

    started, commands = _killed_at_ingest(paths, root)
    assert any("multiprocessing.spawn" in c and "spawn_main" in c for c in commands), commands  # a Dask worker
    # Each goes by itself: the worker (distributed's parent-alive pipe), multiprocessing's
    # resource tracker, Prefect's server (flows/ephemeral.py's watchdog) and the watchdog.
    gone, alive = psutil.wait_procs(started, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]

    duckdb.connect(str(root / "w.duckdb")).close()  # read-write: replays the WAL, as the next job does
    assert _comparable(_rows(root / "w.duckdb")) == before  # the killed night wrote nothing

    _run(paths.registry, paths.inbox, root, paths.as_of)
    assert _comparable(_rows(root / "w.duckdb")) == reference
    assert len(reference["ingest.submissions"]) == 130
