"""Reprocessing a quarantined file after a fix, rebuilding the marts (deterministic, and following
a threshold change or a new as-of date), and the run history in ops.runs."""
from __future__ import annotations

import hashlib
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.build import MART_NAMES
from pilots.registry import load_registry
from tests.test_flow import AS_OF, PILOT, _csv, make_scenario, run_cli


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def marts_digest(path) -> str:
    """SHA-256 over every mart's rows in a fixed order: equal digests mean byte-identical figures."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        h = hashlib.sha256()
        for name in MART_NAMES:
            for row in con.execute(f"SELECT * FROM marts.{name} ORDER BY ALL").fetchall():
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        con.close()


def query(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, prefect_harness) -> Path:
    """The night every test starts from, run once for the module (each test changes a copy)."""
    root = tmp_path_factory.mktemp("reprocess-rebuild")
    registry, inbox = make_scenario(root)
    # A report for a pilot the committee has approved but not yet registered: PILOT_UNKNOWN.
    (inbox / "h_new_pilot.csv").write_bytes(_csv("PLT-2548-004,03009,2548-Q1,2005-01-25,kpi,K1,,33,,,,",
                                                 "PLT-2548-004,03009,2548-Q1,2005-01-25,kpi,K2,,80,,,,"))
    code, out = run_cli(registry, inbox, root)
    assert code == 0, out
    return root


@pytest.fixture
def ran(first_run, tmp_path):
    """A copy of the first night's folder (registry, inbox, warehouse and its stores, out)."""
    root = tmp_path / "ran"
    shutil.copytree(first_run, root)
    return root, root / "registry"


def test_run_history(ran):
    root, registry = ran
    rows = query(root / "wh.duckdb", "SELECT kind, status, files_seen, accepted, superseded, duplicates, quarantined, "
                                     "registry_sha256, software_version, duration_seconds, "
                                     "epoch(finished_at) - epoch(started_at), skipped_unsettled FROM ops.runs")
    assert len(rows) == 1
    kind, status, seen, acc, sup, dup, quar, reg, ver, duration, elapsed, skipped = rows[0]
    assert (kind, status, seen, acc, sup, dup, quar, skipped) == ("run", "succeeded", 7, 3, 1, 1, 2, 0)
    assert reg == load_registry(registry).content_sha256 and ver
    assert 0 < duration and abs(duration - elapsed) < 0.01


def test_reprocess_after_the_fix(ran):
    root, registry = ran
    wh, out = root / "wh.duckdb", root / "out"
    old_id, received = query(wh, "SELECT submission_id, received_at FROM ingest.submissions "
                                 "WHERE file_name = 'h_new_pilot.csv'")[0]
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(out), "--as-of", AS_OF]

    # Before the fix: still quarantined, nothing written.
    before = marts_digest(wh), query(wh, "SELECT count(*) FROM ingest.submissions")
    code, text = cli("reprocess", str(old_id), *base)
    assert code == 1 and "still quarantined" in text and "PILOT_UNKNOWN" in text
    assert (marts_digest(wh), query(wh, "SELECT count(*) FROM ingest.submissions")) == before

    # The fix: the pilot is registered. Reprocessing accepts the very bytes received in January.
    (registry / "pilots" / "PLT-2548-004.yaml").write_text(PILOT.replace("PLT-2548-003", "PLT-2548-004"),
                                                           encoding="utf-8")
    code, text = cli("reprocess", str(old_id), *base)
    assert code == 0, text
    new = query(wh, "SELECT submission_id, status, received_at, reprocess_of, pilot_id FROM ingest.submissions "
                    "WHERE reprocess_of IS NOT NULL")
    assert [(s, r, o, p) for _, s, r, o, p in new] == [("accepted", received, old_id, "PLT-2548-004")]
    assert query(wh, f"SELECT status FROM ingest.submissions WHERE submission_id = {old_id}") == [("quarantined",)]
    # K1 a=33 between t2=30 and t3=40: 2 + 3/10 = 2.3000. K2 is a sum KPI, Q1 thresholds × 1/4 =
    # [25, 50, 75, 100, 125]; a=80 between t3=75 and t4=100: 3 + 5/25 = 3.2000.
    assert query(wh, "SELECT kpi_code, score FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-004' "
                     "AND period = '2548-Q1' ORDER BY 1") == [("K1", Decimal("2.3000")), ("K2", Decimal("3.2000"))]
    assert query(wh, "SELECT kind, accepted FROM ops.runs ORDER BY started_at DESC LIMIT 1") == [("reprocess", 1)]
    assert query(root / "wh.published.duckdb", "SELECT count(*) FROM ingest.submissions "
                                               "WHERE reprocess_of IS NOT NULL") == [(1,)]
    code, text = cli("reprocess", str(old_id), *base)
    assert code == 1 and "reprocessed already" in text
    code, text = cli("reprocess", "1", *base)
    assert code == 1 and "only quarantined files are reprocessed" in text


