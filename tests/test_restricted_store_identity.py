"""A job never replaces a restricted pilot's figures with nothing (verifier VI, F1).

The open warehouse records the identity of its restricted store (ops.restricted_store, migration
0021; warehouse/store_identity.py). A job whose store is missing (forgotten --restricted-store, a
wrong path, a restore that missed the file) or is another warehouse's store refuses to start:
exit 1, one line in English and Thai naming the path, nothing changed. A new store is made only
while the warehouse records none: the first night that needs one (the demo's).

Figures (the demo, docs/demo.md): PLT-2548-006 in 2549-Q3, lead 01005 reported S1 = 9 and S2 = 13.9.
scoring.md §1, FY2549 thresholds: S1 higher [6, 8, 10, 12, 14]: k = 2, s = 2 + (9 - 8)/(10 - 8) = 2.5;
S2 lower [20, 16, 12, 9, 6]: k = 2, s = 2 + (16 - 13.9)/(16 - 12) = 2.525. §2: composite
(2.5 x 50 + 2.525 x 50)/100 = 2.5125, at_risk (2 <= 2.5125 < 3), 2 KPIs reported.
"""
from __future__ import annotations

import os
import shutil
import stat
from decimal import Decimal
from pathlib import Path

import duckdb
from click.testing import CliRunner

from flows.cli import main
from tests.test_restricted_store import rows

PILOT, PERIOD = "PLT-2548-006", "2549-Q3"
EXPECTED = [(Decimal("2.5125"), "at_risk", 2)]
SCORE = "SELECT composite_score, status, kpis_reported FROM marts.pilot_scores WHERE pilot_id = ? AND period = ?"


def _demo_copy(demo_run, tmp_path: Path) -> Path:
    """The demo's folder (its first night run), copied with its modes: jobs here leave it as it is."""
    folder, _ = demo_run
    work = tmp_path / "demo"
    shutil.copytree(folder, work, symlinks=True)
    return work


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _state(work: Path) -> dict:
    """What a refused job must leave as it was."""
    wh = work / "warehouse.duckdb"
    return {"score": rows(wh, SCORE, [PILOT, PERIOD]),
            "published": rows(work / "warehouse.published.duckdb", SCORE, [PILOT, PERIOD]),
            "runs": rows(wh, "SELECT run_id, status FROM ops.runs ORDER BY ALL"),
            "closures": rows(wh, "SELECT * FROM approval.quarter_closures"),
            "recorded": rows(wh, "SELECT * FROM ops.restricted_store"),
            "files": sorted(p.name for p in work.iterdir())}


def _refused(code: int, output: str, store: Path, words: str) -> None:
    assert code == 1, output
    line = output.strip()
    assert len(line.splitlines()) == 1, output
    assert line.startswith(f"pilotkpi: {store}: {words}"), output
    assert "nothing was changed" in line and "--restricted-store" in line
    assert "คลังข้อมูลชั้นความลับ" in line and "จึงไม่ได้เปลี่ยนแปลงสิ่งใด" in line  # the Thai half


def test_the_first_night_makes_the_store_and_both_files_record_it(demo_run):
    folder, _ = demo_run
    wh, store = folder / "warehouse.duckdb", folder / "warehouse.restricted.duckdb"
    assert store.exists()  # made by the demo's one night (no store before it)
    [(store_id, run_id)] = rows(wh, "SELECT store_id, run_id FROM ops.restricted_store")
    assert rows(store, "SELECT store_id, run_id FROM ops.restricted_store") == [(store_id, None)]
    assert rows(store, "SELECT run_id FROM ops.restricted_job") == [(run_id,)]
    assert rows(wh, "SELECT status FROM ops.runs WHERE run_id = ?", [run_id]) == [("succeeded",)]
    assert len(store_id) == 32
    assert rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED


