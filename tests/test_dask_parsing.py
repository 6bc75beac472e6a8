"""Reading on Dask (issue 12 item 3; issue 22: the night's second core): a run whose read and
normalise stage runs on Dask workers, while the flow process validates and writes, writes exactly
what the in-process run writes: every mart value for value, and every ingest.submissions /
ingest.issues / core.* row (run ids and receipt times aside).

- `--workers 2` runs as an operator runs it: `python -m flows.cli run --workers 2` in a child
  process, on its ephemeral Prefect server, starting its own local cluster of two processes
  (flows.parallel.local_cluster); nothing is monkeypatched. The workers read the files from the
  evidence store themselves.
- With no option, the night decides by the inbox's size (flows.parallel.use_dask): the demo's 130
  files stay in the flow process (no cluster: no `dask_start` stage), and the same inbox with
  PILOTKPI_DASK_MIN_FILES=100 starts one reading process. Both sides run the real path, through
  the CLI in the test's process (a child process with its own server is the `--workers 2` run's
  subject, not the size rule's).
- `--dask-address` runs on a two-worker LocalCluster that this module starts (the files' bytes
  are sent to the workers).
`distributed` is a declared dependency: without it these tests fail, they are not skipped.

The Dask runs use `--batch-size 7`: the demo's 130 files are 19 batches, more than the ones in
flight, so batches complete while others wait and the writer must keep file-name order. A batch is
read in chunks (flows.parallel.chunks_of: 4 runs of its files to read): 18 batches of 7 files are
4 chunks each, and the last batch's 4 files (its last, a copy of an earlier file, is a duplicate and
not read) are 3 chunks, so CHUNKS = 75 reads in all, whoever reads them.
"""
from __future__ import annotations

import gc
import logging
import os
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
from tests.support import ROOT, SERIAL, child_env, migrated_prefect_home
from warehouse.paths import files_of

FUZZ_SEED, FUZZ_FILES = 1, 200
CHUNKS = 18 * 4 + 3  # the demo's reads at --batch-size 7 (module doc)
VOLATILE = {"run_id", "received_at"}  # differ between any two runs
TABLES = ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines",
          "ingest.held_kpi_actuals", "ingest.held_budget_lines")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as local:
        yield local


def _stage_names(log: Path) -> list[str]:
    """The stages a run logged (PILOTKPI_STAGE_LOG), one name per line, in order."""
    return [line.split()[1] for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("stage ")]


def _run(registry: Path, inbox: Path, root: Path, as_of: date, *extra: str) -> None:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", as_of.isoformat(),
                                       "--settle-seconds", "0", *extra])
    assert result.exit_code == 0, result.output


def _run_as_an_operator(registry: Path, inbox: Path, root: Path, as_of: date, *extra: str, **env_extra: str) -> None:
    """`pilotkpi run` in a process of its own, on its ephemeral Prefect server: no PREFECT_API_*
    from the tests' harness, a PREFECT_HOME of its own; its stages logged in root/stages.log."""
    env = {k: v for k, v in child_env(PREFECT_HOME=str(migrated_prefect_home(root / "prefect-home")), PILOTKPI_STAGE_LOG=str(root / "stages.log"),
                                      **env_extra).items()
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


def _workers_modules(cluster) -> dict:
    """Which of the heavy modules each worker process has imported, and whether it read."""
    from distributed import Client

    def imported() -> dict:
        heavy = ("great_expectations", "pandas", "duckdb", "prefect", "flows")
        return {"heavy": sorted(m for m in heavy if m in sys.modules), "read": "pilots.reading" in sys.modules}

    with Client(cluster.scheduler_address) as client:
        return client.run(imported)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, prefect_harness):
    """The demo inbox: run in process with no option (default batch size), by an operator's
    `pilotkpi run --workers 2 --batch-size 7` in a child process, and in process with no option but
    PILOTKPI_DASK_MIN_FILES=100 (`--batch-size 7`); each with its stage log."""
    runs, stages = {}, {}
    for kind in ("in_process", "workers", "by_size"):
        root = tmp_path_factory.mktemp(f"demo-{kind}")
        paths = demo.write_demo(root)
        if kind == "workers":
            _run_as_an_operator(paths.registry, paths.inbox, root, paths.as_of, "--workers", "2", "--batch-size", "7")
        else:
            # The size rule's two sides through the CLI in this process (nothing monkeypatched but
            # the environment): the child process and its temporary server are the "workers" run's.
            with pytest.MonkeyPatch.context() as env:
                env.setenv("PILOTKPI_STAGE_LOG", str(root / "stages.log"))
                if kind == "in_process":
                    _run(paths.registry, paths.inbox, root, paths.as_of)
                else:
                    env.setenv(parallel.DASK_MIN_FILES_ENV, "100")
                    _run(paths.registry, paths.inbox, root, paths.as_of, "--batch-size", "7")
        runs[kind] = _rows(root / "w.duckdb")
        stages[kind] = _stage_names(root / "stages.log")
    return runs, stages


