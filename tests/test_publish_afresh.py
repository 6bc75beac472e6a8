"""The published copy holds no byte of a restricted pilot's data that a job removed from the open
side (reviewer RV4; warehouse.md, "Restricted pilots": the open side and its published copy hold
of a restricted pilot only its registry rows, pilot_scores, compliance and reminders).

DuckDB frees the blocks of deleted and overwritten rows without wiping them, and a byte copy of the
working file handed them to analysts: a close note cleared from the open side, a pilot's rows moved
to the restricted store. A job that removes such data notes it in ops.publish_afresh, and the copy
is then written afresh (warehouse/publish.py); a warehouse from before migration 0020 gets its copy
written afresh once. Whole nights; each checks the copy's bytes for the distinctive texts used,
then that the copy is the working file's database (catalogue and every table's rows).

tests/test_restricted_store.py's scenario (restricted PLT-2548-099, open PLT-2548-003), with one
more open file of PLT-2548-003 (agency 15001, 2548-Q2: activity ACT-MV7Q-K3, note
MOVE-NOTE-J8RX) and 2548-Q2 closed for PLT-2548-003 with the note OPEN-CLOSE-NOTE-V2LM.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.support import SERIAL
from tests.test_crash_kill import killed_run
from tests.test_flow import _csv
from tests.test_pilot_moves import cli, q, reclassify
from tests.test_restricted_store import SECRET, make_restricted_scenario, run
from warehouse.migrate import available_migrations
from warehouse.paths import files_of
from warehouse.publish import publish, published_path

MOVED = "PLT-2548-003"
MOVED_FILE = "mv-file-H5PZ.csv"
ACTIVITY, LINE_NOTE = "ACT-MV7Q-K3", "MOVE-NOTE-J8RX"
MOVED_BYTES = _csv(f"{MOVED},15001,2548-Q2,2005-04-20,budget,{ACTIVITY},5,,7654321.09,1234567.89,own,{LINE_NOTE}")
MOVED_SHA = hashlib.sha256(MOVED_BYTES).hexdigest()
CLOSE_NOTE = "OPEN-CLOSE-NOTE-V2LM"
OLD_NOTE, OLD_REASON = "OLD-NOTE-C8QW-secret", "OLD-REASON-C8QW-secret"

AFRESH = "SELECT reason FROM ops.publish_afresh ORDER BY ALL"
LAST_RUN = "SELECT status, skipped_steps FROM ops.runs ORDER BY started_at DESC LIMIT 1"


def _base(root: Path) -> list:
    return ["--registry", root / "registry", "--warehouse", root / "wh.duckdb", "--out", root / "out",
            "--as-of", "2005-05-15"]


@pytest.fixture(scope="module")
def first_night(tmp_path_factory, prefect_harness):
    """The scenario's first night and the open pilot's closure: the start state each test copies."""
    root = tmp_path_factory.mktemp("publish-afresh")
    registry, inbox = make_restricted_scenario(root)
    (inbox / MOVED_FILE).write_bytes(MOVED_BYTES)
    code, output = run(root, registry, inbox)
    assert code == 0, output
    code, output = cli("close-quarter", "2548-Q2", "--pilot", MOVED, "--by", "Somchai", "--note", CLOSE_NOTE,
                       *_base(root))
    assert code == 0, output
    (root / "empty").mkdir()
    return root


@pytest.fixture
def site(first_night, tmp_path):
    shutil.copytree(first_night, tmp_path, symlinks=True, dirs_exist_ok=True)
    return tmp_path


def quiet_night(root: Path) -> tuple[int, str]:
    return cli("run", "--inbox", root / "empty", "--settle-seconds", "0", *_base(root))


def held_in(path: Path, texts) -> list[str]:
    data = path.read_bytes()
    return [t for t in texts if t.encode() in data]


CATALOGUE = {
    "schemas": "SELECT schema_name, comment FROM duckdb_schemas() WHERE NOT internal",
    "tables": "SELECT schema_name, table_name, comment, sql FROM duckdb_tables()",
    "columns": "SELECT schema_name, table_name, column_name, comment, data_type, column_default, is_nullable "
               "FROM duckdb_columns() WHERE NOT internal",
    "constraints": "SELECT schema_name, table_name, constraint_type, constraint_text FROM duckdb_constraints()",
    "views": "SELECT schema_name, view_name, comment, sql FROM duckdb_views() WHERE NOT internal",
    "functions": "SELECT schema_name, function_name, function_type, comment, macro_definition FROM duckdb_functions() "
                 "WHERE NOT internal",
    "sequences": "SELECT schema_name, sequence_name, comment, last_value FROM duckdb_sequences()",
    "indexes": "SELECT schema_name, table_name, index_name, sql FROM duckdb_indexes()",
}


def assert_same_database(working: Path, copy: Path) -> None:
    """The copy has the working file's catalogue (schemas, tables, columns with their comments,
    constraints, views, macros, sequences, indexes) and every table's rows."""
    a, b = duckdb.connect(str(working), read_only=True), duckdb.connect(str(copy), read_only=True)
    try:
        for what, sql in CATALOGUE.items():
            assert a.execute(f"{sql} ORDER BY ALL").fetchall() == b.execute(f"{sql} ORDER BY ALL").fetchall(), what
        assert a.execute("SELECT count(*) FROM duckdb_functions() WHERE NOT internal").fetchone()[0] > 0  # macros
        tables = a.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall()
        assert len(tables) > 20
        for schema, table in tables:
            sql = f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL'
            assert a.execute(sql).fetchall() == b.execute(sql).fetchall(), f"{schema}.{table}"
    finally:
        a.close()
        b.close()


