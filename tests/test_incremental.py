"""Cheap nights (issue 12 item 4): a night rebuilds only the marts whose inputs changed and skips the
outputs whose figures did not change, and its marts equal a full rebuild, row for row.

The first night runs the demo inbox without two of its 130 files (1.5%); each test then runs one
more night on its own copy of that warehouse:
(a) nothing new, same as-of date (a rerun); (b) the two files held back; (c) the real quiet night:
nothing new, as of one day later; (d) nothing new, one threshold row of the registry changed;
(e) the published copy edited by hand; (f) a night that reads only a restricted pilot's file;
(l) a stale write-ahead log left beside the published copy, then a quiet night and a night with new files.
(b) also checks which pilots' sections are rendered again (until 2026-12-06 test_h, the same
night), (c) which files are rewritten (test_g, the same night) and (a) and (c) that publishing
keeps or replaces the copy (test_j, the same two nights, one after the other).
A mart's checksum is SHA-256 over its rows in ORDER BY ALL order; the reference is the same
warehouse with every mart rebuilt (kpis.build.build_marts without only_changed, what `pilotkpi
rebuild` runs; (b) also compares with the command itself).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.nightly import build_all_marts
from kpis.build import MART_NAMES, build_marts
from pilots import demo
from tests.support import ROOT, child_env
from warehouse.db import connect, transaction
from warehouse.migrate import available_migrations

AS_OF = "2006-08-15"
# Two regular reports of two pilots: the Department of Provincial Administration's 2549-Q2 report of
# PLT-2548-007, and OPDC's corrected 2549-Q2 report of PLT-2548-003 (it supersedes the first one).
HELD_BACK = ("PLT-2548-007_20004_2549-Q2.csv", "PLT-2548-003_03009_2549-Q2_rev1.csv")
ALL_STEPS = ["validation_report", "summaries", "artifact", "letters", "publish"]


def _run(root: Path, as_of: str = AS_OF, registry: Path | None = None):
    result = CliRunner().invoke(main, [
        "run", "--registry", str(registry or root / "registry"), "--inbox", str(root / "inbox"),
        "--warehouse", str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", as_of,
        "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def first_night(tmp_path_factory, prefect_harness) -> Path:
    root = tmp_path_factory.mktemp("incremental")
    paths = demo.write_demo(root)
    (root / "held").mkdir()
    for name in HELD_BACK:
        (paths.inbox / name).rename(root / "held" / name)
    _run(root)
    return root


@pytest.fixture
def night(first_night: Path, tmp_path: Path) -> Path:
    """A copy of the first night's folder (warehouse, published copy, evidence, out, inbox)."""
    copy = tmp_path / "night"
    shutil.copytree(first_night, copy)
    return copy


def checksums(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: hashlib.sha256(repr(con.execute(f"SELECT * FROM marts.{name} ORDER BY ALL").fetchall())
                                     .encode()).hexdigest() for name in MART_NAMES}
    finally:
        con.close()


def both_stores(path: Path) -> dict[str, str]:
    """checksums() of the open marts, and of the restricted store's beside it ("restricted:<mart>")."""
    restricted = path.with_name(f"{path.stem}.restricted.duckdb")
    return {**checksums(path), **{f"restricted:{k}": v for k, v in checksums(restricted).items()}}


def full_rebuild(path: Path, as_of: str, tmp: Path, restricted: frozenset[str] = frozenset({"PLT-2548-006"})
                 ) -> dict[str, str]:
    """Every mart rebuilt from the same warehouse and restricted store (copies), as `pilotkpi
    rebuild` does: the restricted store's marts first, merged into the open ones. The checksums
    of both stores' marts (both_stores)."""
    ref = tmp / f"ref-{path.stem}.duckdb"
    shutil.copyfile(path, ref)
    rref = ref.with_name(f"{ref.stem}.restricted.duckdb")
    shutil.copy2(path.with_name(f"{path.stem}.restricted.duckdb"), rref)
    con, rcon = connect(ref), connect(rref)
    try:
        pilots = {p for (p,) in con.execute(
            "SELECT pilot_id FROM registry.pilots WHERE classification = 'restricted'").fetchall()}
        assert pilots == restricted  # the demo's restricted pilot (docs/demo.md), unless a test moved one
        with transaction(rcon), transaction(con):
            built, _ = build_all_marts(con, date.fromisoformat(as_of), SimpleNamespace(con=rcon, pilots=pilots))
            assert built == MART_NAMES
    finally:
        con.close()
        rcon.close()
    return both_stores(ref)


def built_by(path: Path) -> dict[str, str]:
    """mart -> the run that last built it (ops.mart_inputs)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT mart_name, run_id FROM ops.mart_inputs").fetchall())
    finally:
        con.close()


def recomputed(path: Path, run_id: str) -> dict[str, list[str]]:
    """mart -> the pilots whose rows this run computed (ops.mart_partitions); "*" when it built the
    mart whole."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT DISTINCT mart_name, coalesce(pilot_id, '*') FROM ops.mart_partitions WHERE run_id = ? "
                           "ORDER BY ALL", [run_id]).fetchall()
    finally:
        con.close()
    found: dict[str, list[str]] = {}
    for mart, pilot in rows:
        found.setdefault(mart, []).append(pilot)
    return {mart: ["*"] if "*" in pilots else pilots for mart, pilots in found.items()}