def _same_as_in_process(local: dict, dask: dict) -> None:
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


@SERIAL  # a Prefect server and a cluster of its own, in a child process
def test_the_demo_on_two_workers_writes_what_the_in_process_run_writes(demo_runs):
    runs, stages = demo_runs
    _same_as_in_process(runs["in_process"], runs["workers"])
    # One cluster start; 19 batches of 7 files, their 75 chunks each read on a worker (which logs
    # `read`) and fetched here (`read_fetch` if finished, else `read_wait`); the flow process reads
    # none (two workers are the second core already) and validates the 19 batches.
    workers = stages["workers"]
    assert workers.count("dask_start") == 1
    # The cluster starts while the server does, and its workers read the first chunks ahead
    # (flows/parallel.py, "Read-ahead"): those are taken as `read_ahead`, each chunk once. A guess
    # whose files the night gave its readers before the guesses reached the worker (a slow start)
    # is not submitted at all: every chunk is read exactly once.
    assert workers.count("read_fetch") + workers.count("read_wait") + workers.count("read_ahead") == CHUNKS
    assert workers.count("read") == CHUNKS
    assert "read_here" not in workers and workers.count("validate") == 19


@SERIAL
def test_a_small_inbox_stays_in_the_flow_process_and_a_large_one_reads_on_a_second(demo_runs):
    """The rule of flows.parallel.use_dask, both sides through `pilotkpi run` with no option: the
    demo's 130 files are under the 2,000 that start a cluster, so no cluster starts and the one
    batch is read and validated here; with the threshold at 100 the same inbox is read on one
    worker process (shared with the flow process), in 19 batches, and writes the same rows."""
    runs, stages = demo_runs
    assert "dask_start" not in stages["in_process"] and "read_wait" not in stages["in_process"]
    assert stages["in_process"].count("read") == 1  # one batch of 1,000 files or fewer, in this process
    assert stages["by_size"].count("dask_start") == 1
    assert stages["by_size"].count("read") == CHUNKS and stages["by_size"].count("validate") == 19
    _same_as_in_process(runs["in_process"], runs["by_size"])


@SERIAL
def test_with_one_reading_process_each_chunk_is_read_once_by_one_of_the_two(demo_runs):
    """Balance (flows.parallel, the module doc): with the default reader, one local worker, the
    flow process reads a chunk itself whenever the next batch to validate is not all read. Which
    chunks each side reads depends on the machine's timing (tests/test_dask_sharing.py pins the
    rule with a stand-in worker); what does not: each of the 75 chunks is read once, either on the
    worker (fetched here: `read_fetch` or `read_wait`, or read ahead: `read_ahead`) or here
    (`read_here`), the 19 batches are
    validated here,
    and the night writes the same rows and marts as the in-process run. `--workers 2` keeps
    every read on its workers."""
    runs, stages = demo_runs
    by_size = stages["by_size"]
    assert by_size.count("read") == CHUNKS  # a guess the night outran is not submitted (never read twice)
    assert sum(by_size.count(name) for name in ("read_fetch", "read_wait", "read_here", "read_ahead")) == CHUNKS
    assert by_size.count("validate") == 19
    assert "read_here" not in stages["workers"] and "read_here" not in stages["in_process"]
    _same_as_in_process(runs["in_process"], runs["by_size"])


def _cluster_that_does_not_start(workers: int):
    raise OSError("no port for the scheduler")