def test_a_pilot_reclassified_restricted_leaves_no_byte_in_the_published_copy(site):
    wh = site / "wh.duckdb"
    texts = (MOVED_FILE, ACTIVITY, LINE_NOTE, MOVED_SHA, CLOSE_NOTE)
    assert held_in(published_path(wh), texts) == list(texts)  # open: the copy holds them

    reclassify(site / "registry", MOVED, "restricted")
    code, output = quiet_night(site)

    assert code == 0, output
    assert f"moved pilot {MOVED} from the open warehouse to the restricted store" in output
    assert held_in(published_path(wh), texts) == []
    assert_same_database(wh, published_path(wh))
    assert q(wh, AFRESH) == q(published_path(wh), AFRESH) == []  # done with
    assert oct(published_path(wh).stat().st_mode & 0o777) == "0o444"
    assert not list(site.glob(".wh.published.duckdb.*"))  # no temporary file left
    # They are in the restricted store now, and their figures still on the open side.
    rs = files_of(wh).restricted
    assert held_in(rs, (ACTIVITY, LINE_NOTE, CLOSE_NOTE)) == [ACTIVITY, LINE_NOTE, CLOSE_NOTE]
    assert q(wh, "SELECT count(*) FROM marts.pilot_scores WHERE pilot_id = ?", [MOVED])[0][0] > 0

    # The working file was written afresh too (verifier V9: the next byte copy published its freed
    # blocks again): neither holds them, and a later job's byte copy publishes none.
    assert held_in(wh, texts) == []
    assert oct(wh.stat().st_mode & 0o777) == "0o600"
    assert not list(site.glob(".wh.duckdb.*"))
    # The next quiet night changed nothing: publishing is skipped (no second copy afresh).
    code, output = quiet_night(site)
    assert code == 0, output
    assert "publish" in q(wh, LAST_RUN)[0][1].split(",")
    # A job that publishes by byte copy (a decision closes a quarter) carries none of them either.
    code, output = cli("close-quarter", "2548-Q1", "--by", "V9", *_base(site))
    assert code == 0, output
    assert held_in(published_path(wh), texts) == [] and held_in(wh, texts) == []