def recomputed_parts(path: Path, run_id: str, mart: str) -> list[tuple]:
    """(pilot, agency) of each part of marts.<mart> this run computed (ops.mart_partitions; agency
    None: the pilot's own part, recomputed with every agency of it)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT pilot_id, agency_code FROM ops.mart_partitions WHERE run_id = ? AND mart_name = ? "
                           "ORDER BY ALL", [run_id, mart]).fetchall()
    finally:
        con.close()


def runs(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT run_id, status, state_sha256, skipped_steps, failed_steps "
                           "FROM ops.runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def outputs(root: Path) -> dict[str, int]:
    """mtime (ns) of every file a night may rewrite: out/ (summaries, validation report, letters)
    and the published copy."""
    files = [p for p in (root / "out").rglob("*") if p.is_file() and not p.name.startswith(".")]
    files.append(root / "w.published.duckdb")
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in files}


def reminders(path: Path) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT * FROM marts.reminders ORDER BY ALL").fetchall()
    finally:
        con.close()


def _summaries(times: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in times.items() if re.fullmatch(r"out/summary\.(th|en)\.(html|md)", k)}


def test_a_night_with_nothing_new_skips_every_output_and_rebuilds_no_mart(night, tmp_path, monkeypatch):
    import pilots.checks

    def no_ge(*a, **k):  # any use of GE in this night is recorded, and would fail the run
        calls.append("ge")
        raise AssertionError("a night with nothing new started Great Expectations")

    calls: list[str] = []
    monkeypatch.setattr(pilots.checks, "_import_gx", no_ge)
    monkeypatch.setattr(pilots.checks, "_gx", no_ge)
    before, first = outputs(night), runs(night / "w.duckdb")
    builders = built_by(night / "w.duckdb")
    assert len(_summaries(before)) == 4 and any(k.startswith("out/reminders/") for k in before)
    copy, reminders_before = (night / "w.published.duckdb").stat(), reminders(night / "w.published.duckdb")

    result = _run(night)

    assert calls == []
    assert outputs(night) == before  # summaries, validation.html, letters, published copy untouched
    # Publishing kept the very copy (no relation changed): the same file, not an equal one written again.
    assert (night / "w.published.duckdb").stat().st_ino == copy.st_ino
    assert reminders(night / "w.published.duckdb") == reminders_before
    # Every mart is the first night's (each built by the first run, none by the second).
    assert built_by(night / "w.duckdb") == builders and set(builders.values()) == {first[0][0]}
    (_, status, state, skipped, failed), = runs(night / "w.duckdb")[1:]
    assert (status, skipped, failed) == ("succeeded", ",".join(ALL_STEPS), None)
    assert state == first[0][2]  # the run row itself (ops.*) is no change of the data
    # What a skipped step still does: the printed counts (7 pilots, as in the first night's line).
    assert "files seen 0" in result.output and "pilots by status:" in result.output
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)


def test_importing_the_cli_and_flows_starts_no_great_expectations():
    code = ("import sys, flows.cli, flows.nightly, pilots.ingest\n"
            "print('great_expectations' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_b_one_percent_new_rebuilds_what_the_files_feed_and_equals_a_full_rebuild(night, tmp_path):
    first = runs(night / "w.duckdb")[0][0]
    before = outputs(night)
    for name in HELD_BACK:
        shutil.copyfile(night / "held" / name, night / "inbox" / name)

    result = _run(night)

    assert "files seen 2: accepted 2" in result.output
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    statuses = con.execute("SELECT file_name, status FROM ingest.submissions WHERE file_name LIKE "
                           "'PLT-2548-003_03009_2549-Q2%' ORDER BY submission_id").fetchall()
    con.close()
    # OPDC's first 2549-Q2 report is replaced by the corrected one that arrived this night.
    assert statuses == [("PLT-2548-003_03009_2549-Q2.csv", "superseded"), (HELD_BACK[1], "accepted")]
    second = runs(night / "w.duckdb")[1]
    assert second[1:4:2] == ("succeeded", None)  # nothing skipped: every output shows new figures
    builders = built_by(night / "w.duckdb")
    # due_periods reads registry.pilots and the as-of date only, both unchanged: not rebuilt.
    # The marts that read ingest.submissions or core.* are.
    assert builders["due_periods"] == first
    for name in ("kpi_scores", "pilot_scores", "budget_snapshot", "reporting_compliance", "kpi_outlier_checks",
                 "reminders"):
        assert builders[name] == second[0], name
    # Within them, only the pilots whose inputs changed are recomputed; the other five keep the rows
    # the first night computed (and every mart equals a full rebuild, below). The marts reading
    # ingest.* or core.* recompute both pilots, but for the KPI marts: PLT-2548-007's new file is a
    # secondary agency's (20004; its lead is 16003), with no KPI value, and the KPI marts read the
    # lead's submissions only (kpis/steps.py `rows`), so they and the marts made from them
    # recompute OPDC's PLT-2548-003 alone (OPDC, 03009, is its lead).
    both = ["PLT-2548-003", "PLT-2548-007"]
    assert recomputed(night / "w.duckdb", second[0]) == {
        "kpi_scores": ["PLT-2548-003"], "pilot_scores": ["PLT-2548-003"], "budget_snapshot": both,
        "budget_integration": both, "budget_integration_by_layer": both, "reporting_compliance": both,
        "kpi_outlier_checks": ["PLT-2548-003"], "kpi_outliers": ["PLT-2548-003"], "reminders": both}
    after = outputs(night)
    assert all(after[k] != v for k, v in _summaries(before).items())
    assert after["w.published.duckdb"] != before["w.published.duckdb"]
    # PLT-2548-007 and PLT-2548-003 changed, in 4 editions; the 5 other pilots' sections are reused.
    assert book(night)["summaries"]["sections"] == {"sections": 28, "rendered": 8}
    incremental = checksums(night / "w.duckdb")
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)
    # ... and the command itself, on a copy of the warehouse.
    ref = tmp_path / "cmd"
    ref.mkdir()
    shutil.copyfile(night / "w.duckdb", ref / "w.duckdb")
    shutil.copy2(night / "w.restricted.duckdb", ref / "w.restricted.duckdb")  # with its 0600 mode
    done = CliRunner().invoke(main, ["rebuild", "--registry", str(night / "registry"), "--warehouse",
                                     str(ref / "w.duckdb"), "--out", str(ref / "out"), "--as-of", AS_OF])
    assert done.exit_code == 0, done.output
    assert checksums(ref / "w.duckdb") == incremental


def test_c_a_quiet_night_recomputes_only_what_depends_on_the_date(night, tmp_path):
    """The night after a full run, with nothing new and the as-of date one day later (issue 22 item 3)."""
    first = runs(night / "w.duckdb")[0]
    before, state_before = outputs(night), files_state(night)
    report = (night / "out" / "validation.html").read_bytes()
    reminders_before = reminders(night / "w.published.duckdb")

    result = _run(night, "2006-08-16")

    assert "files seen 0" in result.output
    _only_the_files_whose_bytes_change(night, state_before, files_state(night))
    (run_id, status, state, skipped, failed), = runs(night / "w.duckdb")[1:]
    assert state != first[2]  # the as-of date is part of the state
    builders = built_by(night / "w.duckdb")
    # The two marts that declare the as-of date are rebuilt; nothing else. due_periods has the
    # same rows on 15 and 16 August 2006 (2549-Q3 ended 30 June, 2549-Q4 ends 30 September), so
    # nothing reading it is; reminders' days_overdue grew by one day.
    assert {m for m, r in builders.items() if r == run_id} == {"due_periods", "reminders"}
    assert recomputed(night / "w.duckdb", run_id) == {"due_periods": ["*"], "reminders": ["*"]}  # whole: the date
    # So does the restricted store, whose marts skip by the same keys.
    assert {m for m, r in built_by(night / "w.restricted.duckdb").items() if r == run_id} == {"due_periods", "reminders"}
    # Exactly these steps ran: the summaries (their date line), the artifact (it shows them), the
    # letters (dated, with days overdue) and publishing (marts.reminders changed). The night read
    # no file, so it wrote no validation report.
    assert (status, skipped, failed) == ("succeeded", "validation_report", None)
    after = outputs(night)
    unchanged = {k for k in before if after.get(k) == before[k]}
    assert unchanged == {"out/validation.html"}
    assert (night / "out" / "validation.html").read_bytes() == report
    for lang in ("th", "en"):  # the summaries keep linking to the last report that read files
        assert 'href="validation.html"' in (night / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")
    assert "16 Aug 2006" in (night / "out" / "summary.en.md").read_text(encoding="utf-8")
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", "2006-08-16", tmp_path)
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    overdue = con.execute("SELECT min(days_overdue) FROM marts.reminders").fetchone()[0]
    con.close()
    assert overdue is not None and overdue >= 1
    copy = duckdb.connect(str(night / "w.published.duckdb"), read_only=True)
    assert copy.execute("SELECT min(days_overdue) FROM marts.reminders").fetchone()[0] == overdue
    copy.close()
    # Publishing replaced the copy (marts.reminders changed: days overdue; a new file, as
    # _only_the_files_whose_bytes_change asserts) with the warehouse's rows.
    assert reminders(night / "w.published.duckdb") == reminders(night / "w.duckdb") != reminders_before

    # The night after, as of the same day: nothing at all is done again.
    again = outputs(night)
    _run(night, "2006-08-16")
    assert outputs(night) == again
    assert runs(night / "w.duckdb")[2][1:5:2] == ("succeeded", ",".join(ALL_STEPS))


def test_d_a_registry_change_rebuilds_the_marts_that_read_it(night, tmp_path):
    first = runs(night / "w.duckdb")[0]
    old = checksums(night / "w.duckdb")
    registry = night / "registry"
    pilot = registry / "pilots" / "PLT-2548-001.yaml"
    text = pilot.read_text(encoding="utf-8")
    # The first KPI's FY 2549 thresholds, each times 1.1: same order (all positive), other bands.
    line = re.search(r"^ +2549: \[([^\]]+)\]$", text, re.M)
    scaled = ", ".join(f"{float(v) * 1.1:.4f}" for v in line.group(1).split(","))
    pilot.write_text(text.replace(line.group(0), line.group(0).replace(line.group(1), scaled), 1), encoding="utf-8")

    _run(night)

    second = runs(night / "w.duckdb")[1]
    # The letters read no threshold (their key is unchanged); the night read no file.
    assert second[2] != first[2] and second[3] == "validation_report,letters"
    builders = built_by(night / "w.duckdb")
    assert builders["kpi_scores"] == second[0]  # reads registry.kpi_thresholds
    # ... for the one pilot whose thresholds changed; its composite moves, nothing else does.
    assert recomputed(night / "w.duckdb", second[0]) == {"kpi_scores": ["PLT-2548-001"],
                                                          "pilot_scores": ["PLT-2548-001"]}
    assert builders["due_periods"] == first[0]  # reads registry.pilots only, unchanged
    new = checksums(night / "w.duckdb")
    assert new["kpi_scores"] != old["kpi_scores"]
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)
    # The restricted store's thresholds are its own pilot's, unchanged: none of its marts is rebuilt.
    assert second[0] not in built_by(night / "w.restricted.duckdb").values()


def test_a_skipped_output_that_is_gone_is_written_again(night):
    """The outputs book is checked against the files: a deleted summary is rendered again."""
    (night / "out" / "summary.en.html").unlink()
    published = (night / "w.published.duckdb").stat().st_mtime_ns

    _run(night)

    assert (night / "out" / "summary.en.html").is_file()
    (_, status, _, skipped, _), = runs(night / "w.duckdb")[1:]
    assert status == "succeeded" and skipped == "validation_report,letters,publish"
    assert (night / "w.published.duckdb").stat().st_mtime_ns == published
    assert os.access(night / "out" / "summary.th.html", os.R_OK)


def test_e_a_published_copy_edited_by_hand_is_published_again(night):
    """Its size, mtime and checksum are compared with what was published (issue 24 item 8)."""
    copy = night / "w.published.duckdb"
    os.chmod(copy, 0o644)
    con = duckdb.connect(str(copy))
    con.execute("DELETE FROM marts.pilot_scores WHERE pilot_id = 'PLT-2548-001'")
    con.close()
    os.chmod(copy, 0o444)

    _run(night)

    (_, status, _, skipped, _), = runs(night / "w.duckdb")[1:]
    assert (status, skipped) == ("succeeded", "validation_report,summaries,artifact,letters")
    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.pilot_scores WHERE pilot_id = 'PLT-2548-001'").fetchone()[0] > 0
    con.close()


def test_e_a_copy_with_the_same_bytes_but_another_mtime_is_published_again(night):
    copy = night / "w.published.duckdb"
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns - 10**9))
    _run(night)
    assert runs(night / "w.duckdb")[1][3] == "validation_report,summaries,artifact,letters"


def test_f_a_night_that_reads_only_a_restricted_file_writes_its_validation_report(night):
    """Its report says the night read one restricted pilot's file (counted, never named); the
    data did not change, so nothing else is done (issue 24 item 8)."""
    shutil.copyfile(night / "inbox" / "processed" / "PLT-2548-006_01005_2549-Q1.csv",
                    night / "inbox" / "PLT-2548-006_01005_2549-Q1_again.csv")
    before = (night / "out" / "validation.html").read_text(encoding="utf-8")

    result = _run(night)

    assert "files seen 1: accepted 0, superseded 0, duplicates 1, quarantined 0" in result.output
    (run_id, status, _, skipped, _), = runs(night / "w.duckdb")[1:]
    assert status == "succeeded" and "validation_report" not in (skipped or "")
    page = (night / "out" / "validation.html").read_text(encoding="utf-8")
    assert page != before and f'content="{run_id}"' in page
    assert "1 file(s) of restricted pilots" in page and "PLT-2548-006" not in page



def send_revision(night: Path, stem: str, old: str, new: str) -> str:
    """Put `<stem>_rev1.csv` in the inbox: the processed report `<stem>.csv` with `old` replaced
    by `new` (which it must hold). The report's text, as it was, is returned."""
    text = (night / "inbox" / "processed" / f"{stem}.csv").read_text(encoding="utf-8")
    assert old in text
    (night / "inbox" / f"{stem}_rev1.csv").write_text(text.replace(old, new), encoding="utf-8")
    return text