@SERIAL
def test_a_default_cluster_that_does_not_start_leaves_the_read_in_the_flow_process(tmp_path, demo_runs, monkeypatch,
                                                                                   caplog):
    """The thing under test is the fallback, so the cluster's start is made to fail: by default the
    night says so in one WARNING line and reads the 19 batches' 75 chunks here, writing the same
    figures."""
    runs, _ = demo_runs
    paths = demo.write_demo(tmp_path)
    monkeypatch.setattr(parallel, "local_cluster", _cluster_that_does_not_start)
    monkeypatch.setenv(parallel.DASK_MIN_FILES_ENV, "100")
    monkeypatch.setenv("PILOTKPI_STAGE_LOG", str(tmp_path / "stages.log"))
    with caplog.at_level(logging.WARNING):
        _run(paths.registry, paths.inbox, tmp_path, paths.as_of, "--batch-size", "7")
    stages = _stage_names(tmp_path / "stages.log")
    assert stages.count("dask_start") == 1  # tried once
    assert [stages.count(name) for name in ("read", "read_here", "read_wait", "read_fetch")] == [CHUNKS, CHUNKS, 0, 0]
    _same_as_in_process(runs["in_process"], _rows(tmp_path / "w.duckdb"))
    warnings = [r.getMessage() for r in caplog.records if "did not start" in r.getMessage()]
    assert len(warnings) == 1 and "OSError: no port for the scheduler" in warnings[0], warnings


def test_an_explicit_cluster_that_does_not_start_fails_the_run(tmp_path, prefect_harness, monkeypatch):
    """`--workers 1`: the operator asked for the cluster, so its failure fails the run, and the
    warehouse is left as it was (here: no rows)."""
    paths = demo.write_demo(tmp_path)
    monkeypatch.setattr(parallel, "local_cluster", _cluster_that_does_not_start)
    result = CliRunner().invoke(main, ["run", "--registry", str(paths.registry), "--inbox", str(paths.inbox),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"),
                                       "--as-of", paths.as_of.isoformat(), "--settle-seconds", "0",
                                       "--workers", "1", "--batch-size", "7"])
    assert result.exit_code == 1, result.output
    assert "no port for the scheduler" in result.output
    if (tmp_path / "w.duckdb").exists():
        con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM ingest.submissions").fetchone() == (0,)
        finally:
            con.close()