def test_a_restricted_pilots_close_note_cleared_from_the_open_side_leaves_no_byte_in_the_copy(site):
    """A warehouse written before migration 0019 (tests/test_restricted_closure_texts.py) holds a
    restricted pilot's close note and reopen reason on the open side: the next job moves them to
    the restricted store, and its copy holds none of their bytes."""
    wh, rs = site / "wh.duckdb", files_of(site / "wh.duckdb").restricted
    code, output = cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", *_base(site))
    assert code == 0, output
    code, output = cli("reopen", "2548-Q2", "--pilot", SECRET, "--by", "Malee", "--reason", "r", *_base(site))
    assert code == 0, output
    for path in (wh, rs):  # as the code before 0019 wrote them, and published them
        con = duckdb.connect(str(path))
        try:
            if path == wh:
                con.execute("UPDATE approval.quarter_closures SET note = ?, reopen_reason = ? WHERE pilot_id = ?",
                            [OLD_NOTE, OLD_REASON, SECRET])
                con.execute("UPDATE approval.decisions SET note = ? WHERE pilot_id = ? AND action = 'close'",
                            [OLD_NOTE, SECRET])
                con.execute("UPDATE approval.decisions SET note = ? WHERE pilot_id = ? AND action = 'reopen'",
                            [OLD_REASON, SECRET])
            else:
                con.execute("UPDATE approval.quarter_closures SET note = NULL, reopen_reason = NULL")
            con.execute("DELETE FROM ops.schema_migrations WHERE version = 19")
        finally:
            con.close()
    os.chmod(published_path(wh), 0o644)
    publish(wh)
    assert held_in(published_path(wh), (OLD_NOTE, OLD_REASON)) == [OLD_NOTE, OLD_REASON]

    code, output = quiet_night(site)

    assert code == 0, output
    assert held_in(published_path(wh), (OLD_NOTE, OLD_REASON)) == []
    assert_same_database(wh, published_path(wh))
    assert q(wh, AFRESH) == q(published_path(wh), AFRESH) == []
    assert q(rs, "SELECT note, reopen_reason FROM approval.quarter_closures WHERE pilot_id = ?", [SECRET]) == [
        (OLD_NOTE, OLD_REASON)]
    assert q(published_path(wh), "SELECT note, reopen_reason FROM approval.quarter_closures WHERE pilot_id = ?",
             [SECRET]) == [(None, None)]


def _as_before_0020(wh: Path, leftover: str) -> None:
    """The working file as an earlier version left it: a text gone from the rows whose bytes stay
    in the file, published byte for byte, and no migration 0020."""
    con = duckdb.connect(str(wh))
    try:
        # Rows written (in blocks of their own: more than a quiet night writes again; 2,000 a
        # table, which DuckDB stores uncompressed), blocks written after them, the rows dropped:
        # freed blocks amid the file.
        for n in range(8):
            con.execute(f"CREATE TABLE main.gone{n} AS SELECT ? || md5(i::VARCHAR) AS t FROM range(2000) r(i)",
                        [leftover])
        con.execute("CHECKPOINT")
        con.execute("UPDATE ingest.issues SET message_en = message_en")
        con.execute("UPDATE ingest.submissions SET file_name = file_name")
        con.execute("CHECKPOINT")
        for n in range(8):
            con.execute(f"DROP TABLE main.gone{n}")
        con.execute("DROP TABLE IF EXISTS ops.publish_afresh")
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 20")
    finally:
        con.close()
    os.chmod(published_path(wh), 0o644)
    publish(wh)
    assert held_in(published_path(wh), (leftover,)) == [leftover]


def test_the_first_job_after_the_upgrade_publishes_afresh_once(site):
    wh = site / "wh.duckdb"
    leftover = "LEFTOVER-FROM-AN-EARLIER-NIGHT-T6NB"
    _as_before_0020(wh, leftover)

    code, output = quiet_night(site)

    assert code == 0, output
    assert held_in(published_path(wh), (leftover,)) == []
    assert q(wh, "SELECT max(version) FROM ops.schema_migrations") == [(available_migrations()[-1].version,)]
    assert_same_database(wh, published_path(wh))
    assert q(wh, AFRESH) == q(published_path(wh), AFRESH) == []
    code, output = quiet_night(site)  # once: the next quiet night skips publishing
    assert code == 0, output
    assert "publish" in q(wh, LAST_RUN)[0][1].split(",")


