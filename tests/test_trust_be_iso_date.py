"""An ISO date with a Buddhist-era year that does not exist in CE is DATE_INVALID
(agency-report-v1.md, "Dates": ISO `yyyy-mm-dd` may carry a BE year; impossible dates are
defects; "in the future" means after the run's as-of date).

`2548-02-29` is BE 2548 = CE 2005, which has no 29 February. The normaliser left the text as
written, and validation read it as a day of the year 2548: SUBMITTED_IN_FUTURE, which tells the
agency to fix the wrong thing (found by a verifier, 2026-12-07). The slashed `29/02/2548` was
DATE_INVALID already.

The registry is tests/test_flow.py's (lead 03009; K1 weight 60, K2 weight 40).
"""
from __future__ import annotations

from datetime import date

from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def lead_q2(submitted_on: str) -> bytes:
    return _csv(f"{P},03009,2548-Q2,{submitted_on},kpi,K1,,47,,,,", f"{P},03009,2548-Q2,{submitted_on},kpi,K2,,60,,,,")


def test_an_iso_date_with_a_be_year_that_does_not_exist_in_ce_is_date_invalid(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_iso_be.csv").write_bytes(lead_q2("2548-02-29"))
    (inbox / "b_thai_digits.csv").write_bytes(lead_q2("๒๕๔๘-๐๒-๒๙"))
    (inbox / "c_slashed.csv").write_bytes(lead_q2("29/02/2548"))
    (inbox / "d_iso_be_valid.csv").write_bytes(lead_q2("2548-02-28"))  # CE 2005-02-28: a real day
    code, out = run_cli(registry, inbox, tmp_path)  # as of 2005-05-15
    assert code == 0, out
    assert "files seen 4: accepted 1, superseded 0, duplicates 0, quarantined 3" in out, out
    wh = tmp_path / "wh.duckdb"
    # Each bad file: DATE_INVALID on both rows' submitted_on (ROWS_DISAGREE has nothing to compare),
    # and no SUBMITTED_IN_FUTURE.
    assert query(wh, "SELECT s.file_name, s.status, i.row_number, i.column_name, i.code FROM ingest.submissions s "
                     "LEFT JOIN ingest.issues i USING (submission_id) ORDER BY 1, 3") == [
        ("a_iso_be.csv", "quarantined", 2, "submitted_on", "DATE_INVALID"),
        ("a_iso_be.csv", "quarantined", 3, "submitted_on", "DATE_INVALID"),
        ("b_thai_digits.csv", "quarantined", 2, "submitted_on", "DATE_INVALID"),
        ("b_thai_digits.csv", "quarantined", 3, "submitted_on", "DATE_INVALID"),
        ("c_slashed.csv", "quarantined", 2, "submitted_on", "DATE_INVALID"),
        ("c_slashed.csv", "quarantined", 3, "submitted_on", "DATE_INVALID"),
        ("d_iso_be_valid.csv", "accepted", None, None, None)]
    assert query(wh, "SELECT submitted_on FROM ingest.submissions WHERE status = 'accepted'") == [
        (date(2005, 2, 28),)]
