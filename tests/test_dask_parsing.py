"""Parsing on Dask (issue 12 item 3): a run whose read/normalise/validate stage runs on Dask
workers writes exactly what the in-process run writes: every mart value for value, and every
ingest.submissions / ingest.issues / core.* row (run ids and receipt times aside).

One two-worker LocalCluster serves the module. `--dask-address` runs on it directly (the files'
bytes are sent to the workers); the `--workers 2` runs get the same cluster through the one seam
that starts a local cluster (flows.parallel._task_runner), so they take the local path: the
workers read the files from the evidence store themselves.

The Dask runs use `--batch-size 7`: the demo's 130 files are 19 batches, more than the 4 in flight
(2 per worker), so batches complete while others wait and the writer must keep file-name order.
"""
from __future__ import annotations

import logging
import pickle
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows import parallel
from flows.cli import main
from pilots import demo
from tests.fuzz import checks as fuzz
from tests.fuzz.generator import generate
from warehouse.paths import files_of

FUZZ_SEED, FUZZ_FILES = 1, 200
VOLATILE = {"run_id", "received_at"}  # differ between any two runs
TABLES = ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines",
          "ingest.held_kpi_actuals", "ingest.held_budget_lines")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as local:
        yield local


def _run(registry: Path, inbox: Path, root: Path, as_of: date, *extra: str) -> None:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", as_of.isoformat(),
                                       "--settle-seconds", "0", *extra])
    assert result.exit_code == 0, result.output


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
def demo_runs(tmp_path_factory, prefect_harness, cluster):
    """The demo inbox, run in process (default batch size) and with --workers 2 (batches of 7)."""
    runs = {}
    for kind in ("in_process", "workers"):
        root = tmp_path_factory.mktemp(f"demo-{kind}")
        paths = demo.write_demo(root)
        if kind == "in_process":
            _run(paths.registry, paths.inbox, root, paths.as_of)
        else:
            with pytest.MonkeyPatch.context() as mp:
                from prefect_dask import DaskTaskRunner

                mp.setattr(parallel, "_task_runner", lambda options: DaskTaskRunner(address=cluster.scheduler_address))
                _run(paths.registry, paths.inbox, root, paths.as_of, "--workers", "2", "--batch-size", "7")
        runs[kind] = _rows(root / "w.duckdb")
    return runs


def test_the_demo_on_two_workers_writes_what_the_in_process_run_writes(demo_runs, cluster):
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
    assert any(local["marts"].values())  # the marts were built, not two empty sets
    # The validation ran on the workers: a GE context was built there, at most one per worker.
    assert set(_ge_contexts(cluster).values()) <= {0, 1} and sum(_ge_contexts(cluster).values()) >= 1


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