def test_a_threshold_that_is_not_a_number_is_refused_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv(parallel.DASK_MIN_FILES_ENV, "2k")
    paths = demo.write_demo(tmp_path)
    result = CliRunner().invoke(main, ["run", "--registry", str(paths.registry), "--inbox", str(paths.inbox),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "PILOTKPI_DASK_MIN_FILES must be a whole number of new files (e.g. 2000), not '2k'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "w.duckdb").exists()  # nothing started


def test_the_local_cluster_speaks_tls_and_refuses_a_client_without_its_credentials():
    """Security: another local user cannot connect to the night's scheduler and run code there."""
    import distributed

    with parallel.local_cluster(1) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        with distributed.Client(cluster) as client:  # this process holds the credentials
            assert client.submit(sum, [1, 2], pure=False).result() == 3
        plain_address = cluster.scheduler_address.replace("tls://", "tcp://")
        for address in (cluster.scheduler_address, plain_address):
            with pytest.raises((OSError, TypeError, TimeoutError)):
                distributed.Client(address, timeout=3)
            # The refused client is garbage now: collect it here. Collected later, inside the next
            # Client's start, its __del__ stops a loop runner whose lock that start holds, and the
            # test hangs for ever (seen once in the whole suite: distributed's LoopRunner).
            gc.collect()


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
    # The workers read, and imported nothing heavy: validation (GE, pandas) stays in the flow process.
    workers = _workers_modules(cluster)
    assert len(workers) == 2 and any(w["read"] for w in workers.values())
    assert all(w["heavy"] == [] for w in workers.values()), workers


def test_workers_and_an_address_together_are_a_usage_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "i").mkdir()
    result = CliRunner().invoke(main, ["run", "--registry", str(tmp_path / "r"), "--inbox", str(tmp_path / "i"),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"),
                                       "--workers", "2", "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "not both" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_negative_workers_is_a_usage_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "i").mkdir()
    result = CliRunner().invoke(main, ["run", "--registry", str(tmp_path / "r"), "--inbox", str(tmp_path / "i"),
                                       "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out"),
                                       "--workers", "-1"])
    assert result.exit_code == 2
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("options, new_files, batch_size, cpus, expected", [
    # No option: a second process from DASK_MIN_FILES (2,000) new files, on two CPUs or more.
    (parallel.DaskOptions(), 1999, 1000, 2, False),
    (parallel.DaskOptions(), 2000, 1000, 2, True),
    (parallel.DaskOptions(), 20269, 1000, 1, False),  # one CPU: nothing to gain
    (parallel.DaskOptions(), 2000, 5000, 8, False),   # one batch: nothing to overlap
    # --workers 0: never; --workers N / --dask-address: whenever there is more than one batch.
    (parallel.DaskOptions(workers=0), 20269, 1000, 2, False),
    (parallel.DaskOptions(workers=2), 130, 7, 2, True),
    (parallel.DaskOptions(workers=2), 7, 7, 2, False),
    (parallel.DaskOptions(address="tcp://10.0.0.5:8786"), 130, 7, 1, True),
])
def test_when_a_night_reads_on_dask(options, new_files, batch_size, cpus, expected):
    assert parallel.use_dask(options, new_files, batch_size, cpus) is expected


def test_the_threshold_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(parallel.DASK_MIN_FILES_ENV, "100")
    assert parallel.use_dask(parallel.DaskOptions(), 130, 7, 2)
    monkeypatch.setenv(parallel.DASK_MIN_FILES_ENV, "131")
    assert not parallel.use_dask(parallel.DaskOptions(), 130, 7, 2)


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


def test_the_read_half_gives_what_the_whole_pure_stage_gives(tmp_path):
    """read_files (on a worker), pickled as Dask sends it back, then validate_read (here) give the
    same FileReads as read_batch in one process: rows, issues in Thai and English, identity."""
    from pilots.ingest import ToRead, read_batch, validate_read
    from pilots.reading import read_files
    from pilots.registry import load_registry

    paths = demo.write_demo(tmp_path)
    registry = load_registry(paths.registry)
    items = [ToRead(p.name, "0" * 64, path=p) for p in sorted(paths.inbox.iterdir()) if p.is_file()]
    read = pickle.loads(pickle.dumps(read_files(items, registry.kpi_units()), protocol=5))
    assert all(rec.data == b"" for rec in read)  # the bytes are not sent back
    assert validate_read(read, registry, demo.AS_OF) == read_batch(items, registry, demo.AS_OF)
    assert len(items) == 130


def test_a_local_cluster_is_single_threaded_processes_that_import_only_the_reader():
    """Spawned workers do not re-import this process's __main__ (for `pilotkpi run`, flows.cli and
    Prefect): a worker holds distributed and, once it reads, pilots.reading; nothing heavier."""
    import distributed

    main_module = sys.modules["__main__"]
    before = (main_module.__spec__, vars(main_module).get("__file__"))
    with parallel.local_cluster(2) as cluster, distributed.Client(cluster) as client:
        assert sorted(client.nthreads().values()) == [1, 1]
        assert len({pid for pid in client.run(os.getpid).values()} - {os.getpid()}) == 2
        modules = client.run(lambda: sorted(m for m in ("flows", "prefect", "pandas", "duckdb", "great_expectations")
                                            if m in sys.modules))
        assert list(modules.values()) == [[], []]
        mains = client.run(lambda: getattr(sys.modules.get("__mp_main__"), "__file__", None))
        assert list(mains.values()) == [None, None]  # no main module of ours was run there
    assert (main_module.__spec__, vars(main_module).get("__file__")) == before  # given back as it was


MAIN_SCRIPT = """
import json, sys
import prefect  # what `pilotkpi run`'s main module imports, and a worker must not
from flows import parallel
import distributed

if __name__ == "__main__":
    with parallel.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        print(json.dumps(list(client.run(lambda: "prefect" in sys.modules).values())))
"""


def test_a_worker_does_not_run_the_main_script_of_the_process_that_started_it(tmp_path):
    """Without flows.parallel's care, multiprocessing's spawn runs the parent's main script again
    in each worker (for `pilotkpi run`: flows.cli, with Prefect and all it imports)."""
    script = tmp_path / "night.py"
    script.write_text(MAIN_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[false]"


def test_no_cluster_is_started_when_there_is_nothing_to_read():
    """A batch of only duplicates or oversized files has nothing for the workers (no GE either)."""
    with parallel.DaskReader(parallel.DaskOptions(workers=2)) as reader:
        assert list(reader(iter([[], []]), None, date(2006, 8, 15))) == [[], []]
        assert not reader.started
