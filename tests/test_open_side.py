"""warehouse/open_side.py: which files the open side hides, and names kept out of error messages.
(tests/test_leak_outputs.py searches every output of a whole run.)"""
from __future__ import annotations

from datetime import date, datetime

import pytest

from warehouse.open_side import HIDDEN_NAME, hidden_names, names_hidden, redact, restricted_submissions


@pytest.fixture
def files(warehouse):
    """Two pilots, P-OPEN and P-SECRET (restricted), and five files:
    1 open.csv (P-OPEN), 2 secret.csv (P-SECRET), 3 copy.csv (a duplicate of 2: no pilot of its own),
    4 nopilot.csv (pilot unreadable, quarantined), 5 shared.csv (P-SECRET) and 6 shared.csv (P-OPEN)."""
    con = warehouse
    for pid, classification in (("P-OPEN", "open"), ("P-SECRET", "restricted")):
        con.execute("INSERT INTO registry.pilots VALUES (?, 'x', 'x', 1, [1], ?, ?, ?, '03009', 30)",
                    [pid, classification, date(2004, 10, 1), date(2005, 9, 30)])
    for sid, name, pilot, status, dup in ((1, "open.csv", "P-OPEN", "accepted", None),
                                          (2, "secret.csv", "P-SECRET", "accepted", None),
                                          (3, "copy.csv", None, "duplicate", 2),
                                          (4, "nopilot.csv", None, "quarantined", None),
                                          (5, "shared.csv", "P-SECRET", "quarantined", None),
                                          (6, "shared.csv", "P-OPEN", "accepted", None)):
        con.execute("INSERT INTO ingest.submissions (submission_id, sha256, file_name, size_bytes, received_at, "
                    "run_id, pilot_id, status, duplicate_of, error_count, warning_count) "
                    "VALUES (?, ?, ?, 1, ?, 'r', ?, ?, ?, 0, 0)",
                    [sid, f"{sid:064d}", name, datetime(2005, 5, 15), pilot, status, dup])
    return con


def test_restricted_submissions_follow_a_duplicate_to_its_first_copy(files):
    # 2 is the restricted pilot's; 3 repeats 2's bytes; 5 is its too. 4's pilot is unread: open.
    assert restricted_submissions(files) == {2, 3, 5}


def test_hidden_names_are_all_but_the_open_files(files):
    # secret.csv and copy.csv are restricted; gone.csv is not in the open warehouse at all (the
    # restricted store may hold it); shared.csv is also an open file's name, shown anyway.
    names = ["open.csv", "secret.csv", "copy.csv", "nopilot.csv", "shared.csv", "gone.csv"]
    assert hidden_names(files, names) == {"secret.csv", "copy.csv", "gone.csv"}
    assert hidden_names(files, []) == set()


def test_redact_replaces_names_and_their_stems():
    text = "moving /in/secret.csv to /in/quarantine/secret.1.csv failed; /in/open.csv moved"
    assert redact(text, {"secret.csv"}) == (
        f"moving /in/{HIDDEN_NAME} to /in/quarantine/{HIDDEN_NAME}.1.csv failed; /in/open.csv moved")
    assert redact("a.csv b.csv", {"a.csv", ""}) == f"{HIDDEN_NAME} b.csv"  # a 1-letter stem stays


def test_an_error_leaving_names_hidden_names_none_of_them():
    with pytest.raises(OSError) as caught:
        with names_hidden({"secret.csv"}):
            try:
                raise ValueError("while reading /in/secret.csv")
            except ValueError:
                raise OSError(13, "Permission denied", "/in/open.csv", None, "/in/processed/secret.csv")
    exc = caught.value
    assert str(exc) == f"[Errno 13] Permission denied: '/in/open.csv' -> '/in/processed/{HIDDEN_NAME}'"
    assert exc.__context__ is None and exc.__cause__ is None  # the chained message named it too
    with pytest.raises(RuntimeError) as caught:
        with names_hidden({"secret.csv"}):
            raise RuntimeError("no secret.csv here")
    assert str(caught.value) == f"no {HIDDEN_NAME} here"
    with pytest.raises(RuntimeError, match="^secret.csv$"):  # nothing to hide: unchanged
        with names_hidden(set()):
            raise RuntimeError("secret.csv")


def test_export_rows_leave_restricted_pilots_out_of_all_but_the_open_relations(files):
    from warehouse.export import open_rows

    con = files
    for sid in (1, 2, 3):
        con.execute("INSERT INTO ingest.issues (submission_id, row_number, column_name, code, severity, message_en, "
                    "message_th) VALUES (?, 2, 'actual', 'X', 'error', 'x', 'x')", [sid])

    def ids(relation: str, column: str) -> list:
        return [r[0] for r in con.execute(f"SELECT {column} FROM ({open_rows(con, relation)}) ORDER BY 1").fetchall()]

    assert ids("registry.pilots", "pilot_id") == ["P-OPEN", "P-SECRET"]  # warehouse.md: shown
    # By pilot_id and by submission_id: 2 and 5 are P-SECRET's, 3 duplicates 2 (no pilot of its own).
    assert ids("ingest.submissions", "submission_id") == [1, 4, 6]
    assert ids("ingest.issues", "submission_id") == [1]  # submission_id only: 2 and 3 are restricted
