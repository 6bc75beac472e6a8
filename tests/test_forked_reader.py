"""The warm night's forked reader (flows/forked_reader.py; flows/parallel.py ForkedReader): a
process forked before any thread, which reads the night's inbox ahead while the night receives.

- a whole night with it (two batches) reads every file there once, ahead, and writes what a
  night read in one process writes;
- the night takes the reader's validation only for a batch of the very files it received, with
  its own registry and as-of date;
- it is forked only where this process has one thread;
- it ends with the night: asked to when idle, killed when still reading, and by the kernel when
  the night itself is killed (SIGKILL); every time reaped or gone, never left behind.

Each runs in a child Python of its own: forking needs a process with one thread, which a test
worker is not.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from flows import forked_reader
from pilots import demo
from tests.support import ROOT, SERIAL, child_env, migrated_prefect_home
from tests.test_dask_parsing import _rows, _run_as_an_operator, _stage_names, _statuses

NIGHT = """
import sys
import pilots.checks
pilots.checks.warm_ge()  # as `serve`'s forkserver does (flows/warm_preload.py): the reader validates too
from flows import forked_reader
assert forked_reader.fork() is not None, "no reader forked"
from flows.cli import main
main(sys.argv[1:], prog_name="pilotkpi")
"""


# In each child script: whether this process reaped its child `pid` (no zombie left, none running).
WAS_REAPED = """
import os
def was_reaped(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
"""


def _child(code: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WAS_REAPED + code, *args], cwd=ROOT, env=child_env(**env), capture_output=True,
                          text=True, timeout=timeout)


@SERIAL  # two `pilotkpi run` of their own, each with its temporary server
def test_a_night_reads_its_files_ahead_on_the_forked_reader_and_writes_what_one_process_writes(tmp_path):
    paths = demo.write_demo(tmp_path / "night")
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copytree(paths.inbox, reference / "inbox")
    _run_as_an_operator(paths.registry, reference / "inbox", reference, paths.as_of, "--workers", "0")

    root = tmp_path / "night"
    # One thread (OPENBLAS_NUM_THREADS: numpy's pool) where the reader is forked, as in the forkserver's child.
    env = {k: v for k, v in child_env(PREFECT_HOME=str(migrated_prefect_home(root / "prefect-home")),
                                      PILOTKPI_STAGE_LOG=str(root / "stages.log"), OPENBLAS_NUM_THREADS="1").items()
           if not k.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-c", NIGHT, "run", "--registry", str(paths.registry), "--inbox",
                           str(paths.inbox), "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"),
                           "--as-of", paths.as_of.isoformat(), "--settle-seconds", "0", "--batch-size", "100"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr

    stages = _stage_names(root / "stages.log")
    # The demo's 130 files in batches of 100: two batches (100 and 30 files), each cut in 4 chunks,
    # all 8 read ahead by the reader (its 8 `read` lines) and taken by the night chunk by chunk;
    # none read here, no Dask cluster started. Two batches: the reader validates nothing (it would
    # validate the first only after reading the second), the night validates both. The reader
    # ends once the last read is back, not before: a night of two batches read ahead whole
    # closed it after the first batch and failed on the second (AttributeError, fixed 2026-12-07).
    assert stages.count("read") == 8 and stages.count("read_ahead") == 8
    assert stages.count("validate") == 2 and "validated_ahead" not in stages
    assert "read_here" not in stages and "dask_start" not in stages
    night, alone = _rows(root / "w.duckdb"), _rows(reference / "w.duckdb")
    assert len(_statuses(night)) == 130
    for table in ("ingest.submissions", "ingest.issues", "core.kpi_actuals", "core.budget_lines", "marts"):
        assert night[table] == alone[table], table


def test_no_reader_is_forked_beside_another_thread():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forked_reader.fork() is None
        assert not forked_reader.available() and forked_reader.take() is None
    finally:
        stop.set()
        other.join()


READER = """
import json, os, sys, time
from pathlib import Path
from flows import forked_reader
reader = forked_reader.fork()
from pilots.read_ahead import read_inbox_files
from pilots.reading import unpack_read
report = Path(sys.argv[1])
keys, packed = reader.submit(read_inbox_files, [report], {}).result(60)
(record,) = unpack_read(packed)
failed = reader.submit(len, 5)
try:
    failed.result(60)
except forked_reader.ReaderGone as exc:
    error = str(exc)
busy = reader.submit(time.sleep, 600)
time.sleep(0.5)
reader.close()
reaped = was_reaped(reader.pid)
print(json.dumps({"key": [keys[0][0], keys[0][1]], "format": record.format, "error": error,
                  "busy": type(busy.exception()).__name__, "reaped": reaped}))
"""


def test_the_reader_answers_in_order_and_is_reaped_when_closed_even_while_reading(tmp_path):
    report = tmp_path / "PLT-2548-001_11002_2548-Q1.csv"
    report.write_bytes(b"a,b\n1,2\n")
    done = _child(READER, str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["key"] == [report.name, hashlib.sha256(b"a,b\n1,2\n").hexdigest()]
    assert result["format"] == "csv"
    # An error in the reader comes back as the request's own, named; the next request still runs.
    assert result["error"] == "TypeError: object of type 'int' has no len()"
    # Closed while it still read (a 600 s sleep): killed, reaped, and its request failed.
    assert result["busy"] == "ReaderGone" and result["reaped"] is True


KILLED = """
import sys, time
from flows import forked_reader
reader = forked_reader.fork()
print(reader.pid, flush=True)
time.sleep(600)
"""


def test_the_reader_ends_when_the_night_is_killed():
    child = subprocess.Popen([sys.executable, "-c", KILLED], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                             text=True)
    try:
        reader = psutil.Process(int(child.stdout.readline()))
        assert reader.ppid() == child.pid
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        gone, alive = psutil.wait_procs([reader], timeout=30)
        assert alive == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


BEFORE_ENGINE = """
import json, os, sys
from pathlib import Path
from flows import forked_reader, parallel
from pilots.registry import load_registry
registry_dir, inbox, empty = sys.argv[1:4]
reader = forked_reader.fork()
parallel.read_ahead_before_engine(registry_dir, inbox)
ahead = parallel._engine_ahead
registry = load_registry(Path(registry_dir))
night = parallel._forked_early(parallel.inbox_listing(Path(inbox)), registry, parallel.DaskOptions(), 750)
kept = night is not None and night.ahead is ahead
covered = ahead.covering([parallel.ToRead(name, "") for g in ahead.guesses for name in g.names], registry.kpi_units())
night.close()
quiet = forked_reader.fork()
parallel.read_ahead_before_engine(registry_dir, empty)
quiet_reaped = was_reaped(quiet.pid)
quiet_reader = forked_reader.available()
os.environ["PILOTKPI_DASK_MIN_FILES"] = "100"  # with batches of 50, the demo's 130 files are a Dask night's
big = forked_reader.fork()
parallel.read_ahead_before_engine(registry_dir, inbox, 50)
print(json.dumps({"chunks": [len(g.items) for g in ahead.guesses], "kept": kept, "covered": len(covered),
                  "quiet_reader": quiet_reader, "quiet_reaped": quiet_reaped,
                  "dask_reader": forked_reader.available(), "dask_reaped": was_reaped(big.pid),
                  "dask_ahead": parallel._engine_ahead is not None}))
"""


def test_a_served_night_reads_ahead_from_before_its_engine_and_a_quiet_one_ends_its_reader(tmp_path):
    """flows/warm.py run_engine: the deployment's inbox read ahead before the engine starts; the
    night's reader takes those guesses (read with its units); an empty inbox, or one Dask will read,
    ends the reader at once."""
    paths = demo.write_demo(tmp_path / "demo")
    (tmp_path / "empty").mkdir()
    done = _child(BEFORE_ENGINE, str(paths.registry), str(paths.inbox), str(tmp_path / "empty"))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The demo's 130 files, one batch of 750, cut in 4 chunks (33, 33, 32, 32), all read ahead and kept.
    assert result["chunks"] == [33, 33, 32, 32] and result["kept"] is True and result["covered"] == 4
    assert result["quiet_reader"] is False and result["quiet_reaped"] is True
    # An inbox Dask will read (PILOTKPI_DASK_MIN_FILES=100, batches of 50, 130 files) ends the reader too,
    # with nothing read ahead on it (the served full night's start paid 1.9 s for it, run 23).
    assert result["dask_reader"] is False and result["dask_reaped"] is True and result["dask_ahead"] is False


DIED = """
import json, os, signal, time
from flows import forked_reader
reader = forked_reader.fork()
first = reader.submit(time.sleep, 600)
time.sleep(0.5)
os.kill(reader.pid, signal.SIGKILL)  # the reader dies while it reads (the OOM killer)
errors = []
for future in (first, reader.submit(len, "abc")):  # the one under way, and one asked for after
    try:
        future.result(60)
    except forked_reader.ReaderGone as exc:
        errors.append(type(exc).__name__)
reader.close()
reaped = was_reaped(reader.pid)
print(json.dumps({"errors": errors, "reaped": reaped}))
"""


def test_a_reader_that_died_fails_its_requests_and_is_still_reaped():
    """The night then reads those files itself (a guess that failed is no read: flows/parallel.py)."""
    done = _child(DIED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"errors": ["ReaderGone", "ReaderGone"], "reaped": True}


VALIDATED = """
import json, os, sys
from datetime import date, timedelta
from pathlib import Path
import pilots.checks
pilots.checks.warm_ge()  # as `serve`'s forkserver does before each night (flows/warm_preload.py)
from flows import forked_reader, parallel
from pilots.ingest import _line_columns, read_batch
from pilots.read_ahead import _guess
from pilots.registry import load_registry
from warehouse.stages import STAGE_LOG_ENV
registry_dir, inbox, changed_copy, as_of = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), date.fromisoformat(sys.argv[4])
registry = load_registry(registry_dir)
paths = parallel.inbox_listing(inbox)
log = Path(os.environ[STAGE_LOG_ENV])

