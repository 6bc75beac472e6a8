"""Two versions of a report with the same submitted_on: the one received later wins, whatever
order the engine decides them in (agency-report-v1.md, "Which file wins").

Ingestor._decide broke an equal-date tie by the order it decided files in. `pilotkpi reprocess`
of an old quarantined file (its submission keeps its original, earlier received_at) was decided
after the agency's later-received correction, and replaced it: the scores went back to the
figures the agency had corrected. It now compares received_at on an equal submitted_on.
Approving a held file is not this rule: data-quality.md §2 says an accepted file with a later or
equal submitted_on stays (pilots/approval.py, tests/test_closed_quarters.py).

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4:
Q1 [25,50,75,100,125]).
"""
from __future__ import annotations

import os
from decimal import Decimal

from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF, _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
CP874_NAME = b"\xc3\xd2\xc2\xa7\xd2\xb9-Q1.csv"  # "รายงาน-Q1.csv" in Windows-874 bytes: not UTF-8


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def lead_q1(k1: str, note: str = "") -> bytes:
    return _csv(f"{P},03009,2548-Q1,2005-01-22,kpi,K1,,{k1},,,,{note}", f"{P},03009,2548-Q1,2005-01-22,kpi,K2,,60,,,,")


def test_a_reprocessed_file_received_earlier_does_not_replace_the_later_correction(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(tmp_path / "out"), "--as-of", AS_OF]

    # Night 1: the lead's Q1 report, K1 40.4, under a name in Windows-874 bytes: quarantined.
    with open(os.path.join(os.fsencode(inbox), CP874_NAME), "wb") as f:
        f.write(lead_q1("40.4"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 0, superseded 0, duplicates 0, quarantined 1" in out
    # Night 2: the agency's corrected resend, K1 55, the same submitted_on: accepted.
    (inbox / "report-Q1-fixed.csv").write_bytes(lead_q1("55", "corrected K1"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    # K1 55 -> 4 + 5/10 = 4.5; K2 60 -> 2 + 10/25 = 2.4; composite (4.5*60 + 2.4*40)/100 = 3.66.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.6600"),)]

    # The operator reprocesses night 1's file (docs/operations.md): it reads now, but it was
    # received before the correction, so the correction stays. Before: "accepted", replacing
    # submission 2, and K1 40.4 -> 3 + 0.4/10 = 3.04, composite (3.04*60 + 96)/100 = 2.7840.
    code, out = cli("reprocess", "1", *base)
    assert code == 0, out
    assert "reprocessed as submission 3: superseded" in out, out
    assert query(wh, "SELECT submission_id, status, superseded_by, reprocess_of FROM ingest.submissions "
                     "ORDER BY 1") == [(1, "quarantined", None, None), (2, "accepted", None, None),
                                       (3, "superseded", 2, 1)]
    # The reprocessed submission keeps night 1's receipt, earlier than night 2's.
    [(earlier,)] = query(wh, "SELECT (SELECT received_at FROM ingest.submissions WHERE submission_id = 3) "
                             "< (SELECT received_at FROM ingest.submissions WHERE submission_id = 2)")
    assert earlier is True
    assert query(wh, "SELECT kpi_code, actual, score FROM marts.kpi_scores WHERE period = '2548-Q1' ORDER BY 1") == [
        ("K1", D(55), D("4.5000")), ("K2", D(60), D("2.4000"))]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.6600"),)]



def test_a_reprocessed_file_received_in_the_same_run_but_before_by_name_does_not_replace_the_later(
        tmp_path, prefect_harness):
    # One night receives both versions, the same submitted_on. Names are received in code-point
    # order, the Windows-874 one as the listing gives it (its bytes as lone surrogates, U+DCC3 ..):
    # it sorts before a name in full-width letters (U+FF52 ..), so it is received first
    # (submission 1) and quarantined; the full-width one is accepted (2). Both rows share the run's received_at, so
    # the tie is theirs by name (agency-report-v1.md: files received in one run, the one whose name
    # sorts last). Reprocessing 1 must not replace 2: before, equal times let the file decided last win.
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(tmp_path / "out"), "--as-of", AS_OF]
    with open(os.path.join(os.fsencode(inbox), CP874_NAME), "wb") as f:
        f.write(lead_q1("40.4"))
    (inbox / "ｒｅｐｏｒｔ-Q1.csv").write_bytes(lead_q1("55", "corrected K1"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT submission_id, file_name, status FROM ingest.submissions ORDER BY 1") == [
        (1, "\\xc3\\xd2§ҹ-Q1.csv", "quarantined"), (2, "ｒｅｐｏｒｔ-Q1.csv", "accepted")]

    code, out = cli("reprocess", "1", *base)
    assert code == 0, out
    assert "reprocessed as submission 3: superseded" in out, out
    [(same,)] = query(wh, "SELECT count(DISTINCT received_at) = 1 FROM ingest.submissions")
    assert same is True
    # K1 55 -> 4.5, K2 60 -> 2.4: composite (4.5*60 + 2.4*40)/100 = 3.66 stays.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.6600"),)]
