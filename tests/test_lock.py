"""One run at a time: a second run exits with a clear message or waits (--wait); a lock left by a
killed run is recognised as stale and cleared."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import SERIAL, child_env
from tests.test_flow import AS_OF, make_scenario
from warehouse.lock import lock_path, run_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from warehouse.lock import run_lock
    with run_lock(sys.argv[1]):
        Path(sys.argv[2]).write_text("held")
        time.sleep(float(sys.argv[3]))
""")


TRY_LOCK = textwrap.dedent("""
    import sys
    from warehouse.lock import RunLocked, run_lock
    try:
        with run_lock(sys.argv[1]):
            print("acquired")
    except RunLocked:
        print("RunLocked")
""")


def hold_lock(warehouse, seconds: float, tmp_path) -> subprocess.Popen:
    """Another process (as a running job would) takes the lock and keeps it for `seconds`."""
    marker = tmp_path / "held"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse), str(marker), str(seconds)],
                            env=child_env())
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def run(root, registry, inbox, *extra):
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF, *extra])
    return result.exit_code, result.output


def test_a_second_run_exits_with_a_clear_message(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    holder = hold_lock(tmp_path / "wh.duckdb", 60, tmp_path)
    try:
        code, out = run(tmp_path, registry, inbox)
    finally:
        holder.kill()
        holder.wait()
    assert code == 3
    assert "another run is in progress" in out and f"pid {holder.pid}" in out and "--wait" in out
    assert not (tmp_path / "wh.duckdb").exists() and len(list(inbox.iterdir())) == 6  # nothing touched


@SERIAL  # measures the wait
def test_wait_runs_after_the_other_run_finishes(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    holder = hold_lock(tmp_path / "wh.duckdb", 3, tmp_path)
    started = time.monotonic()
    code, out = run(tmp_path, registry, inbox, "--wait")
    holder.wait()
    assert code == 0, out
    assert "files seen 6: accepted 3" in out
    assert time.monotonic() - started >= 2  # it did wait for the holder


def test_a_stale_lock_of_a_killed_run_is_cleared(tmp_path):
    wh = tmp_path / "wh.duckdb"
    holder = hold_lock(wh, 60, tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert f"pid {holder.pid}" in lock_path(wh).read_text()  # the note stays behind
    notes = []
    with run_lock(wh, on_stale=notes.append):
        with run_lock(wh):  # the same process may nest (the CLI holds it around the flow's own)
            pass
        other = subprocess.run([sys.executable, "-c", TRY_LOCK, str(wh)], capture_output=True, text=True,
                               env=child_env())
        assert other.stdout.strip() == "RunLocked"  # while we hold it, no other process gets it
    assert len(notes) == 1 and f"pid {holder.pid}" in notes[0] and "stale" in notes[0]
    assert lock_path(wh).read_text() == ""  # a clean exit leaves nothing stale


OPEN_THE_FILE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
    Path(sys.argv[3]).write_text("open")
    time.sleep(60)
""")


@pytest.mark.parametrize("mode", ["read-only", "read-write"])
def test_a_program_holding_the_working_file_stops_the_night_with_what_to_do(tmp_path, prefect_harness, mode):
    """An analyst's program holds the WORKING file open (DuckDB's lock): the night changes nothing,
    exits 1, and says which process holds it and that analysts should open the published copy; not
    DuckDB's hint to open it read-only, which a night that writes cannot take (verifier VB, repro/c4)."""
    registry, inbox = make_scenario(tmp_path)
    files = sorted(p.name for p in inbox.iterdir())
    (inbox / files[0]).rename(tmp_path / files[0])  # held back: the night's new file
    assert run(tmp_path, registry, inbox)[0] == 0
    (tmp_path / files[0]).rename(inbox / files[0])
    warehouse = tmp_path / "wh.duckdb"
    before = warehouse.read_bytes()
    marker = tmp_path / "open"
    analyst = subprocess.Popen([sys.executable, "-c", OPEN_THE_FILE, str(warehouse), mode, str(marker)],
                               env=child_env())
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert analyst.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        code, out = run(tmp_path, registry, inbox)
    finally:
        analyst.kill()
        analyst.wait()
    assert code == 1, out
    line, = [line for line in out.splitlines() if line.startswith("pilotkpi:")]
    assert line.startswith(f"pilotkpi: {warehouse}: in use by another program (PID {analyst.pid}, ")
    assert ("which holds DuckDB's lock on it; nothing was changed, and a nightly run's inbox files stay there "
            f"for the next night. Analysts should open the published copy {tmp_path / 'wh.published.duckdb'} "
            "instead (as `pilotkpi sql` does), never the working file") in line
    assert "read-only" not in out and "readonly" not in out
    assert warehouse.read_bytes() == before and (inbox / files[0]).is_file()
    # The analyst gone, the next night takes the file.
    assert run(tmp_path, registry, inbox)[0] == 0 and not (inbox / files[0]).exists()