def test_k_a_restricted_pilots_new_report_rebuilds_only_what_it_feeds_in_both_stores(night, tmp_path):
    """The restricted store's marts skip as the open ones do (their keys in its own
    ops.mart_inputs): a corrected report of the restricted pilot rebuilds the restricted marts
    that read ingest.* or core.* and not due_periods (registry and as-of date unchanged); both
    stores then hold exactly what a full rebuild gives."""
    send_revision(night, "PLT-2548-006_01005_2549-Q1", "2549-Q1,2006-01-13,kpi,S1,,9,", "2549-Q1,2006-01-13,kpi,S1,,12,")
    before = both_stores(night / "w.duckdb")

    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    run_id = runs(night / "w.duckdb")[1][0]
    rebuilt = {m for m, r in built_by(night / "w.restricted.duckdb").items() if r == run_id}
    assert {"kpi_scores", "pilot_scores", "kpi_outlier_checks"} <= rebuilt and "due_periods" not in rebuilt
    after = both_stores(night / "w.duckdb")
    assert after["restricted:kpi_scores"] != before["restricted:kpi_scores"]
    # The open warehouse keeps no fingerprint of the restricted pilot (warehouse.md lists what it may hold).
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM ops.mart_partitions WHERE pilot_id = 'PLT-2548-006'").fetchone() == (0,)
    con.close()
    assert after == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)

def test_l_a_report_sent_again_with_the_same_lines_recomputes_no_budget_figure(night, tmp_path):
    """A revision with the very lines of the report it replaces (only submitted_on is later): the
    budget snapshot's rows of the pilot change (they name the new submission), so it is
    recomputed; the budget figures read none of the snapshot's submission ids (kpis/steps.py
    `columns`), so budget_integration and budget_integration_by_layer recompute no pilot, and
    every mart still equals a full rebuild."""
    text = send_revision(night, "PLT-2548-001_12005_2549-Q2", ",2549-Q2,2006-04-20,", ",2549-Q2,2006-04-21,")
    lines = text.strip("\n").split("\n")[1:]
    assert len(lines) > 1 and all(",2549-Q2,2006-04-20," in line for line in lines)
    before = checksums(night / "w.duckdb")

    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    run_id = runs(night / "w.duckdb")[1][0]
    found = recomputed(night / "w.duckdb", run_id)
    assert found["budget_snapshot"] == ["PLT-2548-001"]
    assert "budget_integration" not in found and "budget_integration_by_layer" not in found
    after = checksums(night / "w.duckdb")
    assert after["budget_snapshot"] != before["budget_snapshot"]  # the new submission's id
    assert after["budget_integration"] == before["budget_integration"]
    assert after["budget_integration_by_layer"] == before["budget_integration_by_layer"]
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)


