"""Parsing on Dask (issue 12 item 3): a run whose read/normalise/validate stage runs on Dask
workers writes exactly what the in-process run writes: every mart value for value, and every
ingest.submissions / ingest.issues / core.* row (run ids and receipt times aside).

- `--workers 2` runs as an operator runs it (issue 22, issue 24 item 10): `python -m flows.cli run
  --workers 2` in a child process, with no PREFECT_API_URL, so it starts its ephemeral Prefect
  server and names it to the workers (flows.cli._api_for_workers), and starts its own local
  cluster of two processes (flows.parallel._task_runner); nothing is monkeypatched. The workers
  read the files from the evidence store themselves. (The tests' Prefect harness cannot be used
  for it: its PREFECT_API_URL makes _api_for_workers do nothing.)
- `--dask-address` runs on a two-worker LocalCluster that this module starts (the files' bytes
  are sent to the workers).
`distributed` is a declared dependency: without it these tests fail, they are not skipped.

The Dask runs use `--batch-size 7`: the demo's 130 files are 19 batches, more than the 4 in flight
(2 per worker), so batches complete while others wait and the writer must keep file-name order.
"""
from __future__ import annotations

import logging
import pickle
import subprocess
import sys
from datetime import date
from pathlib import Path

import distributed
import duckdb
import pytest
from click.testing import CliRunner

from flows import parallel
from flows.cli import main
from pilots import demo
from tests.fuzz import checks as fuzz
from tests.fuzz.generator import generate
from tests.support import ROOT, SERIAL, child_env
from warehouse.paths import files_of

FUZZ_SEED, FUZZ_FILES = 1, 200
VOLATILE = {"run_id", "received_at"}  # differ between any two runs
TABLES = ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines",
          "ingest.held_kpi_actuals", "ingest.held_budget_lines")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as local:
        yield local


def _run(registry: Path, inbox: Path, root: Path, as_of: date, *extra: str) -> None:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", as_of.isoformat(),
                                       "--settle-seconds", "0", *extra])
    assert result.exit_code == 0, result.output


def _run_as_an_operator(registry: Path, inbox: Path, root: Path, as_of: date, *extra: str) -> None:
    """`pilotkpi run` in a process of its own, on its ephemeral Prefect server: no PREFECT_API_*
    from the tests' harness, a PREFECT_HOME of its own."""
    env = {k: v for k, v in child_env(PREFECT_HOME=str(root / "prefect-home")).items()
           if not k.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox", str(inbox),
                           "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of",
                           as_of.isoformat(), "--settle-seconds", "0", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def _rows(warehouse: Path) -> dict[str, list]:
    """Every store's rows, open warehouse first, then the restricted store where the run made one
    (a restricted pilot's files are there only: warehouse.md)."""
    out: dict = {"columns": {}, "marts": {}}
    for path in (warehouse, files_of(warehouse).restricted):
        if not path.exists():
            continue
        con = duckdb.connect(str(path), read_only=True)
        try:
            for table in TABLES:
                schema, name = table.split(".")
                columns = [c for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                    "ORDER BY column_index", [schema, name]).fetchall() if c not in VOLATILE]
                out["columns"][table] = columns
                out.setdefault(table, []).extend(
                    con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY ALL").fetchall())
            out["marts"].update({f"{path.name}: {name}": rows for name, rows in fuzz.marts_snapshot(con).items()})
        finally:
            con.close()
    return out


def _statuses(rows: dict) -> list[str]:
    at = rows["columns"]["ingest.submissions"].index("status")
    return [r[at] for r in rows["ingest.submissions"]]


def _ge_contexts(cluster) -> dict:
    """How many GE contexts each worker process has built (pilots.checks._gx is cached per process)."""
    from distributed import Client

    def built() -> int:
        import pilots.checks

        return pilots.checks._gx.cache_info().currsize

    with Client(cluster.scheduler_address) as client:
        return client.run(built)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, prefect_harness):
    """The demo inbox, run in process (default batch size), and by an operator's `pilotkpi run
    --workers 2 --batch-size 7` in a child process."""
    runs = {}
    for kind in ("in_process", "workers"):
        root = tmp_path_factory.mktemp(f"demo-{kind}")
        paths = demo.write_demo(root)
        if kind == "in_process":
            _run(paths.registry, paths.inbox, root, paths.as_of)
        else:
            _run_as_an_operator(paths.registry, paths.inbox, root, paths.as_of, "--workers", "2", "--batch-size", "7")
        runs[kind] = _rows(root / "w.duckdb")
    return runs


