"""The later nights' fixed costs (issue 22 items 3 and 5): what a night after the first does once
instead of twice. The nights themselves are in tests/test_incremental.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pilots.registry import RegistryError, load_registry

VALID = Path(__file__).parent / "data" / "registry" / "valid"
P1 = "pilots/PLT-2548-001.yaml"


def test_the_registry_is_parsed_once_for_the_same_bytes_and_again_when_a_byte_changes(tmp_path):
    """`pilotkpi run` checks the registry before Prefect starts and the job loads it again: the
    second load of the same bytes is the first one's registry; any change of a file is read."""
    folder = tmp_path / "registry"
    shutil.copytree(VALID, folder)
    first = load_registry(folder)
    assert load_registry(folder) is first
    assert first.pilots["PLT-2548-001"].report_due_days == 45

    path = folder / P1
    path.write_text(path.read_text(encoding="utf-8").replace("report_due_days: 45", "report_due_days: 46"),
                    encoding="utf-8")
    edited = load_registry(folder)
    assert edited is not first and edited.pilots["PLT-2548-001"].report_due_days == 46
    assert edited.content_sha256 != first.content_sha256

    (folder / "secretariat.yml").write_text("name_th: x\n", encoding="utf-8")  # misnamed: refused, never cached
    for _ in range(2):
        with pytest.raises(RegistryError, match="secretariat.yaml"):
            load_registry(folder)
    (folder / "secretariat.yml").unlink()
    assert load_registry(folder).pilots["PLT-2548-001"].report_due_days == 46


def _evidence_rows(shas: list[str]):
    """A store's ingest.submissions as the evidence sweep reads it: these files, kept."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE SCHEMA ingest; CREATE TABLE ingest.submissions (sha256 VARCHAR, evidence_kept BOOLEAN)")
    con.execute("INSERT INTO ingest.submissions SELECT unnest(?::VARCHAR[]), true", [shas])
    return con


def _put_evidence(folder: Path, data: bytes) -> Path:
    import hashlib

    from warehouse import evidence

    path = evidence.evidence_path(folder, hashlib.sha256(data).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_evidence_sweep_lists_a_store_once_for_many_candidates(tmp_path):
    """At the job's start, a file both stores hold leaves the store whose rows do not reference it
    (warehouse/moves.sweep_evidence). The restricted folder is listed (its shard folders only),
    and the open rows (300 files here) are read only because it holds files its rows do not
    reference: the same files go."""
    import hashlib

    from warehouse import moves

    files = [f"report {i}\n".encode() for i in range(300)]
    shas = [hashlib.sha256(d).hexdigest() for d in files]
    open_dir, restricted_dir = tmp_path / "open", tmp_path / "restricted"
    kept = [_put_evidence(open_dir, d) for d in files[:2]]  # the open store holds these two
    stale = [_put_evidence(restricted_dir, d) for d in files[:3]]  # left in the restricted store by a move back
    (restricted_dir / ".staging" / shas[0][:2]).mkdir(parents=True)  # a staging shard: not the store's
    assert moves._listed(restricted_dir) == set(shas[:3])
    open_con, rcon = _evidence_rows(shas), _evidence_rows([])
    try:
        assert moves.sweep_evidence(open_con, rcon, open_dir, restricted_dir) == 2
    finally:
        open_con.close()
        rcon.close()
    assert [p.exists() for p in stale] == [False, False, True]  # the third: no copy in the open store
    assert all(p.exists() for p in kept)


def test_the_evidence_sweep_removes_a_restricted_file_left_in_the_open_folder(tmp_path):
    """The other direction of warehouse/moves.sweep_evidence: a move to the restricted store killed
    after its commit leaves the file in the open folder too. The restricted rows reference it, the
    open rows do not: it leaves the open folder (looked up there by name), once the restricted
    folder holds the same bytes. A file the open rows still reference stays in both."""
    import hashlib

    from warehouse import evidence, moves

    moved, shared, open_only = b"moved report\n", b"shared report\n", b"open report\n"
    sha = {d: hashlib.sha256(d).hexdigest() for d in (moved, shared, open_only)}
    open_dir, restricted_dir = tmp_path / "open", tmp_path / "restricted"
    left = _put_evidence(open_dir, moved)
    both_open, both_restricted = _put_evidence(open_dir, shared), _put_evidence(restricted_dir, shared)
    _put_evidence(restricted_dir, moved)
    untouched = _put_evidence(open_dir, open_only)
    open_con, rcon = _evidence_rows([sha[shared], sha[open_only]]), _evidence_rows([sha[moved], sha[shared]])
    try:
        assert moves.sweep_evidence(open_con, rcon, open_dir, restricted_dir) == 1
        assert moves.sweep_evidence(open_con, rcon, open_dir, restricted_dir) == 0  # nothing left to do
    finally:
        open_con.close()
        rcon.close()
    assert not left.exists()
    assert both_open.exists() and both_restricted.exists() and untouched.exists()
    assert evidence.evidence_path(restricted_dir, sha[moved]).read_bytes() == moved
