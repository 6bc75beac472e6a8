"""`pilotkpi reprocess` whose COMMIT raised and whose outcome cannot be read back.

tests/test_commit_checkpoint.py covers the double fault (the COMMIT logged, then its automatic
checkpoint aborted: durable; the file then cannot be opened again to read the job's own ops.runs
row) for `run`, `rebuild`, a served run and `approve`. A reprocess runs the same job: it must say
the next run decides (exit 1, never "the warehouse is unchanged", since the log holds the commit),
and the next job must complete it once: the file accepted once, counted once, published.

The scenario is tests/test_reprocess_rebuild.py's: a report for PLT-2548-004 is quarantined
(PILOT_UNKNOWN); the pilot is then registered, and the very bytes are reprocessed.
"""
from __future__ import annotations

from decimal import Decimal

from tests.test_commit_checkpoint import LOGGED_THEN_CHECKPOINTED, _autocheckpoint_fails, _cannot_open_again
from tests.test_flow import AS_OF, PILOT, _csv, make_scenario, run_cli
from tests.test_post_commit_disk_full import _runs
from tests.test_reprocess_rebuild import cli, query
from warehouse.publish import published_path

NEW = "PLT-2548-004"
# A reprocess files nothing away (no inbox): every step after the commit but that one.
REPROCESS_STEPS = "validation_report,summaries,artifact,letters,publish"


def _reprocessed(path) -> list[tuple]:
    return query(path, "SELECT status, reprocess_of, pilot_id FROM ingest.submissions "
                       "WHERE reprocess_of IS NOT NULL OR pilot_id = 'PLT-2548-004' ORDER BY submission_id")


def test_a_reprocess_whose_commit_cannot_be_read_back_says_so_and_the_next_run_completes_it_once(
        tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    (inbox / "h_new_pilot.csv").write_bytes(_csv(f"{NEW},03009,2548-Q1,2005-01-25,kpi,K1,,33,,,,",
                                                 f"{NEW},03009,2548-Q1,2005-01-25,kpi,K2,,80,,,,"))
    wh, out = tmp_path / "wh.duckdb", tmp_path / "out"
    code, text = run_cli(registry, inbox, tmp_path)
    assert code == 0, text
    [(old_id,)] = query(wh, "SELECT submission_id FROM ingest.submissions WHERE file_name = 'h_new_pilot.csv'")
    assert _reprocessed(wh) == [("quarantined", None, NEW)]
    (registry / "pilots" / f"{NEW}.yaml").write_text(PILOT.replace("PLT-2548-003", NEW), encoding="utf-8")
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(out), "--as-of", AS_OF]

    _autocheckpoint_fails(monkeypatch, LOGGED_THEN_CHECKPOINTED)
    _cannot_open_again(monkeypatch)
    code, text = cli("reprocess", str(old_id), *base)
    monkeypatch.undo()
    assert code == 1, text
    assert "the warehouse is unchanged" not in text
    assert "could not be opened again and read to see whether it holds this run" in text, text
    # The reprocess's own commit record, replayed from the log: committed, no later step done.
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", REPROCESS_STEPS, False)]
    assert _reprocessed(wh) == [("quarantined", None, NEW), ("accepted", old_id, NEW)]

    # The next night (nothing new in the inbox) completes the reprocess: its pages and the
    # published copy now hold the accepted file, once.
    code, text = run_cli(registry, inbox, tmp_path)
    assert code == 0, text
    assert "files seen 0" in text
    assert _runs(wh) == [("succeeded", None, False), ("committed_with_errors", REPROCESS_STEPS, True),
                         ("succeeded", None, False)]
    assert _reprocessed(wh) == _reprocessed(published_path(wh)) == [("quarantined", None, NEW), ("accepted", old_id, NEW)]
    # K1 a=33 between t2=30 and t3=40: 2 + 3/10 = 2.3000. K2 a sum KPI, Q1 thresholds x 1/4 =
    # [25, 50, 75, 100, 125]; a=80 between t3=75 and t4=100: 3 + 5/25 = 3.2000.
    scores = "SELECT kpi_code, score FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-004' AND period = '2548-Q1' ORDER BY 1"
    assert query(wh, scores) == query(published_path(wh), scores) == [("K1", Decimal("2.3000")), ("K2", Decimal("3.2000"))]
    assert query(wh, "SELECT kind, accepted FROM ops.runs ORDER BY started_at") == [
        ("run", 3), ("reprocess", 1), ("run", 0)]
    # Asked again, the reprocess is refused: the file is counted once.
    code, text = cli("reprocess", str(old_id), *base)
    assert code == 1 and "reprocessed already" in text, text
    assert len(_reprocessed(wh)) == 2
