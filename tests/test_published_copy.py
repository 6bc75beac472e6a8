"""Analysts read the published copy while the nightly run writes: no lock error, the old figures
until they reconnect, the new ones after; a failed run never publishes."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from warehouse.publish import published_path

ANALYST = textwrap.dedent("""
    import sys, duckdb
    path = sys.argv[1]
    query = "SELECT count(*) FROM ingest.submissions WHERE status = 'accepted'"
    con = duckdb.connect(path, read_only=True)
    print("open", con.execute(query).fetchone()[0], flush=True)
    sys.stdin.readline()                       # the nightly run happens meanwhile
    print("same-connection", con.execute(query).fetchone()[0], flush=True)
    con.close()
    con = duckdb.connect(path, read_only=True)
    print("reconnected", con.execute(query).fetchone()[0], flush=True)
""")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def first_run(tmp_path, scenario_copy):
    """The scenario's first night (tests/conftest.py scenario_copy, in tmp_path)."""
    registry, inbox = scenario_copy
    return tmp_path, registry, inbox


def test_an_analyst_holding_the_copy_open_sees_new_figures_after_reconnecting(first_run):
    from tests.test_flow import _csv, run_cli

    root, registry, inbox = first_run
    published = published_path(root / "wh.duckdb")
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(published)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert analyst.stdout.readline().split() == ["open", "3"]  # a, b and d of tests/test_flow.py (c superseded, e duplicate, f quarantined)
        # A new, valid secondary-agency report arrives; the nightly run writes and publishes.
        (inbox / "g_sec_q2.csv").write_bytes(_csv("PLT-2548-003,15001,2548-Q2,2005-04-20,budget,ACT-1,5,,500000,200000,own,"))
        code, output = run_cli(registry, inbox, root)
        assert code == 0, output
        out, err = analyst.communicate("go\n", timeout=60)
    finally:
        analyst.kill()
    assert analyst.returncode == 0, err
    assert out.split("\n")[:2] == ["same-connection 3", "reconnected 4"]
    assert "lock" not in err.lower()


def test_a_failed_run_never_publishes(first_run, monkeypatch):
    from tests.test_flow import _csv, run_cli

    root, registry, inbox = first_run
    published = published_path(root / "wh.duckdb")
    before = sha(published)
    (inbox / "g_sec_q2.csv").write_bytes(_csv("PLT-2548-003,15001,2548-Q2,2005-04-20,budget,ACT-1,5,,500000,200000,own,"))

    def boom(con, as_of, **kwargs):
        raise OSError("disk full while building the marts")

    monkeypatch.setattr("flows.nightly.build_marts", boom)
    code, output = run_cli(registry, inbox, root)
    assert code == 1 and "disk full" in output
    assert sha(published) == before
    # No temporary copy is left; the folder wh.duckdb.tmp is DuckDB's spill folder (warehouse/db.py).
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp") and p.is_file()]


def test_publish_clears_a_temporary_copy_left_by_a_killed_run(tmp_path):
    from warehouse.db import connect
    from warehouse.publish import publish

    wh = tmp_path / "wh.duckdb"
    connect(wh).close()
    leftover = tmp_path / ".wh.published.duckdb.99999.tmp"
    leftover.write_bytes(b"half a copy")
    publish(wh)
    assert not leftover.exists() and published_path(wh).exists()


def test_a_source_written_while_it_is_copied_is_not_published(tmp_path, monkeypatch):
    """The job's connection stays open through the copy (flows/cheap.py): should anything write
    into the file meanwhile, the copy may mix old and new blocks, and is not published."""
    import shutil

    from warehouse.db import connect
    from warehouse.publish import publish

    wh = tmp_path / "wh.duckdb"
    connect(wh).close()
    publish(wh)
    before = hashlib.sha256(published_path(wh).read_bytes()).hexdigest()
    copy = shutil.copyfile

    def copy_while_written(source, target):
        copy(source, target)
        with open(source, "ab") as fh:  # a block written into the file during the copy
            fh.write(b"\0" * 4096)

    monkeypatch.setattr("warehouse.publish.shutil.copyfile", copy_while_written)
    with pytest.raises(RuntimeError, match="wh.duckdb changed while it was copied"):
        publish(wh)
    assert hashlib.sha256(published_path(wh).read_bytes()).hexdigest() == before  # the last copy stays
    assert list(tmp_path.glob(".wh.published.duckdb.*")) == []
