"""The restricted store (warehouse.md, "Restricted pilots: the segregated store"): a restricted
pilot's line-level rows and original files live only in the second DuckDB file; the open
warehouse, its published copy and the exports keep only its registry.pilots/pilot_agencies rows and
the marts pilot_scores, reporting_compliance and reminders.

Scenario: tests/test_flow.py's open pilot PLT-2548-003 (files a..f: a, b, d accepted, c superseded
by d, e a duplicate of a, f quarantined), a file g whose pilot cannot be read (open, quarantined),
and the restricted pilot PLT-2548-099 (lead 20004, secondary 15001; one KPI S9, count, higher,
last, weight 100, FY2548 thresholds [10, 20, 30, 40, 50]) with files, in order of receipt:
  r1  lead 2548-Q1, S9 = 987654.321, budget ACT-ZQ9 (note NOTE-QX7Z-SECRET): accepted
  r2  the same bytes as r1: duplicate of r1
  r3  lead 2548-Q1 with an unknown KPI S8: quarantined (its pilot is read, so it is restricted)
  r4  lead 2548-Q2 submitted 2005-04-20, S9 = 45: superseded by r5
  r5  lead 2548-Q2 submitted 2005-04-25, S9 = 25: accepted
Submission ids are one sequence over both stores, in order of receipt: a..g = 1..7, r1..r5 = 8..12.
"""
from __future__ import annotations

import os
import stat
import struct
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import rows
from tests.test_flow import AS_OF, _csv, make_scenario
from warehouse import evidence
from warehouse.paths import files_of

SECRET = "PLT-2548-099"
ACTUAL = "987654.321"
ACTIVITY = "ACT-ZQ9"
NOTE = "NOTE-QX7Z-SECRET"
FILE_NAME = "r1-secret-file-K7W3.csv"
RESTRICTED_PILOT = f"""
pilot_id: {SECRET}
name_th: ระบบแยกส่วนเพื่อความมั่นคง
name_en: Segregated security exchange
layer: 3
strategies: [6]
classification: restricted
start: 2004-10-01
end: 2005-09-30
agencies:
  - {{code: "20004", role: lead}}
  - {{code: "15001", role: secondary}}
kpis:
  - code: S9
    name_th: จำนวนหน่วยงานที่เชื่อมโยง
    name_en: Agencies linked
    unit: count
    direction: higher
    aggregation: last
    weight: 100
    thresholds:
      2548: [10, 20, 30, 40, 50]
"""
R1 = _csv(f"{SECRET},20004,2548-Q1,2005-01-20,kpi,S9,,{ACTUAL},,,,",
          f"{SECRET},20004,2548-Q1,2005-01-20,budget,{ACTIVITY},3,,123456.78,0,own,{NOTE}")
RESTRICTED_FILES = {
    FILE_NAME: R1,
    "r2-dup.csv": R1,
    "r3-bad.csv": _csv(f"{SECRET},20004,2548-Q1,2005-01-21,kpi,S8,,5,,,,"),
    "r4-q2.csv": _csv(f"{SECRET},20004,2548-Q2,2005-04-20,kpi,S9,,45,,,,"),
    "r5-q2-fix.csv": _csv(f"{SECRET},20004,2548-Q2,2005-04-25,kpi,S9,,25,,,,"),
}
# The only relations of the open warehouse that may hold a restricted pilot's rows; marts.due_periods
# is the helper of which periods are due, from registry.pilots' dates alone (warehouse/restricted.py).
ALLOWED = {"registry.pilots", "registry.pilot_agencies", "marts.pilot_scores", "marts.reporting_compliance",
           "marts.reminders", "marts.due_periods"}


def make_restricted_scenario(root: Path) -> tuple[Path, Path]:
    registry, inbox = make_scenario(root)
    (registry / "pilots" / f"{SECRET}.yaml").write_text(RESTRICTED_PILOT, encoding="utf-8")
    (inbox / "g_no_pilot.csv").write_bytes(_csv(",03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,"))
    for name, data in RESTRICTED_FILES.items():
        (inbox / name).write_bytes(data)
    return registry, inbox


def run(root: Path, registry: Path, inbox: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF, *extra])
    return result.exit_code, result.output