def snapshot_rows(path: Path, pilot: str) -> dict[tuple, tuple]:
    """marts.budget_snapshot's rows of a pilot: (period, agency, activity) -> (rowid, allocated,
    disbursed, submission id)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {(period, agency, activity): (rowid, str(allocated), str(disbursed), submission)
                for rowid, period, agency, activity, allocated, disbursed, submission in con.execute(
                    "SELECT rowid, period, agency_code, activity_code, allocated_thb, disbursed_thb, submission_id "
                    "FROM marts.budget_snapshot WHERE pilot_id = ?", [pilot]).fetchall()}
    finally:
        con.close()


def submission_of(path: Path, file_name: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT submission_id FROM ingest.submissions WHERE file_name = ?", [file_name]).fetchone()[0]
    finally:
        con.close()


# Agency 12005's 2549-Q2 report of PLT-2548-001: ACT-L1-02 7,300,000.00
# allocated, 2,049,754.28 disbursed; ACT-L2-02 4,060,000.00 and 1,407,933.40 (the demo's file). Its
# 2549-Q3 report (2006-07-11) is in effect for 2549-Q3, so a corrected Q2 report changes the lines in
# effect of one (pilot, period, agency) only: 2549-Q2 of 12005.
Q2_STEM = "PLT-2548-001_12005_2549-Q2"
Q2_KEY = ("2549-Q2", "12005")


@pytest.fixture
def replaced(monkeypatch) -> list[tuple]:
    """The (pilot, period, agency) keys of marts.budget_snapshot that the jobs of a test rewrote."""
    from kpis import build

    keys: list[tuple] = []
    real = build._replace_changed_keys

    def spy(con, name, *args):
        done = real(con, name, *args)
        if name == "budget_snapshot":
            keys.extend(done)
        return done

    monkeypatch.setattr(build, "_replace_changed_keys", spy)
    return keys


def assert_snapshot(before: dict, after: dict, key: tuple[str, str], lines: dict[str, tuple]) -> None:
    """The snapshot's rows of `key` are now these lines (activity -> allocated, disbursed,
    submission); every other row of the pilot is as it was."""
    assert {k: v[1:] for k, v in after.items() if k[:2] != key} == {k: v[1:] for k, v in before.items() if k[:2] != key}
    assert {k[2]: v[1:] for k, v in after.items() if k[:2] == key} == lines


def test_m_a_corrected_report_rewrites_only_the_snapshot_rows_of_its_period_and_agency(night, tmp_path, replaced):
    """A revision that changes one disbursement supersedes the report: of PLT-2548-001's budget
    snapshot only the rows of (2549-Q2, 12005) are written anew (kpis/steps.py `keys`); the rows
    of its other periods and agencies are kept as they were, and every mart equals a full rebuild."""
    old = ",4060000.00,1407933.40,lead_integrated,"
    send_revision(night, Q2_STEM, old, ",4060000.00,1500000.00,lead_integrated,")
    before = snapshot_rows(night / "w.duckdb", "PLT-2548-001")
    assert before[(*Q2_KEY, "ACT-L2-02")][1:] == ("4060000.00", "1407933.40", submission_of(night / "w.duckdb",
                                                                                            f"{Q2_STEM}.csv"))

    result = _run(night)

    assert "files seen 1: accepted 1, superseded 0" in result.output
    new_id = submission_of(night / "w.duckdb", f"{Q2_STEM}_rev1.csv")
    assert recomputed(night / "w.duckdb", runs(night / "w.duckdb")[1][0])["budget_snapshot"] == ["PLT-2548-001"]
    # Of the pilot, only agency 12005's part is recomputed (kpis/steps.py `by_agency`): not the
    # lead's 11002 lines, nor the pilot's own part (registry, due periods).
    assert recomputed_parts(night / "w.duckdb", runs(night / "w.duckdb")[1][0], "budget_snapshot") == [
        ("PLT-2548-001", "12005")]
    assert replaced == [("PLT-2548-001", *Q2_KEY)]
    assert_snapshot(before, snapshot_rows(night / "w.duckdb", "PLT-2548-001"), Q2_KEY, {
        "ACT-L1-02": ("7300000.00", "2049754.28", new_id), "ACT-L2-02": ("4060000.00", "1500000.00", new_id)})
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)



def test_p_a_new_agency_in_a_pilot_recomputes_that_agency_alone(night, tmp_path, replaced):
    """15001 joins PLT-2548-001 as a supporting agency (registry) and sends its first report, for
    2549-Q2, with one budget line. Only the new (pilot, agency) part of the snapshot is computed
    (registry.pilots and the due periods, the pilot's own part, are unchanged); its line is in
    effect for 2549-Q2 and, with no later report of 15001, for 2549-Q3 (scoring.md, "Budget
    snapshot"); every other row of the pilot stays as it was."""
    path = night / "registry" / "pilots" / "PLT-2548-001.yaml"
    text = path.read_text(encoding="utf-8")
    line = '  - {code: "12005", role: secondary}\n'
    assert text.count(line) == 1
    path.write_text(text.replace(line, line + '  - {code: "15001", role: supporting}\n'), encoding="utf-8")
    (night / "inbox" / "PLT-2548-001_15001_2549-Q2.csv").write_text(
        "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,"
        "funding_source,note\n"
        "PLT-2548-001,15001,2549-Q2,2006-04-25,budget,ACT-L1-01,1,,1000000.00,250000.00,support_contribution,\n",
        encoding="utf-8")
    before = snapshot_rows(night / "w.duckdb", "PLT-2548-001")
    assert not [k for k in before if k[1] == "15001"]

    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    run_id = runs(night / "w.duckdb")[1][0]
    new_id = submission_of(night / "w.duckdb", "PLT-2548-001_15001_2549-Q2.csv")
    assert recomputed_parts(night / "w.duckdb", run_id, "budget_snapshot") == [("PLT-2548-001", "15001")]
    assert sorted(replaced) == [("PLT-2548-001", "2549-Q2", "15001"), ("PLT-2548-001", "2549-Q3", "15001")]
    after = snapshot_rows(night / "w.duckdb", "PLT-2548-001")
    assert {k: v[1:] for k, v in after.items() if k[1] == "15001"} == {
        ("2549-Q2", "15001", "ACT-L1-01"): ("1000000.00", "250000.00", new_id),
        ("2549-Q3", "15001", "ACT-L1-01"): ("1000000.00", "250000.00", new_id)}
    assert {k: v for k, v in after.items() if k[1] != "15001"} == before  # the same rows, not rewritten
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    try:  # support_contribution: integrated, though not the lead's
        assert con.execute("SELECT DISTINCT is_lead, is_integrated FROM marts.budget_snapshot "
                           "WHERE agency_code = '15001' AND pilot_id = 'PLT-2548-001'").fetchall() == [(False, True)]
    finally:
        con.close()
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)


def test_p_a_revision_that_drops_an_agencys_budget_lines_brings_back_its_earlier_report(night, tmp_path, replaced):
    """The lead 11002 sends its 2549-Q2 report of PLT-2548-001 again with its KPI lines only: the
    revision supersedes the report that carried its two budget lines, and a KPI-only report is no
    agency's budget report, so for 2549-Q2 its 2549-Q1 lines are in effect again (60,970,000.00
    allocated, 7,769,019.18 disbursed; 8,060,000.00 and 510,846.20). Only the lead's part of the
    snapshot is recomputed; its 2549-Q3 report keeps 2549-Q3 as it was."""
    text = (night / "inbox" / "processed" / "PLT-2548-001_11002_2549-Q2.csv").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if ",budget," not in line]
    assert len(kept) == len(text.splitlines()) - 2
    (night / "inbox" / "PLT-2548-001_11002_2549-Q2_rev1.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    before = snapshot_rows(night / "w.duckdb", "PLT-2548-001")
    q1_id = submission_of(night / "w.duckdb", "PLT-2548-001_11002_2549-Q1.csv")

    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    run_id = runs(night / "w.duckdb")[1][0]
    assert recomputed_parts(night / "w.duckdb", run_id, "budget_snapshot") == [("PLT-2548-001", "11002")]
    assert replaced == [("PLT-2548-001", "2549-Q2", "11002")]
    assert_snapshot(before, snapshot_rows(night / "w.duckdb", "PLT-2548-001"), ("2549-Q2", "11002"), {
        "ACT-L1-01": ("60970000.00", "7769019.18", q1_id), "ACT-L2-01": ("8060000.00", "510846.20", q1_id)})
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)