@SERIAL  # a Prefect server and a cluster of its own, in a child process
def test_the_demo_on_two_workers_writes_what_the_in_process_run_writes(demo_runs):
    local, dask = demo_runs["in_process"], demo_runs["workers"]
    # docs/demo.md: 130 files, 121 accepted, 1 superseded, 1 duplicate, 7 quarantined.
    statuses = _statuses(dask)
    assert len(statuses) == 130
    assert (statuses.count("accepted"), statuses.count("superseded"), statuses.count("duplicate"),
            statuses.count("quarantined")) == (121, 1, 1, 7)
    for table in TABLES:
        assert dask[table] == local[table], table
    assert dask["marts"].keys() == local["marts"].keys()
    for name in local["marts"]:
        assert dask["marts"][name] == local["marts"][name], name
    assert all(local["marts"][f"w.duckdb: {name}"] for name in ("kpi_scores", "pilot_scores", "reporting_compliance"))
    assert any(name.startswith("w.restricted.duckdb: ") and rows for name, rows in local["marts"].items())


def test_a_fuzzed_inbox_on_the_cluster_writes_what_the_in_process_run_writes(tmp_path, prefect_harness, cluster):
    files = generate(FUZZ_SEED, FUZZ_FILES)
    results = {}
    for kind, extra in (("in_process", ()), ("address", ("--dask-address", cluster.scheduler_address,
                                                          "--batch-size", "7"))):
        root = tmp_path / kind
        registry = fuzz.write_registry(root / "registry")
        inbox = root / "inbox"
        inbox.mkdir(parents=True)
        for f in files:
            (inbox / f.name).write_bytes(f.data)
        _run(registry, inbox, root, fuzz.AS_OF, *extra)
        results[kind] = _rows(root / "w.duckdb")
    local, dask = results["in_process"], results["address"]
    assert len(dask["ingest.submissions"]) == FUZZ_FILES  # every file recorded once
    assert set(_statuses(dask)) >= {"accepted", "quarantined", "duplicate"}
    for table in (*TABLES, "marts"):
        assert dask[table] == local[table], table
    # The validation ran on the workers: a GE context was built there, at most one per worker.
    contexts = _ge_contexts(cluster)
    assert len(contexts) == 2 and set(contexts.values()) <= {0, 1} and sum(contexts.values()) >= 1


def test_workers_and_an_address_together_are_a_usage_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "i").mkdir()
    result = CliRunner().invoke(main, ["run", "--registry", str(tmp_path / "r"), "--inbox", str(tmp_path / "i"),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"),
                                       "--workers", "2", "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "not both" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_zero_workers_is_a_usage_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "i").mkdir()
    result = CliRunner().invoke(main, ["run", "--registry", str(tmp_path / "r"), "--inbox", str(tmp_path / "i"),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"),
                                       "--workers", "0"])
    assert result.exit_code == 2


def test_the_pure_stage_result_survives_pickling(tmp_path):
    """What a worker sends back: issues keep their parameters (relabelling needs them)."""
    from pilots.ingest import ToRead, read_batch
    from pilots.registry import load_registry

    paths = demo.write_demo(tmp_path)
    registry = load_registry(paths.registry)
    bad = b"pilot_id,agency_code,period\nPLT-2548-003,3009x,2548-Q1\n"
    [result] = read_batch([ToRead("bad.csv", "0" * 64, data=bad)], registry, demo.AS_OF)
    back = pickle.loads(pickle.dumps(result))
    assert back == result
    invalid = [i for i in back.issues if i.code == "AGENCY_CODE_INVALID"]
    assert len(invalid) == 1 and invalid[0].row_number == 2 and invalid[0].params["value"] == "3009x"
    assert back.rows == []  # a quarantined file's rows are never written, so never sent back


def test_workers_start_a_local_cluster_of_that_many_single_threaded_processes():
    runner = parallel._task_runner(parallel.DaskOptions(workers=3))
    assert runner.address is None
    assert {k: runner.cluster_kwargs[k] for k in ("n_workers", "threads_per_worker", "processes")} == {
        "n_workers": 3, "threads_per_worker": 1, "processes": True}
    assert parallel._task_runner(parallel.DaskOptions(address="tcp://10.0.0.5:8786")).address == "tcp://10.0.0.5:8786"
    assert not parallel.DaskOptions().enabled  # no option: the run reads in its own process


def test_no_cluster_is_started_when_there_is_nothing_to_read(monkeypatch):
    """A batch of only duplicates or oversized files has nothing for the workers (no GE either)."""
    def refuse(options):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(parallel, "_task_runner", refuse)
    with parallel.dask_reader(parallel.DaskOptions(workers=2)) as read_batches:
        assert list(read_batches(iter([[], []]), None, date(2006, 8, 15))) == [[], []]