def pilot_rows(path: Path, pilot: str) -> dict[str, int]:
    """relation -> rows of `pilot`, over every table of the file with a pilot_id column."""
    tables = rows(path, "SELECT table_schema || '.' || table_name FROM information_schema.columns "
                        "WHERE column_name = 'pilot_id' AND table_schema <> 'information_schema' ORDER BY 1")
    return {t: rows(path, f"SELECT count(*) FROM {t} WHERE pilot_id = ?", [pilot])[0][0] for (t,) in tables}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("restricted")
    registry, inbox = make_restricted_scenario(root)
    first = run(root, registry, inbox)
    # Second night: the bytes of a (open) and of r1 (restricted) again, under new names.
    (inbox / "h_open_again.csv").write_bytes((inbox / "processed" / "a_lead_q1.csv").read_bytes())
    (inbox / "s-secret-again.csv").write_bytes(R1)
    second = run(root, registry, inbox)
    for fmt in ("parquet", "csv"):
        result = CliRunner().invoke(main, ["export", str(root / f"export-{fmt}"), "--format", fmt,
                                           "--warehouse", str(root / "wh.duckdb")])
        assert result.exit_code == 0, result.output
    return root, first, second


def test_the_run_counts_the_files_of_both_stores(scenario):
    _, (code, output), (code2, output2) = scenario
    assert code == 0, output
    # accepted a, b, d + r1, r5 = 5; superseded c, r4 = 2; duplicates e, r2 = 2; quarantined f, g, r3 = 3
    assert "files seen 12: accepted 5, superseded 2, duplicates 2, quarantined 3" in output
    assert code2 == 0, output2
    assert "files seen 2: accepted 0, superseded 0, duplicates 2, quarantined 0" in output2


def test_each_file_is_in_the_store_of_its_pilot_with_one_id_sequence(scenario):
    root, _, _ = scenario
    wh, rs = root / "wh.duckdb", files_of(root / "wh.duckdb").restricted
    assert rs == root / "wh.restricted.duckdb"
    # Night 2: h (open, 13) is a duplicate of a (1); s (restricted, 14) of r1 (8), in r1's store.
    assert rows(wh, "SELECT submission_id, status, duplicate_of FROM ingest.submissions ORDER BY 1") == [
        (1, "accepted", None), (2, "accepted", None), (3, "superseded", None), (4, "accepted", None),
        (5, "duplicate", 1), (6, "quarantined", None), (7, "quarantined", None), (13, "duplicate", 1)]
    assert rows(rs, "SELECT submission_id, file_name, status, superseded_by, duplicate_of FROM ingest.submissions "
                    "ORDER BY 1") == [
        (8, FILE_NAME, "accepted", None, None), (9, "r2-dup.csv", "duplicate", None, 8),
        (10, "r3-bad.csv", "quarantined", None, None), (11, "r4-q2.csv", "superseded", 12, None),
        (12, "r5-q2-fix.csv", "accepted", None, None), (14, "s-secret-again.csv", "duplicate", None, 8)]
    # r3's one defect: the unknown KPI S8.
    assert rows(rs, "SELECT submission_id, code FROM ingest.issues WHERE severity = 'error'") == [(10, "KPI_UNKNOWN")]


def test_the_restricted_store_holds_the_line_level_rows(scenario):
    root, _, _ = scenario
    rs = files_of(root / "wh.duckdb").restricted
    # r1's and r5's lines (r4's were taken out when r5 superseded it).
    assert rows(rs, "SELECT submission_id, kpi_code, actual FROM core.kpi_actuals ORDER BY 1") == [
        (8, "S9", Decimal("987654.3210000000")), (12, "S9", Decimal("25.0000000000"))]
    assert rows(rs, "SELECT submission_id, activity_code, allocated_thb, note FROM core.budget_lines") == [
        (8, ACTIVITY, Decimal("123456.78"), NOTE)]
    assert rows(rs, "SELECT count(*) FROM registry.kpis")[0][0] == 1  # S9
    assert rows(rs, "SELECT pilot_id, kpi_code, fiscal_year, t1, t5 FROM registry.kpi_thresholds") == [
        (SECRET, "S9", 2548, Decimal("10"), Decimal("50"))]
    # Q1: a = 987654.321 >= t5 = 50 -> 5; Q2: t2 = 20 <= 25 < t3 = 30 -> 2 + 5/10 = 2.5.
    assert rows(rs, "SELECT period, score FROM marts.kpi_scores ORDER BY 1") == [
        ("2548-Q1", Decimal("5.0000")), ("2548-Q2", Decimal("2.5000"))]
    assert rows(rs, "SELECT count(*) FROM marts.budget_integration")[0][0] == 2  # two due periods
    # The open pilot's rows are not there.
    assert pilot_rows(rs, "PLT-2548-003") == {t: 0 for t in pilot_rows(rs, "PLT-2548-003")}