def test_p_a_warehouse_with_the_partitions_kept_before_0017_is_migrated_and_its_nights_equal_a_full_rebuild(
        night, tmp_path, replaced):
    """Both stores as the code before migration 0017 left them: ops.mart_partitions without
    agency_code, budget_snapshot's per-pilot fingerprint over all four of its relations. The next
    night applies 0017 and reads those rows as pilots' parts: they differ from today's, so the
    snapshot is recomputed (here whole, as most parts changed), and both stores equal a full
    rebuild; the night after recomputes one (pilot, agency) part only."""
    from kpis.fingerprint import Digests, sha

    for path in (night / "w.duckdb", night / "w.restricted.duckdb"):
        con = connect(path)
        try:
            digests = Digests(con)
            reads = ("core.budget_lines", "ingest.submissions", "marts.due_periods", "registry.pilots")
            tables = {r: digests.by_pilot(r) for r in reads}
            old = {p: sha(*[f"{r}={tables[r].get(p, '')}" for r in reads]) for p in set().union(*tables.values())}
            with transaction(con):
                con.execute("DELETE FROM ops.mart_partitions WHERE agency_code IS NOT NULL")
                con.execute("ALTER TABLE ops.mart_partitions DROP COLUMN agency_code")
                con.execute("DELETE FROM ops.schema_migrations WHERE version = 17")
                for (pilot,) in con.execute("SELECT pilot_id FROM ops.mart_partitions WHERE mart_name = 'budget_snapshot' "
                                            "AND pilot_id IS NOT NULL").fetchall():
                    con.execute("UPDATE ops.mart_partitions SET inputs_sha256 = ? WHERE mart_name = 'budget_snapshot' "
                                "AND pilot_id = ?", [old[pilot], pilot])
        finally:
            con.close()
    send_revision(night, Q2_STEM, ",4060000.00,1407933.40,lead_integrated,", ",4060000.00,1500000.00,lead_integrated,")

    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT max(version) FROM ops.schema_migrations").fetchone() == (available_migrations()[-1].version,)
        assert con.execute("SELECT count(*) FROM ops.mart_partitions WHERE mart_name = 'budget_snapshot' "
                           "AND agency_code IS NOT NULL").fetchone()[0] > 0
    finally:
        con.close()
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "migrated"))

    send_revision(night, "PLT-2548-001_11002_2549-Q3", ",2549-Q3,2006-07-08,", ",2549-Q3,2006-07-09,")  # sent again
    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    run_id = runs(night / "w.duckdb")[2][0]
    assert recomputed_parts(night / "w.duckdb", run_id, "budget_snapshot") == [("PLT-2548-001", "11002")]
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "next"))


def test_m_the_open_side_recomputes_the_restricted_pilot_only_where_it_keeps_those_rows(night, tmp_path, monkeypatch):
    """The same corrected report of the open pilot PLT-2548-001. The open store's rows of the
    restricted pilot PLT-2548-006 are replaced by the restricted store's (or dropped) as each mart
    is built, but for due_periods, which keeps its open rows (warehouse/restricted.py KEEP_OPEN):
    so the open side recomputes 006 in due_periods' scoped rebuild only, and budget_snapshot's
    scope is the sending pilot alone. Both stores still equal a full rebuild."""
    from kpis import build

    scopes: list[tuple[str, str, list[str]]] = []  # (database, mart, pilots) of each scoped rebuild
    real = build._rebuild_pilots

    def spy(con, name, sql, relations, scope, *args):
        scopes.append((con.execute("SELECT current_database()").fetchone()[0], name, sorted({p for p, _ in scope})))
        return real(con, name, sql, relations, scope, *args)

    monkeypatch.setattr(build, "_rebuild_pilots", spy)
    send_revision(night, Q2_STEM, ",4060000.00,1407933.40,lead_integrated,", ",4060000.00,1500000.00,lead_integrated,")

    result = _run(night)

    assert "files seen 1: accepted 1, superseded 0" in result.output
    open_scopes = {name: pilots for database, name, pilots in scopes if database == "w"}
    assert open_scopes["budget_snapshot"] == ["PLT-2548-001"]
    assert [name for name, pilots in open_scopes.items() if "PLT-2548-006" in pilots] in ([], ["due_periods"])
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, tmp_path)


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def test_n_an_approved_held_correction_rewrites_only_its_snapshot_rows_and_equals_a_full_rebuild(night, tmp_path,
                                                                                                   replaced):
    """2549-Q2 of PLT-2548-001 is closed; the corrected report that arrives next is held (no
    figure changes); the committee approves it: that job rewrites only the (2549-Q2, 12005) rows
    of the snapshot, and after each job every mart of both stores equals a full rebuild."""
    base = ["--registry", str(night / "registry"), "--warehouse", str(night / "w.duckdb"), "--out",
            str(night / "out"), "--as-of", AS_OF]
    closed = CliRunner().invoke(main, ["close-quarter", "2549-Q2", "--pilot", "PLT-2548-001", "--by", "Somchai", *base])
    assert closed.exit_code == 0, closed.output
    # Sent later than the report it corrects (approving an earlier one would leave it superseded).
    text = (night / "inbox" / "processed" / f"{Q2_STEM}.csv").read_text(encoding="utf-8")
    assert text.count(",2006-04-20,") == 2 and text.count(",7300000.00,2049754.28,own,") == 1
    (night / "inbox" / f"{Q2_STEM}_rev1.csv").write_text(
        text.replace(",2006-04-20,", ",2006-04-21,").replace(",7300000.00,2049754.28,own,", ",7300000.00,2100000.00,own,"),
        encoding="utf-8")
    before = snapshot_rows(night / "w.duckdb", "PLT-2548-001")
    held = _run(night)
    assert "files seen 1: accepted 0, superseded 0, duplicates 0, quarantined 0, held 1" in held.output
    assert snapshot_rows(night / "w.duckdb", "PLT-2548-001") == before  # held: nothing in effect changed
    assert replaced == []
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "held"))

    held_id = submission_of(night / "w.duckdb", f"{Q2_STEM}_rev1.csv")
    approved = CliRunner().invoke(main, ["approve", str(held_id), "--by", "Somchai", "--note", "typo", *base])

    assert approved.exit_code == 0, approved.output
    assert replaced == [("PLT-2548-001", *Q2_KEY)]
    assert_snapshot(before, snapshot_rows(night / "w.duckdb", "PLT-2548-001"), Q2_KEY, {
        "ACT-L1-02": ("7300000.00", "2100000.00", held_id), "ACT-L2-02": ("4060000.00", "1407933.40", held_id)})
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "approved"))