def test_a_failed_publish_keeps_the_note_and_pilotkpi_publish_writes_afresh(site, monkeypatch):
    wh = site / "wh.duckdb"
    reclassify(site / "registry", MOVED, "restricted")
    monkeypatch.setenv("PILOTKPI_FAIL_AT", "publish")
    code, output = quiet_night(site)
    monkeypatch.delenv("PILOTKPI_FAIL_AT")

    assert code == 5, output  # committed with errors: not published
    assert held_in(published_path(wh), (ACTIVITY, LINE_NOTE)) == [ACTIVITY, LINE_NOTE]  # the old copy
    assert q(wh, AFRESH) == [("closure_texts",), ("moved_to_restricted",)]

    code, output = cli("publish", "--warehouse", wh)

    assert code == 0, output
    assert held_in(published_path(wh), (MOVED_FILE, ACTIVITY, LINE_NOTE, MOVED_SHA, CLOSE_NOTE)) == []
    assert_same_database(wh, published_path(wh))
    assert q(wh, AFRESH) == q(published_path(wh), AFRESH) == []
    assert not list(site.glob(".wh.published.duckdb.*"))  # the failed attempt's temporary file removed


@SERIAL  # starts a run in a child process, and waits for it
def test_a_publish_afresh_killed_leaves_the_old_copy_and_the_next_run_writes_it(site, prefect_harness):
    wh = site / "wh.duckdb"
    reclassify(site / "registry", MOVED, "restricted")
    before = published_path(wh).read_bytes()

    killed_run(site, site / "registry", site / "empty", "publish")

    assert published_path(wh).read_bytes() == before  # the old copy, whole
    assert q(wh, AFRESH) == [("closure_texts",), ("moved_to_restricted",)]  # committed, still to publish afresh
    code, output = quiet_night(site)
    assert code == 0, output
    assert held_in(published_path(wh), (MOVED_FILE, ACTIVITY, LINE_NOTE, MOVED_SHA, CLOSE_NOTE)) == []
    assert_same_database(wh, published_path(wh))
    assert q(wh, AFRESH) == []
    assert not list(site.glob(".wh.published.duckdb.*"))


def test_a_working_file_rewrite_killed_leaves_the_note_and_the_next_run_rewrites_it(site, prefect_harness):
    """Killed while the working file is written afresh (after the copy is published): the old
    working file stays whole with its note, so the next job publishes and rewrites afresh again."""
    wh = site / "wh.duckdb"
    texts = (MOVED_FILE, ACTIVITY, LINE_NOTE, MOVED_SHA, CLOSE_NOTE)
    reclassify(site / "registry", MOVED, "restricted")

    killed_run(site, site / "registry", site / "empty", "rewrite-afresh")

    assert held_in(published_path(wh), texts) == []  # the copy was in place before the kill
    assert q(wh, AFRESH) == [("closure_texts",), ("moved_to_restricted",)]  # the note stays
    code, output = quiet_night(site)
    assert code == 0, output
    assert held_in(wh, texts) == [] and held_in(published_path(wh), texts) == []
    assert q(wh, AFRESH) == [] and not list(site.glob(".wh.duckdb.*"))


def test_the_byte_copy_written_afresh_from_is_owner_only_from_its_first_byte(tmp_path, monkeypatch):
    """The byte copy publishing afresh starts from holds the freed blocks it leaves behind: it is
    0600 while it exists (the umask gave 0644, for the second it lived and after a kill until the
    next publish swept it; reviewer RV5), and removed after."""
    import stat

    from warehouse import publish as publishing

    warehouse = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE t AS SELECT 'freed-text-Zq7' AS x")
    con.close()
    seen = []

    def spy(copied: Path, tmp: Path) -> None:
        seen.append((copied.name.endswith(".tmp.bytes"), stat.S_IMODE(copied.stat().st_mode)))
        raise RuntimeError("stopped here")

    monkeypatch.setattr(publishing, "_write_afresh", spy)
    old_umask = os.umask(0o022)
    try:
        with pytest.raises(RuntimeError, match="stopped here"):
            publish(warehouse, afresh=True)
    finally:
        os.umask(old_umask)
    assert seen == [(True, 0o600)]
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
