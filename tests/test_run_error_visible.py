"""ops.runs.error holds no raw control or format character (verifier VC, F4): operators read it
with `pilotkpi sql` (docs/operations.md, "Reading a failed run"), on a terminal, and it quotes the
agencies' file names. It is stored as the CLI prints such text (warehouse.personal.printable: an
ESC as \\x1b, a BEL as \\x07, a line break as \\n, a right-to-left override as \\u202e, national
IDs masked), by store.finish_run and store.record_post_commit, the two writers of the column.
ingest.submissions.file_name keeps the name as sent (the pages escape it).

Whole flow: tests/test_flow.py's scenario with three files whose names hold those characters,
and filing away failing for every file (its folders cannot be opened, as on a read-only file
system): the night commits with errors, and its error names every file, visibly.
"""
from __future__ import annotations

import errno
import unicodedata
from datetime import date, datetime

from pilots import inbox as inbox_folder
from tests.test_flow import make_scenario, run_cli
from tests.test_hostile_sizes import query
from tests.test_post_commit import runs
from warehouse import store
from warehouse.db import connect

HOSTILE = {  # name: the file of the scenario it copies (each is then a duplicate)
    "esc\x1b[31mRED\x1b[0m\x1b]0;pwned\x07.csv": "a_lead_q1.csv",
    "new\nline.csv": "b_sec_q1.csv",
    "rtl\u202evsc.exe.csv": "d_lead_q2_fix.csv",
}
SHOWN = ["esc\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07.csv", "new\\nline.csv", "rtl\\u202evsc.exe.csv"]


def invisible(text: str) -> list[str]:
    return [repr(c) for c in text if unicodedata.category(c) in ("Cc", "Cf")]


def test_a_failed_steps_error_quoting_hostile_file_names_is_stored_visible(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    for name, source in HOSTILE.items():
        (inbox / name).write_bytes((inbox / source).read_bytes())

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(inbox_folder, "_held_folder", read_only)  # each file's move fails, named
    code, out = run_cli(registry, inbox, tmp_path)

    assert code == 5, out
    [(_, status, failed, error, _, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, failed) == ("committed_with_errors", "file_away")
    assert "9 file(s) were not filed away" in error
    assert invisible(error) == [], error
    for shown in SHOWN:
        assert f"{shown}: OSError: Read-only file system" in error, error
    # The names as sent stay in ingest.submissions.
    names = {n for (n,) in query(tmp_path / "wh.duckdb", "SELECT file_name FROM ingest.submissions")}
    assert set(HOSTILE) <= names


def test_a_failed_runs_error_is_stored_visible(tmp_path):
    """store.finish_run (a failed job's error, flows/nightly.py _record_failure) and
    store.record_post_commit alike."""
    con = connect(tmp_path / "wh.duckdb")
    try:
        text = "ValueError: rtl\u202evsc.exe.csv\nesc\x1b[31m\x07 of 1101700203930"
        shown = "ValueError: rtl\\u202evsc.exe.csv\\nesc\\x1b[31m\\x07 of [masked-id]"
        for run_id in ("r1", "r2"):
            store.start_run(con, run_id, datetime(2006, 8, 15), date(2006, 8, 15), "sha", "test")
        store.finish_run(con, "r1", datetime(2006, 8, 15, 1), "failed", {}, error=text)
        store.record_post_commit(con, "r2", datetime(2006, 8, 15, 1), {"file_away": text})
        assert con.execute("SELECT error FROM ops.runs ORDER BY run_id").fetchall() == [(shown,), (shown,)]
    finally:
        con.close()