def test_o_after_a_pilot_turns_restricted_its_new_report_rewrites_only_its_keys_in_the_restricted_store(
        night, tmp_path, replaced):
    """PLT-2548-005 turns restricted: that night moves its rows to the restricted store and builds
    every mart whole. The next night a corrected 2549-Q3 report of its agency 07005 arrives: in
    the restricted store only the snapshot rows of (2549-Q3, 07005) are rewritten (the open store
    holds none of its lines), and both stores equal a full rebuild after each night."""
    both = frozenset({"PLT-2548-005", "PLT-2548-006"})
    path = night / "registry" / "pilots" / "PLT-2548-005.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("classification: open") == 1
    path.write_text(text.replace("classification: open", "classification: restricted"), encoding="utf-8")
    _run(night)
    assert replaced == []  # a night that moves a pilot builds every mart whole
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "moved"), both)

    send_revision(night, "PLT-2548-005_07005_2549-Q3", ";43420000.00;26526915.68;own;", ";43420000.00;27000000.00;own;")
    result = _run(night)

    assert "files seen 1: accepted 1," in result.output
    assert replaced == [("PLT-2548-005", "2549-Q3", "07005")]
    run_id = runs(night / "w.duckdb")[2][0]
    assert recomputed_parts(night / "w.restricted.duckdb", run_id, "budget_snapshot") == [("PLT-2548-005", "07005")]
    assert recomputed_parts(night / "w.duckdb", run_id, "budget_snapshot") == []
    con = duckdb.connect(str(night / "w.duckdb"), read_only=True)
    try:  # the open store keeps neither a fingerprint nor a snapshot row of the restricted pilot
        assert con.execute("SELECT count(*) FROM ops.mart_partitions WHERE pilot_id = 'PLT-2548-005'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM marts.budget_snapshot WHERE pilot_id = 'PLT-2548-005'").fetchone() == (0,)
    finally:
        con.close()
    con = duckdb.connect(str(night / "w.restricted.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT activity_code, allocated_thb::VARCHAR, disbursed_thb::VARCHAR FROM marts.budget_snapshot "
                           "WHERE pilot_id = 'PLT-2548-005' AND period = '2549-Q3' AND agency_code = '07005' "
                           "ORDER BY 1").fetchall()[:1] == [("ACT-L4-02", "43420000.00", "27000000.00")]
    finally:
        con.close()
    assert both_stores(night / "w.duckdb") == full_rebuild(night / "w.duckdb", AS_OF, _folder(tmp_path / "next"), both)


# --- issue 22 item 3: what a quiet night rewrites, per-pilot sections, publishing -----------------

def files_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime ns, SHA-256) of every file in out/ (hidden ones too: the outputs book and the
    pilot sections' cache) and of the published copy."""
    files = [p for p in (root / "out").rglob("*") if p.is_file()] + [root / "w.published.duckdb"]
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns,
                                       hashlib.sha256(p.read_bytes()).hexdigest()) for p in files}


def rewritten_only_if_changed(before: dict, after: dict) -> set[str]:
    """The files whose bytes changed; asserts that every other file is the very same file (same
    inode, same mtime), and that every changed one was replaced (a new inode: written aside and
    renamed, never in place)."""
    changed = set()
    for name in before.keys() & after.keys():
        (ino, mtime, sha), (ino2, mtime2, sha2) = before[name], after[name]
        if sha == sha2:
            assert (ino2, mtime2) == (ino, mtime), f"{name} was written again with the same bytes"
        else:
            assert ino2 != ino, f"{name} was changed in place"
            changed.add(name)
    return changed


def book(root: Path) -> dict:
    return json.loads((root / "out" / ".pilotkpi-outputs.json").read_text(encoding="utf-8"))


def _only_the_files_whose_bytes_change(root: Path, before: dict, after: dict) -> None:
    """test_c's quiet night (as of one day later, nothing new), file by file (files_state before
    and after it): the pages and letters that carry the date are written again, every other file
    is left as it is (inode and mtime); no pilot's section is rendered again (none of them reads the
    date), and the published copy is replaced, as marts.reminders changed (days overdue). Until
    2026-12-06 test_g, a quiet night of its own: the same night as test_c's."""
    changed = rewritten_only_if_changed(before, after)
    # The date line is on every summary page; each letter is dated; days overdue grew by one.
    summaries = {f"out/summary.{lang}.{fmt}" for lang in ("th", "en") for fmt in ("html", "md")}
    letters = {k for k in before if k.startswith("out/reminders/") and k.endswith(".html")}
    assert summaries | letters | {"w.published.duckdb", "out/reminders/reminders.csv"} <= changed
    # Kept: the validation report (the night read no file) and the sections' cache (no section changed).
    assert "out/validation.html" not in changed
    assert {k for k in before if ".pilotkpi-sections." in k} == {
        f"out/.pilotkpi-sections.{lang}.{fmt}.json" for lang in ("th", "en") for fmt in ("html", "md")}
    assert not any(".pilotkpi-sections." in k for k in changed)
    # The demo's 7 pilots in 4 editions: 28 sections, none rendered again.
    assert book(root)["summaries"]["sections"] == {"sections": 28, "rendered": 0}
    assert set(after) == set(before)


