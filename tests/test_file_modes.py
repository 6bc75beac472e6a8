"""Issue 24 item 8c: under `umask 000` nothing pilotkpi writes is writable by group or others.
The working warehouse and its WAL are 0600, the published copy 0444, OUT/ at most 0755 with its
files at most 0644, the evidence folders owner-only (warehouse/modes.py, docs/operations.md)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.support import SERIAL, session_api_env
from tests.test_flow import AS_OF, make_scenario
from warehouse.db import connect, transaction


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@SERIAL  # a whole run in a child process (on the session's Prefect server: the job's files are the subject)
def test_a_run_under_umask_000_writes_nothing_others_can_write(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    env = session_api_env(tmp_path / "prefect-home")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox", str(inbox),
         "--warehouse", str(tmp_path / "wh" / "wh.duckdb"), "--out", str(tmp_path / "out"), "--as-of", AS_OF],
        env=env, preexec_fn=lambda: os.umask(0o000), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    wh = tmp_path / "wh"
    assert mode(wh / "wh.duckdb") == 0o600
    assert not (wh / "wh.duckdb.wal").exists()  # checkpointed at the end of the job
    assert mode(wh / "wh.published.duckdb") == 0o444
    assert mode(wh / "wh.duckdb.lock") == 0o644
    assert mode(wh) == 0o755  # made by the job: umask 000 with group/others' write taken away
    assert mode(wh / "wh.evidence") == 0o700
    out = tmp_path / "out"
    written = list(out.rglob("*"))
    assert {"summary.th.html", "validation.html"} <= {p.name for p in written}
    assert mode(out) == 0o755
    for path in written:
        assert mode(path) == (0o755 if path.is_dir() else 0o644), path
    # The inbox's processed/ and quarantine/ folders are the job's too.
    for folder in (inbox / "processed", inbox / "quarantine"):
        assert mode(folder) & 0o022 == 0, folder


def test_the_wal_is_the_operators_alone_whatever_the_umask(tmp_path):
    old = os.umask(0o000)
    try:
        con = connect(tmp_path / "w.duckdb")
        with transaction(con):
            con.execute("CREATE TABLE t (a INTEGER)")
            con.execute("INSERT INTO t VALUES (1)")
        wal = tmp_path / "w.duckdb.wal"
        assert wal.exists()  # the commit is in the WAL until the next checkpoint
        assert (mode(tmp_path / "w.duckdb"), mode(wal)) == (0o600, 0o600)
        con.close()
    finally:
        os.umask(old)
