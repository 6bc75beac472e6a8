"""The evidence store is the operator account's alone (issue 14 item 4): it holds the original
bytes, national IDs included. Files 0400 and folders 0700, whatever the umask; a store made by
an earlier version (0755 folders, 0444 files) is tightened at the start of the next run."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest

from warehouse import evidence
from tests.test_flow import make_scenario, run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o077, 0o277], ids=lambda m: f"umask{m:03o}")
def umask(request):
    """0o277 would even take the owner's write bit from a plain mkdir or open."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_kept_files_and_folders_are_owner_only_whatever_the_umask(tmp_path, umask):
    store = tmp_path / "wh.evidence"
    source = tmp_path / "report.csv"
    os.umask(0o022)  # the source file is the agency's, written with an ordinary umask
    source.write_bytes(b"pilot_id,note\nPLT-1,1-1017-00203-93-0\n")
    os.umask(umask)
    sha, size = evidence.keep_file(store, source, 1_000_000)
    other = evidence.keep(store, b"other bytes")
    assert size == 38  # "pilot_id,note\n" 14 bytes + "PLT-1,1-1017-00203-93-0\n" 24 bytes
    for digest in (sha, other):
        kept = evidence.evidence_path(store, digest)
        assert (mode(kept), mode(kept.parent)) == (0o400, 0o700)
    assert mode(store) == 0o700
    assert sorted(p.name for p in store.iterdir()) == sorted({sha[:2], other[:2]})  # no temp file left


def old_store(root: Path) -> Path:
    """A store as earlier versions left it: 0755 folders, 0444 files (2 shards, 3 files)."""
    store = root / "wh.evidence"
    for name in ("ab" + "0" * 62, "ab" + "1" * 62, "cd" + "2" * 62):
        path = store / name[:2] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        path.chmod(0o444)
    for folder in (store, store / "ab", store / "cd"):
        folder.chmod(0o755)
    return store


def test_an_old_store_is_tightened_once(tmp_path):
    store = old_store(tmp_path)
    # The root and both shards (3 folders), and the 3 files.
    assert evidence.secure_store(store) == (3, 3)
    assert {mode(p) for p in [store, *store.iterdir()]} == {0o700}
    assert {mode(p) for p in store.rglob("*") if p.is_file()} == {0o400}
    assert evidence.secure_store(store) == (0, 0)  # nothing left to do: the next runs are cheap


def test_a_shard_loosened_later_is_found(tmp_path):
    store = old_store(tmp_path)
    evidence.secure_store(store)
    (store / "cd").chmod(0o755)
    (store / "cd" / ("cd" + "2" * 62)).chmod(0o644)
    assert evidence.secure_store(store) == (1, 1)
    assert (mode(store / "cd"), mode(store / "cd" / ("cd" + "2" * 62))) == (0o700, 0o400)


def test_a_missing_store_is_left_alone(tmp_path):
    assert evidence.secure_store(tmp_path / "none.evidence") == (0, 0)
    assert not (tmp_path / "none.evidence").exists()


def test_the_first_run_after_the_upgrade_tightens_the_store(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    store = old_store(tmp_path)
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert {mode(p) for p in [store, *store.iterdir()]} == {0o700}
    files = [p for p in store.rglob("*") if p.is_file()]
    assert len(files) == 3 + 5  # the old three and the scenario's five distinct files
    assert {mode(p) for p in files} == {0o400}
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT status FROM ops.runs").fetchall() == [("succeeded",)]
    finally:
        con.close()