def test_i_per_pilot_rendering_gives_the_pages_of_a_full_render(first_night, tmp_path):
    """The summary built from cached sections (rendered on the 15th, reused on the 16th) is byte for
    byte the summary rendered whole on the 16th, on one page and split into pilot pages. A pilot's
    own page shows the night its figures were first shown: unchanged on the 16th, it is the page of
    the 15th, byte for byte, and is not written again."""
    from kpis.summary import build_model
    from kpis.summary.render import write_summaries

    con = duckdb.connect(str(first_night / "w.published.duckdb"), read_only=True)
    try:
        day1, day2 = (build_model(con, date(2006, 8, d)) for d in (15, 16))
    finally:
        con.close()
    for split in (None, 1):  # None: one page per edition; 1 byte: every pilot on its own page
        whole1, whole2, cached = tmp_path / f"whole1-{split}", tmp_path / f"whole2-{split}", tmp_path / f"cached-{split}"
        write_summaries(day1, whole1, validation_link="validation.html", max_page_bytes=split)
        write_summaries(day2, whole2, validation_link="validation.html", max_page_bytes=split)
        first, second = {}, {}
        write_summaries(day1, cached, validation_link="validation.html", max_page_bytes=split,
                        reuse_sections=True, stats=first)
        pilot_pages = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cached / "pilots").glob("*")}
        write_summaries(day2, cached, validation_link="validation.html", max_page_bytes=split,
                        reuse_sections=True, stats=second)
        assert first == {"sections": 28, "rendered": 28} and second == {"sections": 28, "rendered": 0}
        assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cached / "pilots").glob("*")} == pilot_pages
        pages = sorted(str(p.relative_to(whole2)) for p in whole2.rglob("*") if p.is_file())
        assert len(pages) == (4 if split is None else 4 + 7 * 4) == len(pilot_pages) + 4
        assert pages == sorted(str(p.relative_to(cached)) for p in cached.rglob("*")
                               if p.is_file() and not p.name.startswith("."))
        for page in pages:
            reference = whole1 if page.startswith("pilots/") else whole2
            assert (cached / page).read_bytes() == (reference / page).read_bytes(), page
        # The date lines, by hand: the summary of the 16th in both languages (BE 2549 in Thai) ...
        en = (cached / "summary.en.md").read_text(encoding="utf-8").splitlines()
        th = (cached / "summary.th.md").read_text(encoding="utf-8").splitlines()
        assert en[2].startswith("As of 16 Aug 2006 · [") and th[2].startswith("ข้อมูล ณ วันที่ 16 ส.ค. 2549 · [")
        if split:  # ... and a pilot's own page, unchanged since the 15th
            en = (cached / "pilots" / "PLT-2548-001.en.md").read_text(encoding="utf-8").splitlines()
            th = (cached / "pilots" / "PLT-2548-001.th.md").read_text(encoding="utf-8").splitlines()
            assert en[2].startswith("As of 15 Aug 2006 · [") and th[2].startswith("ข้อมูล ณ วันที่ 15 ส.ค. 2549 · [")
            assert "<title>PLT-2548-001 · " in (html := (cached / "pilots" / "PLT-2548-001.en.html").read_text(
                encoding="utf-8")) and " · 15 Aug 2006</title>" in html
            # On the 17th one pilot's figures change: only its 4 sections are rendered and only its
            # 4 pages written, dated the 17th; the others stay the files of the 15th.
            day3 = copy.deepcopy(day2)
            day3.as_of = date(2006, 8, 17)
            changed = next(p for p in day3.pilots if p.pilot_id == "PLT-2548-001")
            changed.kpis_reported -= 1
            third = {}
            write_summaries(day3, cached, validation_link="validation.html", max_page_bytes=split,
                            reuse_sections=True, stats=third)
            assert third == {"sections": 28, "rendered": 4}
            now = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cached / "pilots").glob("*")}
            assert {p.name for p in now if now[p] != pilot_pages[p]} == {
                f"PLT-2548-001.{lang}.{fmt}" for lang in ("th", "en") for fmt in ("html", "md")}
            lines = (cached / "pilots" / "PLT-2548-001.en.md").read_text(encoding="utf-8").splitlines()
            assert lines[2].startswith("As of 17 Aug 2006 · [")
            assert f"{changed.kpis_reported}/{changed.kpis_expected}" in "\n".join(lines)


def test_i_a_damaged_or_foreign_section_cache_is_rendered_over(first_night, tmp_path):
    """The cache is only a cache: unreadable JSON, entries of another shape, or another code's
    cache, and every section is rendered again, giving the same pages."""
    from kpis.summary import build_model
    from kpis.summary.render import write_summaries

    con = duckdb.connect(str(first_night / "w.published.duckdb"), read_only=True)
    try:
        model = build_model(con, date(2006, 8, 15))
    finally:
        con.close()
    whole, cached = tmp_path / "whole", tmp_path / "cached"
    write_summaries(model, whole, validation_link="validation.html")
    write_summaries(model, cached, validation_link="validation.html", reuse_sections=True)
    files = sorted(cached.glob(".pilotkpi-sections.*.json"))
    assert len(files) == 4
    good = json.loads(files[0].read_text(encoding="utf-8"))
    damages = ["{not json", json.dumps({**good, "code": "0" * 64}),
               json.dumps({**good, "sections": {k: ["yesterday", 7] for k in good["sections"]}})]
    for damage in damages:
        for path in files:
            path.write_text(damage, encoding="utf-8")
        stats = {}
        write_summaries(model, cached, validation_link="validation.html", reuse_sections=True, stats=stats)
        assert stats == {"sections": 28, "rendered": 28}, damage[:20]
        for name in ("summary.th.html", "summary.en.md"):
            assert (cached / name).read_bytes() == (whole / name).read_bytes()


# --- issue 22, the 1%-new night: marts recomputed per pilot -----------------------------------------

def test_every_mart_is_per_pilot_its_rows_are_those_of_its_inputs_narrowed_to_each_pilot(first_night, tmp_path):
    """What recomputing only the changed pilots relies on (kpis/build.py): every mart has a
    pilot_id on every row, and its SQL over the inputs narrowed to one pilot (scoped_sql) gives
    exactly that pilot's rows of the whole mart. A mart that mixed pilots (a national rank, an
    average over pilots) fails here. The open pilots: the restricted pilot's rows of the open marts
    are the restricted store's, merged in whole after every build (warehouse/restricted.merge_mart)."""
    from kpis.build import SCOPE_TABLE, read_sql, scoped_sql
    from kpis.fingerprint import Digests
    from kpis.outliers import outlier_test_function
    from kpis.steps import MARTS

    copy = tmp_path / "w.duckdb"
    shutil.copyfile(first_night / "w.duckdb", copy)
    con = connect(copy)
    try:
        digests = Digests(con)
        pilots = [p for (p,) in con.execute("SELECT pilot_id FROM registry.pilots WHERE classification <> "
                                            "'restricted' ORDER BY 1").fetchall()]
        assert len(pilots) == 6
        con.execute(read_sql("macros"))
        with outlier_test_function(con):
            for name in MART_NAMES:
                assert con.execute(f"SELECT count(*) FROM marts.{name} WHERE pilot_id IS NULL").fetchone() == (0,)
                whole = con.execute(f"SELECT * FROM marts.{name} WHERE list_contains(?, pilot_id)", [pilots]).fetchall()
                assert whole, name
                relations = [r for r in MARTS[name].reads if digests.per_pilot(r)]
                sql = read_sql(name)
                params = {"as_of": date.fromisoformat(AS_OF)} if "$as_of" in sql else None
                pieces = []
                for pilot in pilots:
                    con.execute("CREATE OR REPLACE TEMP TABLE mart_scope AS SELECT ? AS pilot_id", [pilot])
                    # No filter on the result here: the narrowed inputs alone must give the pilot's rows.
                    rows = con.execute(scoped_sql(sql, relations), params).fetchall()
                    assert {r[list(zip(*con.description))[0].index("pilot_id")] for r in rows} <= {pilot}, name
                    pieces += rows
                con.execute(f"DROP TABLE {SCOPE_TABLE}")
                assert sorted(pieces, key=repr) == sorted(whole, key=repr), name
    finally:
        con.close()


def test_a_mart_read_by_agency_gives_each_pairs_rows_from_that_pairs_inputs(first_night, tmp_path):
    """What recomputing one (pilot, agency) part relies on (kpis/steps.py `by_agency`): the mart's
    SQL with its by-agency relations narrowed to one pair, and the others to its pilot, gives
    exactly that pair's rows of the whole mart, for every pair of the open pilots."""
    from kpis.build import SCOPE_TABLE, read_sql, scoped_sql
    from kpis.fingerprint import Digests
    from kpis.steps import MARTS

    declared = [name for name in MART_NAMES if MARTS[name].by_agency]
    assert declared == ["budget_snapshot"]
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(first_night / "w.duckdb", copy)
    con = connect(copy)
    try:
        digests = Digests(con)
        con.execute(read_sql("macros"))
        for name in declared:
            step = MARTS[name]
            relations = [r for r in step.reads if digests.per_pilot(r)]
            pairs = con.execute(f"SELECT DISTINCT pilot_id, agency_code FROM marts.{name} WHERE pilot_id IN "
                                "(SELECT pilot_id FROM registry.pilots WHERE classification <> 'restricted') "
                                "ORDER BY ALL").fetchall()
            assert len({p for p, _ in pairs}) == 6 and len(pairs) > 6
            sql = read_sql(name)
            for pilot, agency in pairs:
                con.execute("CREATE OR REPLACE TEMP TABLE mart_scope AS SELECT ? AS pilot_id, ? AS agency_code",
                            [pilot, agency])
                rows = con.execute(f"SELECT * FROM ({scoped_sql(sql, relations, step.by_agency)}) ORDER BY ALL").fetchall()
                whole = con.execute(f"SELECT * FROM marts.{name} WHERE pilot_id = ? AND agency_code = ? ORDER BY ALL",
                                    [pilot, agency]).fetchall()
                assert rows and rows == whole, (name, pilot, agency)
                # A scope of pairs alone narrows by the pairs' condition alone (kpis/build.scope_shape).
                pairs_only = scoped_sql(sql, relations, step.by_agency, (False, True))
                assert "agency_code IS NULL" not in pairs_only
                assert con.execute(f"SELECT * FROM ({pairs_only}) ORDER BY ALL").fetchall() == whole, (pilot, agency)
            con.execute(f"DROP TABLE {SCOPE_TABLE}")
    finally:
        con.close()