def test_a_job_without_its_store_or_with_another_refuses_and_changes_nothing(demo_run, tmp_path):
    work = _demo_copy(demo_run, tmp_path)
    default = work / "warehouse.restricted.duckdb"
    secret = work / "secret"
    secret.mkdir(mode=0o700)
    store = secret / "r.duckdb"
    # The store kept elsewhere (as a night given `--restricted-store secret/r.duckdb` keeps it).
    default.rename(store)
    (work / "warehouse.restricted.evidence").rename(secret / "r.evidence")
    common = ["--registry", str(work / "registry"), "--warehouse", str(work / "warehouse.duckdb"),
              "--out", str(work / "out"), "--as-of", "2006-08-15"]
    code, output = _cli("rebuild", *common, "--restricted-store", str(store))
    assert code == 0, output
    before = _state(work)
    assert before["score"] == before["published"] == EXPECTED and before["closures"] == []

    # (a) the option forgotten: close-quarter and rebuild look beside the warehouse, find nothing.
    for job in (["close-quarter", PERIOD, "--pilot", PILOT, "--by", "tester"], ["rebuild"]):
        code, output = _cli(*job, *common)
        _refused(code, output, default, "no restricted store here, yet this warehouse's jobs wrote one")
        assert _state(work) == before  # no empty store made, no figure, closure or run written
        assert not default.exists() and not (work / "warehouse.restricted.evidence").exists()

    # (b) the store missing where it is expected (a restore that missed it).
    store.rename(tmp_path / "aside.duckdb")
    code, output = _cli("rebuild", *common, "--restricted-store", str(store))
    _refused(code, output, store, "no restricted store here")
    assert not store.exists() and _state(work) == before

    # Another warehouse's store (its own id) given in its place.
    other = secret / "other.duckdb"
    shutil.copy2(tmp_path / "aside.duckdb", other)
    con = duckdb.connect(str(other))
    con.execute("UPDATE ops.restricted_store SET store_id = 'another-warehouse-store'")
    con.close()
    os.chmod(other, 0o600)
    code, output = _cli("close-quarter", PERIOD, "--pilot", PILOT, "--by", "tester", *common,
                        "--restricted-store", str(other))
    _refused(code, output, other, "this is not the restricted store of this warehouse (it is store id "
                                  "another-warehouse-store")
    assert _state(work) == before

    # The store put back: the committee's close takes the pilot's figures as they were.
    (tmp_path / "aside.duckdb").rename(store)
    code, output = _cli("close-quarter", PERIOD, "--pilot", PILOT, "--by", "tester", *common,
                        "--restricted-store", str(store))
    assert code == 0, output
    assert rows(work / "warehouse.duckdb", "SELECT composite_at_closing, status_at_closing FROM "
                "approval.quarter_closures WHERE pilot_id = ?", [PILOT]) == [(Decimal("2.5125"), "at_risk")]
    assert rows(work / "warehouse.duckdb", SCORE, [PILOT, PERIOD]) == EXPECTED


def test_a_warehouse_from_before_store_ids_refuses_a_missing_store_and_records_the_one_it_finds(demo_run, tmp_path):
    work = _demo_copy(demo_run, tmp_path)
    wh, store = work / "warehouse.duckdb", work / "warehouse.restricted.duckdb"
    for path in (wh, store):  # as written before migration 0021
        con = duckdb.connect(str(path))
        con.execute("DROP TABLE ops.restricted_store")
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 21")
        con.close()
        os.chmod(path, 0o600)
    common = ["--registry", str(work / "registry"), "--warehouse", str(wh), "--out", str(work / "out"),
              "--as-of", "2006-08-15"]
    store.rename(tmp_path / "aside.duckdb")
    code, output = _cli("rebuild", *common)
    _refused(code, output, store, "no restricted store here, yet this warehouse's jobs wrote one (made before "
                                  "pilotkpi recorded store ids")
    assert not store.exists()
    assert rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED

    (tmp_path / "aside.duckdb").rename(store)
    code, output = _cli("rebuild", *common)
    assert code == 0, output
    [(store_id, run_id)] = rows(wh, "SELECT store_id, run_id FROM ops.restricted_store")
    assert rows(store, "SELECT store_id FROM ops.restricted_store") == [(store_id,)]
    assert rows(store, "SELECT run_id FROM ops.restricted_job") == [(run_id,)]
    assert rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_a_store_restored_apart_from_the_warehouse_is_named_out_of_step(demo_run, tmp_path):
    """Verifier VI, F5: a store backed up before a job and a warehouse after it. The next job says
    so (both runs named, English and Thai) and goes on; once in step again it says nothing."""
    work = _demo_copy(demo_run, tmp_path)
    wh, store = work / "warehouse.duckdb", work / "warehouse.restricted.duckdb"
    common = ["--registry", str(work / "registry"), "--warehouse", str(wh), "--out", str(work / "out"),
              "--as-of", "2006-08-15"]
    [(night,)] = rows(store, "SELECT run_id FROM ops.restricted_job")  # the demo's one night
    shutil.copy2(store, tmp_path / "backup.duckdb")  # the store's copy, taken first
    code, output = _cli("rebuild", *common)  # a job between the two copies
    assert code == 0 and "out of step" not in output, output
    [(between,)] = rows(wh, "SELECT run_id FROM ops.runs WHERE run_id <> ?", [night])
    assert rows(wh, "SELECT run_id FROM ops.restricted_store") == rows(store, "SELECT run_id FROM ops.restricted_job") \
        == [(between,)]

    shutil.copy2(tmp_path / "backup.duckdb", store)  # restored apart
    code, output = _cli("rebuild", *common)
    assert code == 0, output
    assert (f"pilotkpi: warning: the restricted store's last job is run {night}, but this warehouse's last job "
            f"that wrote it is run {between}: the two files are out of step") in output
    assert f"pilotkpi: คำเตือน: งานล่าสุดที่เขียนคลังข้อมูลชั้นความลับคือ {night}" in output
    assert rows(wh, SCORE, [PILOT, PERIOD]) == EXPECTED

    code, output = _cli("rebuild", *common)  # the warned job wrote both: in step again
    assert code == 0 and "out of step" not in output and "คำเตือน" not in output, output