def test_rebuild_is_deterministic_and_follows_the_registry(ran):
    root, registry = ran
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out")]
    after_run = marts_digest(wh)
    assert cli("rebuild", *base, "--as-of", AS_OF)[0] == 0
    assert marts_digest(wh) == after_run
    assert cli("rebuild", *base, "--as-of", AS_OF)[0] == 0
    assert marts_digest(wh) == after_run == marts_digest(root / "wh.published.duckdb")

    # The committee raises K1's thresholds for FY 2548 from 20..60 to 30..70.
    path = registry / "pilots" / "PLT-2548-003.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("[20, 30, 40, 50, 60]", "[30, 40, 50, 60, 70]"),
                    encoding="utf-8")
    code, text = cli("rebuild", *base, "--as-of", AS_OF)
    assert code == 0, text
    # K1 Q1 a=47: 2 + 7/10 = 2.7; Q2 a=55: 3 + 5/10 = 3.5. Composites: (2.7×60 + 2.4×40)/100 = 2.58,
    # (3.5×60 + 3.0×40)/100 = 3.30. K2 and the budget do not move.
    assert query(wh, "SELECT kpi_code, period, score FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-003' "
                     "ORDER BY period, kpi_code") == [
        ("K1", "2548-Q1", Decimal("2.7000")), ("K2", "2548-Q1", Decimal("2.4000")),
        ("K1", "2548-Q2", Decimal("3.5000")), ("K2", "2548-Q2", Decimal("3.0000"))]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", Decimal("2.5800"), "at_risk"), ("2548-Q2", Decimal("3.3000"), "on_target")]

    # A later as-of date: 2548-Q3 (ended 30 June 2005) is now due, with nothing reported.
    assert cli("rebuild", *base, "--as-of", "2005-08-15")[0] == 0
    assert query(wh, "SELECT period, composite_score, status, kpis_reported FROM marts.pilot_scores "
                     "WHERE period = '2548-Q3'") == [("2548-Q3", None, "no_data", 0)]
    assert query(wh, "SELECT kind, count(*) FROM ops.runs GROUP BY kind ORDER BY kind") == [("rebuild", 4), ("run", 1)]
    assert query(wh, "SELECT count(*) FROM ingest.submissions") == [(7,)]  # a rebuild reads no file


def _links(out) -> set[str]:
    """The validation report each summary edition links to."""
    found = set()
    for lang in ("th", "en"):
        found |= set(re.findall(r'href="(validation[^"]*)"', (out / f"summary.{lang}.html").read_text(encoding="utf-8")))
        found |= set(re.findall(r"\]\((validation[^)]*)\)", (out / f"summary.{lang}.md").read_text(encoding="utf-8")))
    return found


def _counts_line(page: str) -> str:
    return re.search(r"\d+ ไฟล์ / file\(s\): [^<]*", " ".join(page.split())).group(0).strip()


