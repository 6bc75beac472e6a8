"""The run history as an operator reads it: ops.run_history fits an 80-column terminal, newest
first, with its times in Bangkok time and their offset (stored times are UTC)."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from datetime import date, datetime

from warehouse import store
from warehouse.db import connect
from warehouse.publish import publish
from tests.support import ROOT, child_env

# (run_id, UTC start, kind, final status, accepted, quarantined): the widest values the columns hold.
RUNS = [
    ("20261123T190001Z-aaaaaaaa", datetime(2026, 11, 23, 19, 0, 1), "run", "succeeded", 121, 7),
    ("20261124T031530Z-bbbbbbbb", datetime(2026, 11, 24, 3, 15, 30), "reprocess", "committed_with_errors", 1, 0),
    ("20261124T173000Z-cccccccc", datetime(2026, 11, 24, 17, 30, 0), "rebuild", "failed", 0, 0),
]
# UTC + 7 h: 19:00:01 on 23 Nov is 02:00 on 24 Nov; 03:15:30 is 10:15; 17:30 on 24 Nov is 00:30 on 25 Nov.
EXPECTED = [
    ("2026-11-25 00:30+07:00", "rebuild", "failed", 0, 0),
    ("2026-11-24 10:15+07:00", "reprocess", "committed_with_errors", 1, 0),
    ("2026-11-24 02:00+07:00", "run", "succeeded", 121, 7),
]


def _warehouse(tmp_path):
    path = tmp_path / "wh.duckdb"
    con = connect(path)
    for run_id, started, kind, status, accepted, quarantined in RUNS:
        store.start_run(con, run_id, started, date(2006, 8, 15), "sha", "test", kind)
        store.finish_run(con, run_id, started.replace(second=59), status,
                         {"files_seen": accepted + quarantined, "accepted": accepted, "quarantined": quarantined})
    con.close()
    publish(path)
    return path


def test_run_history_is_newest_first_in_bangkok_time(tmp_path):
    con = connect(_warehouse(tmp_path), read_only=True)
    try:
        assert con.execute("FROM ops.run_history").fetchall() == EXPECTED
    finally:
        con.close()


def _in_a_terminal(args: list[str], columns: int) -> str:
    """The command's output on a pseudo-terminal `columns` wide, as an operator's terminal is."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=child_env(COLUMNS=str(columns)))
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        assert process.wait(60) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_run_history_fits_an_80_column_terminal(tmp_path):
    warehouse = _warehouse(tmp_path)
    out = _in_a_terminal(["sql", "--warehouse", str(warehouse), "-c", "FROM ops.run_history LIMIT 5;"], 80)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert "…" not in out and "shown)" not in out, out  # no column hidden or cut
    for started, kind, status, ok, quar in EXPECTED:
        assert any(started in line and f" {kind} " in line and f" {status} " in line for line in lines), out
