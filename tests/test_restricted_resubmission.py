"""Unchanged resubmissions of an open and of a restricted pilot in one batch of a later night
(agency-report-v1.md: RESUBMISSION_UNCHANGED; warehouse.md, "Restricted pilots: the segregated
store"). The versions they follow are stored lines, read alone or, from BATCHED_LINES_MIN of
them, for the whole batch (pilots/ingest.py _stored_lines_of): the open one's from the open
warehouse, the restricted one's from the restricted store. Whole `pilotkpi run`s on
tests/test_restricted_store.py's scenario.

Night 1 (test_restricted_store.py's docstring): the open pilot PLT-2548-003's lead 03009 has
2548-Q2 accepted as submission 4 (d: K1 = 55, K2 = 90, ACT-1 layer 5, allocated 1,000,000,
disbursed 450,000, own); the restricted pilot's lead 20004 has 2548-Q2 accepted as 12 (r5: S9 =
25). Night 2, one batch: h (13) sends d's lines again, submitted 2005-05-01; s (14) sends r5's
line again, submitted 2005-05-01. Different bytes (the date), the same lines: each is accepted,
supersedes the version it follows, and carries the warning.
"""
from __future__ import annotations

import pytest

from pilots import ingest
from tests.test_flow import _csv
from tests.test_restricted_store import ALLOWED, SECRET, make_restricted_scenario, pilot_rows, rows, run
from warehouse.paths import files_of

OPEN = "PLT-2548-003"
OPEN_AGAIN = "h_open_q2_again.csv"
SECRET_AGAIN = "s-secret-q2-again-R8VX.csv"


@pytest.mark.parametrize("batched_from", [1, ingest.BATCHED_LINES_MIN], ids=["read-together", "read-one-by-one"])
def test_unchanged_resubmissions_of_both_stores_in_one_batch_are_each_compared_in_their_store(
        tmp_path, prefect_harness, batched_from, monkeypatch):
    # One stored version per store: read alone by default (below BATCHED_LINES_MIN), and read
    # as a batch's list when the threshold is 1 (the runs are in this process: CliRunner).
    monkeypatch.setattr(ingest, "BATCHED_LINES_MIN", batched_from)
    registry, inbox = make_restricted_scenario(tmp_path)
    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    (inbox / OPEN_AGAIN).write_bytes(_csv(
        f"{OPEN},03009,2548-Q2,2005-05-01,kpi,K1,,55,,,,",
        f"{OPEN},03009,2548-Q2,2005-05-01,kpi,K2,,90,,,,",
        f"{OPEN},03009,2548-Q2,2005-05-01,budget,ACT-1,5,,1000000,450000,own,"))
    (inbox / SECRET_AGAIN).write_bytes(_csv(f"{SECRET},20004,2548-Q2,2005-05-01,kpi,S9,,25,,,,"))
    code, output = run(tmp_path, registry, inbox, "--batch-size", "750")
    assert code == 0, output
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in output

    wh = tmp_path / "wh.duckdb"
    rs = files_of(wh).restricted
    # Each follows its own store's version: 13 supersedes 4 in the open warehouse, 14 supersedes
    # 12 in the restricted store.
    assert rows(wh, "SELECT submission_id, file_name, status, superseded_by FROM ingest.submissions "
                    "WHERE submission_id IN (4, 13) ORDER BY 1") == [
        (4, "d_lead_q2_fix.csv", "superseded", 13), (13, OPEN_AGAIN, "accepted", None)]
    assert rows(rs, "SELECT submission_id, file_name, status, superseded_by FROM ingest.submissions "
                    "WHERE submission_id IN (12, 14) ORDER BY 1") == [
        (12, "r5-q2-fix.csv", "superseded", 14), (14, SECRET_AGAIN, "accepted", None)]
    # The warning for both: each compared with the stored lines of the version it follows.
    assert rows(wh, "SELECT submission_id, severity, code, message_en FROM ingest.issues "
                    "WHERE submission_id >= 13 ORDER BY 1") == [
        (13, "warning", "RESUBMISSION_UNCHANGED",
         "This resubmission changes nothing compared with submission 4.")]
    assert rows(rs, "SELECT submission_id, severity, code, message_en FROM ingest.issues "
                    "WHERE submission_id >= 13 ORDER BY 1") == [
        (14, "warning", "RESUBMISSION_UNCHANGED",
         "This resubmission changes nothing compared with submission 12.")]

    # Nothing restricted on the open side: no row of submission 14 or 12 in the open warehouse
    # or its published copy, the secret pilot only in the allowed relations, and neither its
    # file's name nor its pilot's issue in the run's outputs.
    for path in (wh, files_of(wh).published):
        assert rows(path, "SELECT count(*) FROM ingest.submissions WHERE submission_id IN (12, 14)") == [(0,)]
        assert rows(path, "SELECT count(*) FROM ingest.issues WHERE submission_id IN (12, 14)") == [(0,)]
        assert {t for t, n in pilot_rows(path, SECRET).items() if n} <= ALLOWED
    for page in (tmp_path / "out").rglob("*"):
        if page.is_file():
            text = page.read_bytes()
            assert SECRET_AGAIN.encode() not in text and b"R8VX" not in text, page
            assert b"compared with submission 12" not in text, page