def test_the_open_warehouse_and_its_copy_keep_only_the_allowed_relations(scenario):
    root, _, _ = scenario
    wh = root / "wh.duckdb"
    for path in (wh, files_of(wh).published):
        counts = pilot_rows(path, SECRET)
        # 1 pilot; 2 agencies; 2 due periods (2548-Q1, -Q2); 2 reporting agencies x 2 periods
        # (lead and secondary both expected); the secondary sent nothing: 2 reminders.
        assert {t: n for t, n in counts.items() if n} == {
            "registry.pilots": 1, "registry.pilot_agencies": 2, "marts.pilot_scores": 2, "marts.due_periods": 2,
            "marts.reporting_compliance": 4, "marts.reminders": 2}
        assert set(t for t, n in counts.items() if n) <= ALLOWED
        # Q1 due 2004-12-31 + 30 days = 2005-01-30: 1 + 28 + 31 + 30 + 15 = 105 days overdue by
        # 2005-05-15, level 3 (>= 60); Q2 due 2005-04-30: 15 days, level 1 (follow-up.md).
        assert rows(path, "SELECT agency_code, period, due_date, days_overdue, level, reason FROM marts.reminders "
                          "WHERE pilot_id = ? ORDER BY period", [SECRET]) == [
            ("15001", "2548-Q1", date(2005, 1, 30), 105, 3, "missing"),
            ("15001", "2548-Q2", date(2005, 4, 30), 15, 1, "missing")]
        # Composite = score x 100 / 100: Q1 5.0000 on_target, Q2 2.5000 at_risk (from the restricted marts).
        assert rows(path, "SELECT period, composite_score, status, kpis_reported, kpis_expected FROM marts.pilot_scores "
                          "WHERE pilot_id = ? ORDER BY 1", [SECRET]) == [
            ("2548-Q1", Decimal("5.0000"), "on_target", 1, 1), ("2548-Q2", Decimal("2.5000"), "at_risk", 1, 1)]
        # The lead reported both quarters (r1 on 2005-01-20, r5 first on 2005-04-20), the secondary none.
        assert rows(path, "SELECT agency_code, period, submitted, first_submitted_on FROM marts.reporting_compliance "
                          "WHERE pilot_id = ? ORDER BY 1, 2", [SECRET]) == [
            ("15001", "2548-Q1", False, None), ("15001", "2548-Q2", False, None),
            ("20004", "2548-Q1", True, date(2005, 1, 20)), ("20004", "2548-Q2", True, date(2005, 4, 20))]


def test_restricted_originals_are_in_the_restricted_evidence_only(scenario):
    root, _, _ = scenario
    wh = files_of(root / "wh.duckdb")
    rev = root / "wh.restricted.evidence"
    for name, data in RESTRICTED_FILES.items():
        sha = evidence.sha256_of(data)
        assert evidence.evidence_path(rev, sha).read_bytes() == data, name
        assert not evidence.evidence_path(wh.evidence, sha).exists(), name
    open_a = evidence.sha256_of((root / "inbox" / "processed" / "a_lead_q1.csv").read_bytes())
    assert evidence.evidence_path(wh.evidence, open_a).exists()
    assert not evidence.evidence_path(rev, open_a).exists()
    # Emptied after the job: no file left; only the evidence layout's shard folders stay, empty and owner-only.
    staging = rev / ".staging"
    assert [p for p in staging.rglob("*") if not p.is_dir()] == []
    # among them the shard folders its restricted files were staged in (sha[:2])
    assert {p.name for p in staging.iterdir()} >= {evidence.sha256_of(d)[:2] for d in RESTRICTED_FILES.values()}
    assert all(len(p.name) == 2 and not any(p.iterdir()) and stat.S_IMODE(p.stat().st_mode) == 0o700
               for p in staging.iterdir())
    assert stat.S_IMODE(wh.restricted.stat().st_mode) == 0o600
    assert stat.S_IMODE(rev.stat().st_mode) == 0o700
    assert not (root / "wh.restricted.duckdb.next").exists()


def _needles() -> dict[str, bytes]:
    """The recognisable values as text, and the actual as the bit patterns DuckDB may store:
    DECIMAL(38,10) is an int128 of 987654.321 x 10^10 = 9876543210000000 (little-endian), and as
    a DOUBLE."""
    scaled = 9876543210000000
    return {
        "actual": ACTUAL.encode(), "activity": ACTIVITY.encode(), "note": NOTE.encode(),
        "file name": FILE_NAME.encode(), "kpi name": "จำนวนหน่วยงานที่เชื่อมโยง".encode(),
        "actual int128": scaled.to_bytes(16, "little", signed=True),
        "actual int64": scaled.to_bytes(8, "little", signed=True),
        "actual double": struct.pack("<d", 987654.321),
    }


