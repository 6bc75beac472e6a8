"""A restricted pilot's close note and reopen reason stay out of the open side (warehouse.md,
"Restricted pilots": the open warehouse and its published copy hold of a restricted pilot only
its registry rows, pilot_scores, compliance and reminders; verifier V5, F1).

Its closure row stays in the open approval.quarter_closures (the closed-quarter logic: later files
held, a second close refused, the pages' list) and its close/reopen rows in approval.decisions,
all without the text; the text is on the restricted store's copy of the closure row. An open
pilot's note and reason stay where they were.

tests/test_restricted_store.py's scenario as of 2005-05-15 (restricted PLT-2548-099, open
PLT-2548-003; 2548-Q2 is due for both). The story:
  1 close-quarter 2548-Q2 --pilot PLT-2548-099 --note CLOSE_NOTE
  2 reopen 2548-Q2 --pilot PLT-2548-099 --reason REOPEN_REASON
  3 close-quarter 2548-Q2 --pilot PLT-2548-099 --note SECOND_NOTE (a second closure row)
  4 close-quarter 2548-Q2 (every pilot still open: PLT-2548-003) --note OPEN_NOTE
  5 reopen 2548-Q2 --pilot PLT-2548-003 --reason OPEN_REASON
  6 a night with an empty inbox: the texts stay in the restricted store
"""
from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.test_pilot_moves import cli, q, reclassify
from tests.test_restricted_store import SECRET, make_restricted_scenario, run
from warehouse.migrate import available_migrations
from warehouse.paths import files_of
from warehouse.publish import published_path

OPEN = "PLT-2548-003"
CLOSE_NOTE, REOPEN_REASON, SECOND_NOTE = "CLOSE-NOTE-W4KJ-secret", "REOPEN-REASON-W4KJ-secret", "SECOND-NOTE-W4KJ-secret"
OPEN_NOTE, OPEN_REASON = "open-note-P2TD", "open-reason-P2TD"
SECRETS = (CLOSE_NOTE, REOPEN_REASON, SECOND_NOTE)

CLOSURES = ("SELECT pilot_id, closed_by, note, reopened_by, reopen_reason FROM approval.quarter_closures "
            "WHERE period = '2548-Q2' ORDER BY pilot_id, closed_at")
DECISIONS = "SELECT decision_id, action, pilot_id, note FROM approval.decisions ORDER BY decision_id"


def _base(root):
    return ["--registry", root / "registry", "--warehouse", root / "wh.duckdb", "--out", root / "out",
            "--as-of", "2005-05-15"]


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("closure-texts")
    registry, inbox = make_restricted_scenario(root)
    assert run(root, registry, inbox)[0] == 0
    base = _base(root)
    steps = [
        cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", "--note", CLOSE_NOTE, *base),
        cli("reopen", "2548-Q2", "--pilot", SECRET, "--by", "Malee", "--reason", REOPEN_REASON, *base),
        cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", "--note", SECOND_NOTE, *base),
        cli("close-quarter", "2548-Q2", "--by", "Somchai", "--note", OPEN_NOTE, *base),
        cli("reopen", "2548-Q2", "--pilot", OPEN, "--by", "Malee", "--reason", OPEN_REASON, *base),
    ]
    for code, output in steps:
        assert code == 0, output
    empty = root / "empty-inbox"
    empty.mkdir()
    assert run(root, registry, empty)[0] == 0
    return root, steps


def test_the_open_side_keeps_the_closures_without_a_restricted_pilots_texts(story):
    root, _ = story
    wh = root / "wh.duckdb"
    expected = [(OPEN, "Somchai", OPEN_NOTE, "Malee", OPEN_REASON),
                (SECRET, "Somchai", None, "Malee", None),
                (SECRET, "Somchai", None, None, None)]
    assert q(wh, CLOSURES) == expected
    assert q(published_path(wh), CLOSURES) == expected
    decisions = [(1, "close", SECRET, None), (2, "reopen", SECRET, None), (3, "close", SECRET, None),
                 (4, "close", OPEN, OPEN_NOTE), (5, "reopen", OPEN, OPEN_REASON)]
    assert q(wh, DECISIONS) == decisions
    assert q(published_path(wh), DECISIONS) == decisions


def test_the_restricted_store_holds_them_on_its_closure_rows(story):
    root, _ = story
    rs = files_of(root / "wh.duckdb").restricted
    assert q(rs, CLOSURES) == [(SECRET, "Somchai", CLOSE_NOTE, "Malee", REOPEN_REASON),
                               (SECRET, "Somchai", SECOND_NOTE, None, None)]
    # The closed-quarter logic is unchanged: the second closure is in force, in both stores' marts.
    scores = "SELECT pilot_id, closed FROM marts.pilot_scores WHERE period = '2548-Q2' ORDER BY 1"
    assert q(root / "wh.duckdb", scores) == [(OPEN, False), (SECRET, True)]
    assert q(rs, scores) == [(SECRET, True)]