def night(items, validate_as_of):
    # A served night's reads: its reader forked at its start, reading the inbox ahead, asked to
    # validate what it read (with the night's registry and this date), then the night's one batch.
    assert forked_reader.fork() is not None
    log.write_text("")
    reader = parallel._forked_early(paths, registry, parallel.DaskOptions(), 750)
    reader.ahead.validate_ahead(reader.client, registry_dir, registry, validate_as_of)
    with reader:
        [reads] = list(reader(iter([items]), registry, as_of))
    stages = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("stage ")]
    alone = read_batch(items, registry, as_of)  # the same batch read and validated in this process
    # FileRead.cells (what the write takes the lines from) is left out of ==: the lines as written.
    written = [[(k.values, b.values) for k, b in [_line_columns([(n, r) for n, r in enumerate(rs) if not r.errors])]]
               for rs in (reads, alone)]
    return {"same": reads == alone and written[0] == written[1], "files": len(reads), "quarantined": sum(bool(r.errors) for r in reads),
            "validated_ahead": stages.count("validated_ahead"), "read_ahead": stages.count("read_ahead"),
            "read_here": stages.count("read_here"), "validate": stages.count("validate")}

items = [_guess(path) for path in paths]
changed = list(items)
changed[5] = _guess(changed_copy)  # the same name, other bytes: received after the read-ahead
cases = {"as_read": (items, as_of), "fewer": (items[:40] + items[41:], as_of), "changed": (changed, as_of),
         "other_date": (items, as_of + timedelta(days=1))}