def test_each_job_has_its_own_validation_report_and_the_summaries_link_to_theirs(ran):
    root, registry = ran
    wh, out = root / "wh.duckdb", root / "out"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(out), "--as-of", AS_OF]
    night = (out / "validation.html").read_bytes()
    # The run's 7 files (make_scenario + h_new_pilot.csv): 3 accepted, 1 superseded, 1 duplicate, 2 quarantined.
    assert _counts_line(night.decode()) == "7 ไฟล์ / file(s): รับแล้ว / accepted 3, มีฉบับใหม่แทน / superseded 1, ไฟล์ซ้ำ / duplicate 1, กักไว้ / quarantined 2, รอการพิจารณา / held 0"
    assert _links(out) == {"validation.html"}

    # Reprocess the PILOT_UNKNOWN file once its pilot is registered: a report of its own, one file.
    (registry / "pilots" / "PLT-2548-004.yaml").write_text(PILOT.replace("PLT-2548-003", "PLT-2548-004"),
                                                           encoding="utf-8")
    (old_id,) = query(wh, "SELECT submission_id FROM ingest.submissions WHERE file_name = 'h_new_pilot.csv'")[0]
    code, text = cli("reprocess", str(old_id), *base)
    assert code == 0, text
    (reprocess_id,) = query(wh, "SELECT run_id FROM ops.runs WHERE kind = 'reprocess'")[0]
    reprocessed = out / f"validation-reprocess-{reprocess_id}.html"
    page = reprocessed.read_text(encoding="utf-8")
    assert _counts_line(page) == "1 ไฟล์ / file(s): รับแล้ว / accepted 1, มีฉบับใหม่แทน / superseded 0, ไฟล์ซ้ำ / duplicate 0, กักไว้ / quarantined 0, รอการพิจารณา / held 0"
    assert "h_new_pilot.csv" in page and 'href="validation.html"' in page  # and the night's report
    assert (out / "validation.html").read_bytes() == night
    assert _links(out) == {reprocessed.name}

    # Rebuild: no file read, so no report (issue 23 item 3); the summaries keep linking to the
    # last report that read files, the reprocess's; the night's and the reprocess's stay.
    code, text = cli("rebuild", *base)
    assert code == 0, text
    (rebuild_id,) = query(wh, "SELECT run_id FROM ops.runs WHERE kind = 'rebuild'")[0]
    assert not (out / f"validation-rebuild-{rebuild_id}.html").exists()
    assert sorted(p.name for p in out.glob("validation*.html")) == sorted(["validation.html", reprocessed.name])
    assert (out / "validation.html").read_bytes() == night and reprocessed.read_text(encoding="utf-8") == page
    assert _links(out) == {reprocessed.name}

    # `pilotkpi report` into the same folder links the last report that read files; elsewhere, none.
    assert cli("report", "--warehouse", str(root / "wh.published.duckdb"), "--out", str(out))[0] == 0
    assert _links(out) == {reprocessed.name}
    assert cli("report", "--warehouse", str(root / "wh.published.duckdb"), "--out", str(root / "elsewhere"))[0] == 0
    assert _links(root / "elsewhere") == set()


def test_report_takes_the_date_of_the_last_committed_job(ran):
    # A rebuild forward to 15 Aug 2005, then back to the run's 15 May 2005: the marts are the last
    # job's, so `report` without --as-of labels them 15 May 2005, not the latest date ever used.
    root, registry = ran
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out")]
    assert cli("rebuild", *base, "--as-of", "2005-08-15")[0] == 0
    assert cli("rebuild", *base, "--as-of", AS_OF)[0] == 0
    code, text = cli("report", "--warehouse", str(root / "wh.published.duckdb"), "--out", str(root / "again"),
                     "--lang", "en")
    assert code == 0, text
    assert (root / "again" / "summary.en.md").read_text(encoding="utf-8").splitlines()[2].startswith(
        "As of 15 May 2005")