def test_no_byte_of_the_open_side_holds_them(story):
    root, steps = story
    wh = files_of(root / "wh.duckdb")
    targets = [wh.warehouse, wh.published, *root.glob("wh.duckdb.wal"), *(root / "out").rglob("*.*")]
    for path in targets:
        data = path.read_bytes()
        for text in SECRETS:
            assert text.encode() not in data, f"{text} in {path}"
    for _, output in steps:  # nor the CLI's lines
        assert not any(text in output for text in SECRETS)


def test_a_second_close_of_a_closed_quarter_is_still_refused(story, tmp_path):
    root, _ = story
    site = tmp_path / "site"
    shutil.copytree(root, site, symlinks=True)
    code, output = cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "X", *_base(site))
    assert code != 0 and "2548-Q2 is already closed for PLT-2548-099" in output


def test_texts_an_older_version_left_on_the_open_side_move_at_the_next_job(story, tmp_path):
    """A warehouse written before migration 0019 holds the texts in the open warehouse, and its
    restricted store's copies of the closures have none: the next job (migration 0019, then
    mirror_closures) moves them into the restricted store and clears them on the open side and in
    the published copy. Reclassifying the pilot open then brings them back to its open rows."""
    root, _ = story
    site = tmp_path / "site"
    shutil.copytree(root, site, symlinks=True)
    wh, rs = site / "wh.duckdb", files_of(site / "wh.duckdb").restricted
    con = duckdb.connect(str(wh))
    try:  # as the code before 0019 wrote them
        con.execute("UPDATE approval.quarter_closures SET note = ?, reopen_reason = ? WHERE pilot_id = ? "
                    "AND reopened_at IS NOT NULL", [CLOSE_NOTE, REOPEN_REASON, SECRET])
        con.execute("UPDATE approval.quarter_closures SET note = ? WHERE pilot_id = ? AND reopened_at IS NULL",
                    [SECOND_NOTE, SECRET])
        for number, text in ((1, CLOSE_NOTE), (2, REOPEN_REASON), (3, SECOND_NOTE)):
            con.execute("UPDATE approval.decisions SET note = ? WHERE decision_id = ?", [text, number])
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 19")
    finally:
        con.close()
    con = duckdb.connect(str(rs))
    try:
        con.execute("UPDATE approval.quarter_closures SET note = NULL, reopen_reason = NULL")
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 19")
    finally:
        con.close()
    assert q(wh, CLOSURES)[1][2] == CLOSE_NOTE  # the old state, as the repro found it

    empty = site / "empty-again"
    empty.mkdir()
    code, output = cli("run", "--inbox", empty, "--settle-seconds", "0", *_base(site))
    assert code == 0, output
    assert q(wh, "SELECT max(version) FROM ops.schema_migrations") == [(available_migrations()[-1].version,)]
    expected_open = [(OPEN, "Somchai", OPEN_NOTE, "Malee", OPEN_REASON),
                     (SECRET, "Somchai", None, "Malee", None), (SECRET, "Somchai", None, None, None)]
    assert q(wh, CLOSURES) == q(published_path(wh), CLOSURES) == expected_open
    assert q(wh, DECISIONS) == q(published_path(wh), DECISIONS) == [
        (1, "close", SECRET, None), (2, "reopen", SECRET, None), (3, "close", SECRET, None),
        (4, "close", OPEN, OPEN_NOTE), (5, "reopen", OPEN, OPEN_REASON)]
    assert q(rs, CLOSURES) == [(SECRET, "Somchai", CLOSE_NOTE, "Malee", REOPEN_REASON),
                               (SECRET, "Somchai", SECOND_NOTE, None, None)]

    # The pilot reclassified open: its texts come back to its open rows, and leave the store.
    reclassify(site / "registry", SECRET, "open")
    code, output = cli("run", "--inbox", empty, "--settle-seconds", "0", *_base(site))
    assert code == 0, output
    assert q(wh, CLOSURES) == [(OPEN, "Somchai", OPEN_NOTE, "Malee", OPEN_REASON),
                               (SECRET, "Somchai", CLOSE_NOTE, "Malee", REOPEN_REASON),
                               (SECRET, "Somchai", SECOND_NOTE, None, None)]
    assert q(wh, DECISIONS)[:3] == [(1, "close", SECRET, CLOSE_NOTE), (2, "reopen", SECRET, REOPEN_REASON),
                                    (3, "close", SECRET, SECOND_NOTE)]
    assert q(rs, CLOSURES) == []
