"""A restricted store lost for good has a way forward: `rebuild --new-restricted-store` (RV9 #4).

Once the open warehouse records its store (warehouse/store_identity.py), every job refuses to run
while that store is missing: right after a mistaken path or a restore that missed the file, but
with no exit at all when the disk is gone and there is no backup. Now `pilotkpi rebuild
--new-restricted-store` lets that one job make a new empty store, record its new id in both files
(ops.runs.kind rebuild_new_restricted_store), and say in English and Thai that every restricted
pilot's figures are no data until their files are sent again. It is refused while a store is
there. Without it the refusal stays, and names the option.

Figures (the demo, docs/demo.md; tests/test_restricted_store_identity.py): PLT-2548-006 2549-Q3,
lead 01005 S1 = 9, S2 = 13.9: composite 2.5125 at_risk, 2 KPIs. With the store empty: no KPI
reported, so every period of the pilot is no_data (scoring.md: no composite without a report).
The lead's 2549-Q3 file sent again: 2.5125 at_risk once more, and its other periods no_data still.
"""
from __future__ import annotations

import shutil
import stat
from decimal import Decimal

from tests.test_restricted_store import rows
from tests.test_restricted_store_identity import EXPECTED, PERIOD, PILOT, SCORE, _cli, _demo_copy, _state
from warehouse.publish import published_path

ALL_PERIODS = "SELECT period, composite_score, status, kpis_reported FROM marts.pilot_scores WHERE pilot_id = ? ORDER BY period"


def test_a_lost_store_is_replaced_only_when_asked_and_the_nights_go_on(demo_run, tmp_path):
    work = _demo_copy(demo_run, tmp_path)
    wh, store = work / "warehouse.duckdb", work / "warehouse.restricted.duckdb"
    common = ["--registry", str(work / "registry"), "--warehouse", str(wh), "--out", str(work / "out"),
              "--as-of", "2006-08-15"]
    [(old_id, _)] = rows(wh, "SELECT store_id, run_id FROM ops.restricted_store")
    periods = [p for p, *_ in rows(wh, ALL_PERIODS, [PILOT])]
    assert len(periods) >= 4 and rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED

    # The option while the store is there: refused, nothing changed (it never replaces a store).
    before = _state(work)
    code, output = _cli("rebuild", *common, "--new-restricted-store")
    assert code == 1 and "only replaces a store lost for good" in output and "nothing was changed" in output, output
    assert _state(work) == before

    # The disk is lost: the store and its evidence folder, no backup.
    store.unlink()
    shutil.rmtree(work / "warehouse.restricted.evidence")
    before = _state(work)
    code, output = _cli("rebuild", *common)
    assert code == 1, output
    assert "no restricted store here, yet this warehouse's jobs wrote one" in output, output
    assert "pilotkpi rebuild --new-restricted-store" in output and "หากคลังสูญหายถาวร" in output, output  # the way out
    assert _state(work) == before and not store.exists()

    code, output = _cli("rebuild", *common, "--new-restricted-store")
    assert code == 0, output
    [(new_id, job)] = rows(wh, "SELECT store_id, run_id FROM ops.restricted_store")
    assert new_id != old_id and len(new_id) == 32
    assert rows(store, "SELECT store_id, run_id FROM ops.restricted_store") == [(new_id, None)]
    assert rows(store, "SELECT run_id FROM ops.restricted_job") == [(job,)]
    assert rows(store, "SELECT count(*) FROM ingest.submissions") == [(0,)]
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert rows(wh, "SELECT kind, status FROM ops.runs WHERE run_id = ?", [job]) == [
        ("rebuild_new_restricted_store", "succeeded")]
    assert (f"pilotkpi: made a new empty restricted store at {store} (store id {new_id}) in place of the lost one "
            f"(store id {old_id}), as --new-restricted-store asked: every restricted pilot's figures are now no "
            f"data until their agencies send their files again (restricted pilots: {PILOT})") in output, output
    assert f"pilotkpi: สร้างคลังข้อมูลชั้นความลับใหม่ที่ว่างเปล่าที่ {store} (รหัสคลัง {new_id})" in output, output
    for path in (wh, published_path(wh)):
        assert rows(path, ALL_PERIODS, [PILOT]) == [(p, None, "no_data", 0) for p in periods], path

    # The next plain night runs, with the lead's 2549-Q3 report sent again.
    [sent] = (work / "inbox" / "processed").glob(f"{PILOT}_01005_{PERIOD}*")
    shutil.copy2(sent, work / "inbox" / sent.name)
    code, output = _cli("run", *common, "--inbox", str(work / "inbox"), "--settle-seconds", "0")
    assert code == 0, output
    assert "files seen 1: accepted 1" in output, output
    assert rows(wh, "SELECT store_id FROM ops.restricted_store") == [(new_id,)]
    assert rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED == [(Decimal("2.5125"), "at_risk", 2)]
    assert [r for r in rows(wh, ALL_PERIODS, [PILOT]) if r[0] != PERIOD] == [
        (p, None, "no_data", 0) for p in periods if p != PERIOD]