def test_no_byte_of_the_open_side_holds_a_restricted_value(scenario):
    root, _, _ = scenario
    wh = files_of(root / "wh.duckdb")
    targets = [wh.warehouse, wh.published, *[p for p in root.glob("wh.duckdb.wal")]]
    targets += [p for fmt in ("parquet", "csv") for p in (root / f"export-{fmt}").rglob("*") if p.is_file()]
    assert len(targets) > 4
    for path in targets:
        data = path.read_bytes()
        for what, needle in _needles().items():
            assert needle not in data, f"{what} found in {path}"
    # Compression could hide a value from a byte search: ask every text and number column too.
    for path in (wh.warehouse, wh.published):
        con = duckdb.connect(str(path), read_only=True)  # one connection per file, not one per column
        try:
            for schema, table, column, dtype in con.execute(
                    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')").fetchall():
                if dtype == "VARCHAR":
                    hits = con.execute(f'SELECT count(*) FROM {schema}.{table} WHERE contains("{column}", ?) OR '
                                       f'contains("{column}", ?) OR contains("{column}", ?) OR '
                                       f'contains("{column}", ?)', [ACTUAL, ACTIVITY, NOTE, FILE_NAME]).fetchone()[0]
                elif dtype.startswith(("DECIMAL", "DOUBLE")):
                    hits = con.execute(f'SELECT count(*) FROM {schema}.{table} WHERE "{column}" = 987654.321'
                                       ).fetchone()[0]
                else:
                    continue
                assert hits == 0, f"{schema}.{table}.{column} of {path}"
        finally:
            con.close()
    # ... and they are in the restricted store.
    rs = wh.restricted
    assert rows(rs, "SELECT count(*) FROM core.kpi_actuals WHERE actual = 987654.321")[0][0] == 1
    assert rows(rs, "SELECT count(*) FROM core.budget_lines WHERE activity_code = ? AND note = ?",
                [ACTIVITY, NOTE])[0][0] == 1
    assert rows(rs, "SELECT count(*) FROM ingest.submissions WHERE file_name = ?", [FILE_NAME])[0][0] == 1


def test_a_store_open_to_others_is_refused_in_one_line(scenario):
    root, _, _ = scenario
    rs = files_of(root / "wh.duckdb").restricted
    os.chmod(rs, 0o644)
    try:
        code, output = run(root, root / "registry", root / "inbox")
    finally:
        os.chmod(rs, 0o600)
    assert code == 1, output
    assert f"{rs}: the restricted store's file is open to others (mode 0644); it must be 0600" in output
    assert len(output.strip().splitlines()) == 1


def test_the_demo_keeps_its_restricted_pilot_in_the_restricted_store(demo_run):
    folder, _ = demo_run
    wh = folder / "warehouse.duckdb"
    rs = folder / "warehouse.restricted.duckdb"
    pilot = "PLT-2548-006"
    for path in (wh, folder / "warehouse.published.duckdb"):
        counts = {t: n for t, n in pilot_rows(path, pilot).items() if n}
        # 7 due periods (2548-Q1..2549-Q3); 4 reporting agencies (lead, 2 secondary, supporting);
        # 5 agencies in the registry; none of its reports is overdue (docs/demo.md), so no reminder.
        assert counts == {"registry.pilots": 1, "registry.pilot_agencies": 5, "marts.pilot_scores": 7,
                          "marts.due_periods": 7, "marts.reporting_compliance": 28}, path
    counts = pilot_rows(rs, pilot)
    # 28 reports (7 x 4 agencies) + the quarantined first version of 25001's 2549-Q1 (docs/demo.md).
    assert counts["ingest.submissions"] == 29
    assert counts["core.kpi_actuals"] == 14  # 7 periods x S1, S2
    assert counts["core.budget_lines"] == 42  # 7 x (2 lead + 1 + 2 + 1 supporting) lines
    assert counts["registry.kpis"] == 2 and counts["registry.kpi_thresholds"] == 4  # S1, S2 x FY2548, FY2549
    assert counts["marts.kpi_scores"] == 14 and counts["marts.budget_integration"] == 7
    assert counts["marts.budget_integration_by_layer"] == 21  # layers 1, 3, 4 in each of 7 periods
    # Its latest composite (docs/demo.md): 2549-Q3 at_risk 2.5125, the same on both sides.
    for path in (wh, rs):
        assert rows(path, "SELECT composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? "
                          "AND period = '2549-Q3'", [pilot]) == [(Decimal("2.5125"), "at_risk")]


def _copy_of(scenario, tmp_path: Path) -> Path:
    """The scenario's warehouse, restricted store, evidence and registry, copied (with their modes)
    so a test can run jobs on it without changing what the other tests read."""
    import shutil

    root, _, _ = scenario
    for name in ("wh.duckdb", "wh.restricted.duckdb", "wh.evidence", "wh.restricted.evidence", "registry"):
        source, target = root / name, tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target)
            os.chmod(target, stat.S_IMODE(source.stat().st_mode))
        else:
            shutil.copy2(source, target)
    return tmp_path


