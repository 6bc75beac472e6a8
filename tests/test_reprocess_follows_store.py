"""`pilotkpi reprocess` puts a file in the store of its pilot as today's registry says, and
leaves nothing of it on the other side (warehouse.md, "Restricted pilots"; W item 4).

tests/test_restricted_store.py's scenario (the restricted pilot PLT-2548-099: one KPI S9, higher,
weight 100, FY2548 thresholds [10, 20, 30, 40, 50]; r5, its lead's 2548-Q2 report submitted
2005-04-25 with S9 = 25, accepted) plus `z-secret-padded-Q4M.xlsx`: the lead's 2548-Q2 report
submitted 2005-04-28 with S9 = 30, in a workbook that carries 4 MB of zeros in an extra part (its
inflated size is several hundred times its size). The night refuses it unread (FILE_TOO_LARGE,
compression ratio over PILOTKPI_MAX_COMPRESSION_RATIO = 200): its pilot cannot be read, so it is
an open file (warehouse.md) and sits in the open warehouse. The operator then raises the bound and
reprocesses it: it reads as PLT-2548-099's, so the new submission, the old quarantined one (its
issues and status history) and the original file all go to the restricted store in that one job,
and r5 is superseded: S9 = 30 scores 3 + (30 - 30)/(40 - 30) = 3.0000, composite 3.0000,
on_target. Before, the reprocessed file stayed in the open warehouse with the restricted figures.
"""
from __future__ import annotations

import hashlib
import io
from decimal import Decimal as D

import openpyxl
from click.testing import CliRunner

from flows.cli import main
from pilots.readers.limits import LIMITS
from tests.test_flow import AS_OF, HEADER
from tests.test_pilot_moves import OPEN_ALLOWED, leftovers, q, reclassify, stored
from tests.test_restricted_store import SECRET, make_restricted_scenario, run
from tests.test_xlsx import rewrite_members
from warehouse.publish import published_path

NAME = "z-secret-padded-Q4M.xlsx"


def padded_report() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append([SECRET, "20004", "2548-Q2", "2005-04-28", "kpi", "S9", None, 30, None, None, None, None])
    out = io.BytesIO()
    book.save(out)
    return rewrite_members(out.getvalue(), lambda name, content: content, add={"customXml/padding.bin": b"\0" * 4_000_000})


def test_a_reprocessed_file_follows_its_pilot_into_the_restricted_store(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_restricted_scenario(tmp_path)
    data = padded_report()
    (inbox / NAME).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    wh, rs = tmp_path / "wh.duckdb", tmp_path / "wh.restricted.duckdb"
    open_ev, restricted_ev = tmp_path / "wh.evidence", tmp_path / "wh.restricted.evidence"
    code, output = run(tmp_path, registry, inbox)
    assert code == 0, output
    [(old_id, status, pilot)] = q(wh, "SELECT submission_id, status, pilot_id FROM ingest.submissions WHERE sha256 = ?",
                                  [sha])
    assert (status, pilot) == ("quarantined", None)
    assert q(wh, "SELECT code FROM ingest.issues WHERE submission_id = ?", [old_id]) == [("FILE_TOO_LARGE",)]
    assert stored(open_ev, [sha]) == 1 and stored(restricted_ev, [sha]) == 0
    assert q(wh, "SELECT composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? AND period = '2548-Q2'",
             [SECRET]) == [(D("2.5000"), "at_risk")]

    monkeypatch.setattr(LIMITS, "max_compression_ratio", 100_000)  # the operator raises the bound
    result = CliRunner().invoke(main, ["reprocess", str(old_id), "--registry", str(registry), "--warehouse", str(wh),
                                       "--out", str(tmp_path / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert f"submission {old_id} ([file of a restricted pilot]) reprocessed as submission" in result.output
    assert NAME not in result.output and "Q4M" not in result.output

    # In the restricted store: the old submission, its issue and history, and the new one.
    rows = q(rs, "SELECT submission_id, status, pilot_id, reprocess_of FROM ingest.submissions WHERE sha256 = ? "
                 "ORDER BY 1", [sha])
    assert [r[1:] for r in rows] == [("quarantined", None, None), ("accepted", SECRET, old_id)]
    new_id = rows[1][0]
    assert q(rs, "SELECT code FROM ingest.issues WHERE submission_id = ?", [old_id]) == [("FILE_TOO_LARGE",)]
    assert ("quarantined", "quarantined", "moved_to_restricted") in q(
        rs, "SELECT status_before, status_after, reason FROM ingest.status_changes WHERE submission_id = ?", [old_id])
    assert q(rs, "SELECT status, superseded_by FROM ingest.submissions WHERE file_name = 'r5-q2-fix.csv'") == [
        ("superseded", new_id)]
    assert q(rs, "SELECT actual FROM core.kpi_actuals WHERE submission_id = ?", [new_id]) == [(D("30"),)]
    for path in (wh, rs, published_path(wh)):
        assert q(path, "SELECT composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? "
                       "AND period = '2548-Q2'", [SECRET]) == [(D("3.0000"), "on_target")], path
    # Nothing of it on the open side: no row keyed by either submission or naming the file, in the
    # warehouse or its published copy, and its bytes only in the restricted evidence folder.
    for path in (wh, published_path(wh)):
        assert leftovers(path, SECRET, [old_id, new_id], [NAME], OPEN_ALLOWED) == {}, path
        assert q(path, "SELECT count(*) FROM ingest.submissions WHERE sha256 = ?", [sha]) == [(0,)]
    assert stored(open_ev, [sha]) == 0 and stored(restricted_ev, [sha]) == 1

    # And back: the pilot is open again. The next job (any kind) moves the pilot, and with it the
    # quarantined submission that was reprocessed as its file, though that row names no pilot.
    reclassify(registry, SECRET, "open")
    result = CliRunner().invoke(main, ["rebuild", "--registry", str(registry), "--warehouse", str(wh),
                                       "--out", str(tmp_path / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert f"moved pilot {SECRET} from the restricted store to the open warehouse" in result.output
    assert q(wh, "SELECT submission_id, status FROM ingest.submissions WHERE sha256 = ? ORDER BY 1", [sha]) == [
        (old_id, "quarantined"), (new_id, "accepted")]
    assert q(rs, "SELECT count(*) FROM ingest.submissions WHERE sha256 = ? OR pilot_id = ?", [sha, SECRET]) == [(0,)]
    assert q(rs, "SELECT count(*) FROM ingest.issues WHERE submission_id = ?", [old_id]) == [(0,)]
    assert stored(open_ev, [sha]) == 1 and stored(restricted_ev, [sha]) == 0
    assert q(wh, "SELECT composite_score FROM marts.pilot_scores WHERE pilot_id = ? AND period = '2548-Q2'",
             [SECRET]) == [(D("3.0000"),)]