def test_each_mart_reads_only_the_rows_it_declares(first_night, tmp_path):
    """What the `rows` declarations of kpis/steps.py claim: a mart's SQL over each such relation cut
    to the declared rows gives the whole mart, row for row (here on the demo's first night, where
    every agency of every pilot reported: the rows left out are there to matter, were the claim
    wrong). The cut must leave rows out, or the check proves nothing."""
    from kpis.build import read_sql
    from kpis.outliers import outlier_test_function
    from kpis.steps import MARTS

    declared = [(name, relation, where) for name in MART_NAMES for relation, where in MARTS[name].rows]
    assert {name for name, _, _ in declared} == {"kpi_scores", "kpi_outlier_checks"}
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(first_night / "w.duckdb", copy)
    con = connect(copy)
    try:
        con.execute(read_sql("macros"))
        with outlier_test_function(con):
            for name, relation, where in declared:
                total, kept = con.execute(f"SELECT count(*), count(*) FILTER ({where}) FROM {relation} t").fetchone()
                assert 0 < kept < total, (name, relation)
                sql = read_sql(name)
                params = {"as_of": date.fromisoformat(AS_OF)} if "$as_of" in sql else None
                schema, table = relation.split(".")
                pattern = rf'(?<![\w."]){schema}\s*\.\s*{table}(?![\w"])(?!\s*\()'
                cut = re.sub(pattern, lambda _: f"(SELECT * FROM {relation} t WHERE {where})", sql, flags=re.I)
                assert cut != sql
                whole = con.execute(f"SELECT * FROM marts.{name} ORDER BY ALL").fetchall()
                assert whole and con.execute(f"SELECT * FROM ({cut}) ORDER BY ALL", params).fetchall() == whole, name
    finally:
        con.close()


def test_scoped_sql_narrows_each_named_relation_however_it_is_spelled():
    from kpis.build import SCOPE_TABLE, scoped_sql

    narrowed = f"(SELECT * FROM marts.budget_snapshot WHERE pilot_id IN (SELECT pilot_id FROM {SCOPE_TABLE}))"
    sql = ("select * from marts.budget_snapshot s join MARTS.Budget_Snapshot t using (pilot_id) "
           "join marts . budget_snapshot u using (pilot_id) join marts.budget_snapshot_old v using (pilot_id) "
           "join x.marts.budget_snapshot w using (pilot_id) -- marts.budget_snapshot in a comment\n"
           "where marts.budget_snapshot(1)")
    assert scoped_sql(sql, ["marts.budget_snapshot"]) == (
        f"select * from {narrowed} s join {narrowed} t using (pilot_id) join {narrowed} u using (pilot_id) "
        "join marts.budget_snapshot_old v using (pilot_id) join x.marts.budget_snapshot w using (pilot_id) "
        f"-- {narrowed} in a comment\nwhere marts.budget_snapshot(1)")


def test_a_digest_leaves_the_connection_free_for_the_outlier_function():
    """DuckDB 2.0 refuses create_function on a connection whose last result was not fetched to its
    end; the marts register their outlier UDF right after the digests of a mart's inputs, so a
    digest must finish its result (a served night whose registry changed failed on this)."""
    from kpis.fingerprint import Digests
    from kpis.outliers import outlier_test_function

    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('PLT-1', 2), ('PLT-2', 3)) v(pilot_id, n)")
        assert Digests(con).of("t").startswith("2:")
        with outlier_test_function(con):  # raised ResourceInUseException after a fetchone
            assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'outlier_test'"
                               ).fetchall() == [(1,)]
    finally:
        con.close()


def leave_a_stale_wal(copy: Path) -> None:
    """The published copy opened read-write by mistake, a row changed, the process killed before it
    closed (as verifier VB's repro/c3b_stale_wal_after_kill.sh): a non-empty `.wal` stays beside it."""
    code = ("import duckdb, os, sys\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "con.execute(\"SET checkpoint_threshold='1GB'\")\n"
            "con.execute(\"UPDATE marts.pilot_scores SET composite_score = 9.9999 WHERE pilot_id='PLT-2548-001'\")\n"
            "os._exit(0)\n")  # no close, no checkpoint: as a kill -9
    subprocess.run([sys.executable, "-c", code, str(copy)], check=True)
    assert Path(f"{copy}.wal").stat().st_size > 0


def read_published(copy: Path) -> tuple[int, int, list]:
    """The copy opened read-only as an analyst does: scores edited by hand (9.9999), 2549-Q2 reports
    of the held-back pilot, and the runs it records."""
    con = duckdb.connect(str(copy), read_only=True)
    try:
        edited = con.execute("SELECT count(*) FROM marts.pilot_scores WHERE composite_score = 9.9999").fetchone()[0]
        held = con.execute("SELECT count(*) FROM ingest.submissions WHERE file_name = ?", [HELD_BACK[0]]).fetchone()[0]
        return edited, held, [r[0] for r in con.execute("SELECT run_id FROM ops.runs ORDER BY started_at").fetchall()]
    finally:
        con.close()


def test_l_a_stale_wal_beside_the_published_copy_is_cleaned_by_the_next_nights(night):
    """A leftover write-ahead log beside the published copy: the quiet night after it publishes again
    (the copy is not "unchanged" with a log that holds writes) and publishing removes it; a night with
    new files, with such a log left again, publishes a copy every reader opens (verifier VB)."""
    copy = night / "w.published.duckdb"
    leave_a_stale_wal(copy)

    _run(night)  # quiet: nothing new

    (_, status, _, skipped, _), = runs(night / "w.duckdb")[1:]
    assert (status, skipped) == ("succeeded", "validation_report,summaries,artifact,letters")
    assert not Path(f"{copy}.wal").exists()
    edited, held, published_runs = read_published(copy)
    assert (edited, held) == (0, 0) and published_runs == [r[0] for r in runs(night / "w.duckdb")]

    leave_a_stale_wal(copy)
    for name in HELD_BACK:
        shutil.copyfile(night / "held" / name, night / "inbox" / name)

    result = _run(night)

    assert "files seen 2: accepted 2" in result.output
    assert not Path(f"{copy}.wal").exists()
    edited, held, published_runs = read_published(copy)
    assert (edited, held) == (0, 1) and published_runs == [r[0] for r in runs(night / "w.duckdb")]
    assert len(published_runs) == 3