def test_explain_reads_a_restricted_pilot_from_its_store_only(scenario):
    root, _, _ = scenario
    args = ["explain", SECRET, "S9", "2548-Q1", "--warehouse", str(root / "wh.duckdb")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert f"{SECRET} is a restricted pilot: its KPI lineage is only in the restricted store" in refused.output
    shown = CliRunner().invoke(main, [*args, "--restricted-store", str(root / "wh.restricted.duckdb")])
    assert shown.exit_code == 0, shown.output
    # a = 987654.321 >= t5 = 50 -> 5 (scoring.md §1), from r1 (submission 8), its row 2.
    assert "987654.321" in shown.output and FILE_NAME in shown.output


def test_maintenance_jobs_find_restricted_submissions(scenario, tmp_path):
    work = _copy_of(scenario, tmp_path)
    common = ["--registry", str(work / "registry"), "--warehouse", str(work / "wh.duckdb"), "--out",
              str(work / "out"), "--as-of", AS_OF]
    # r3 (submission 10) is in the restricted store: reprocessing finds it, and it still fails.
    result = CliRunner().invoke(main, ["reprocess", "10", *common])
    assert result.exit_code == 1
    # Its name and defects stay in the restricted store's error log (messages stay on their side).
    assert "submission 10 ([file of a restricted pilot]) is still quarantined, nothing was written" in result.output
    assert "r3-bad" not in result.output and "KPI_UNKNOWN" not in result.output
    assert "reprocessed r3-bad.csv: quarantined" in (work / "wh.restricted.duckdb.errors.log").read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["approve", "10", "--by", "secretariat", *common])
    assert result.exit_code == 1
    # approve finds it in the restricted store (not "there is no submission 10"), and refuses it
    # as it would an open file: it is quarantined, not held (tests/test_restricted_decisions.py).
    assert "submission 10 is quarantined, not held: only held files are approved or rejected" in result.output
    result = CliRunner().invoke(main, ["rebuild", *common])
    assert result.exit_code == 0, result.output
    # The rebuild changes nothing: same scores on both sides, same counts.
    assert rows(work / "wh.duckdb", "SELECT period, composite_score FROM marts.pilot_scores WHERE pilot_id = ? "
                                    "ORDER BY 1", [SECRET]) == [("2548-Q1", Decimal("5.0000")),
                                                                ("2548-Q2", Decimal("2.5000"))]
    assert rows(work / "wh.restricted.duckdb", "SELECT count(*) FROM marts.kpi_scores")[0][0] == 2
    assert pilot_rows(work / "wh.duckdb", SECRET)["marts.kpi_scores"] == 0
    assert stat.S_IMODE((work / "wh.restricted.duckdb").stat().st_mode) == 0o600


@pytest.mark.parametrize("kernel", [True, False], ids=["copy_file_range", "read_and_write"])
def test_the_working_copy_holds_every_byte_of_the_store(tmp_path, monkeypatch, kernel):
    """The store's working copy is made in the kernel where Linux offers it, else read and written
    in 1 MiB chunks (warehouse/restricted._copy_into): either way byte for byte the store, for a
    size that is not a whole number of chunks."""
    from warehouse import restricted

    if not kernel:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    data = os.urandom(3 * restricted.COPY_CHUNK + 12_345)
    (tmp_path / "store").write_bytes(data)
    with open(tmp_path / "store", "rb") as src, open(tmp_path / "copy", "wb") as dst:
        restricted._copy_into(src.fileno(), dst.fileno())
    assert (tmp_path / "copy").read_bytes() == data