results = {}
for case, args in cases.items():  # each night in a process of its own, forked while this one has one thread
    out = log.with_name(case + ".json")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out.write_text(json.dumps(night(*args)))
            code = 0
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, case
    results[case] = json.loads(out.read_text())
print(json.dumps(results))
"""


def test_the_reader_validates_what_it_read_ahead_and_the_night_takes_it_only_for_the_files_it_received(tmp_path):
    """flows/parallel.py, "Validated ahead": the reader (whose forkserver built GE) validates its
    reads of the night's batch; the night takes those FileReads for a batch of the very files it
    received (every file's name, bytes and issues), with its own registry and as-of date, and they
    are what the night's own validation gives. Otherwise it validates the batch itself."""
    paths = demo.write_demo(tmp_path / "demo")
    names = sorted(p.name for p in paths.inbox.iterdir() if p.is_file())
    copy = tmp_path / "later" / names[5]
    copy.parent.mkdir()
    copy.write_bytes((paths.inbox / names[5]).read_bytes() + b"\n")
    done = _child(VALIDATED, str(paths.registry), str(paths.inbox), str(copy), paths.as_of.isoformat(),
                  OPENBLAS_NUM_THREADS="1", PILOTKPI_STAGE_LOG=str(tmp_path / "stages.log"))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The demo's 130 files, 7 of them quarantined (tests/test_demo_run.py): one validation, in the reader
    # (its `validate` line), taken whole by the night; none of the 4 guesses taken file by file.
    assert result["as_read"] == {"same": True, "files": 130, "quarantined": 7, "validated_ahead": 1,
                                 "read_ahead": 0, "read_here": 0, "validate": 1}
    # A batch without one of the files read (a byte-identical copy is not read again): taken too.
    assert result["fewer"] == {"same": True, "files": 129, "quarantined": 7, "validated_ahead": 1,
                               "read_ahead": 0, "read_here": 0, "validate": 1}
    # One file changed after the reader read it: the night takes the 4 guesses file by file, reads
    # the changed one itself and validates the batch itself (the reader's validation, and its
    # `validate` line, are left unused).
    assert result["changed"] == {"same": True, "files": 130, "quarantined": 7, "validated_ahead": 1,
                                 "read_ahead": 4, "read_here": 1, "validate": 2}
    # Validated with another as-of date than the night's: not taken, not even waited for (whether
    # the reader's own validation ran before the night closed it is left open).
    other = result["other_date"]
    assert other["same"] is True and other["validated_ahead"] == 0 and other["read_ahead"] == 4
