"""A run over a mixed inbox: the hand-computed scenario of test_flow.py with one report sent as
Excel instead of CSV, plus hostile files. The hostile files are quarantined with reasons, and the
figures are exactly those computed by hand in test_flow.py."""
from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

import duckdb
import openpyxl

from tests.test_flow import make_scenario, run_cli


def as_xlsx(csv_bytes: bytes) -> bytes:
    book = openpyxl.Workbook()
    book.active.title = "รายงาน"
    for row in csv.reader(io.StringIO(csv_bytes.decode("utf-8"))):
        book.active.append([float(c) if c.replace(".", "").isdigit() and len(c) > 3 else c for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_mixed_inbox_with_hostile_files(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    fix = inbox / "d_lead_q2_fix.csv"
    (inbox / "d_lead_q2_fix.xlsx").write_bytes(as_xlsx(fix.read_bytes()))
    fix.unlink()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    hostile = {
        "g_garbage.csv": bytes(range(256)) * 4,
        "h_bomb.xlsx": bomb.getvalue(),
        "i_empty.json": b"",
        "j_nested.json": b'{"lines": ' + b"[" * 50000 + b"]" * 50000 + b"}",
        "k รายงาน ไตรมาส.csv": b"pilot_id,agency_code\nPLT-2548-003,03009,extra\n",
        "l_report.docx": b"PK\x03\x04",
        "m_truncated.xlsx": as_xlsx(b"pilot_id,agency_code\nPLT-2548-003,03009\n")[:300],
    }
    for name, data in hostile.items():
        (inbox / name).write_bytes(data)

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 13: accepted 3, superseded 1, duplicates 1, quarantined 8" in out

    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        reasons = dict(con.execute(
            "SELECT s.file_name, list(i.code ORDER BY i.code) FROM ingest.submissions s "
            "JOIN ingest.issues i USING (submission_id) WHERE s.status = 'quarantined' GROUP BY 1").fetchall())
        assert reasons == {
            "f_bad.csv": ["DISBURSED_OVER_ALLOCATED"],
            "g_garbage.csv": ["FILE_UNREADABLE"],
            "h_bomb.xlsx": ["FILE_TOO_LARGE"],
            "i_empty.json": ["FILE_NO_TABLE"],
            "j_nested.json": ["FILE_NO_TABLE"],
            "k รายงาน ไตรมาส.csv": ["COLUMN_MISSING"] * 4 + ["ROW_RAGGED"],
            "l_report.docx": ["FILE_FORMAT_UNKNOWN"],
            "m_truncated.xlsx": ["FILE_UNREADABLE"],
        }
        assert con.execute("SELECT format FROM ingest.submissions WHERE file_name = 'd_lead_q2_fix.xlsx'"
                           ).fetchone() == ("xlsx",)
        # The same hand-computed figures as test_flow.py: composites 3.18 and 3.90.
        assert con.execute("SELECT period, composite_score FROM marts.pilot_scores ORDER BY period").fetchall() == [
            ("2548-Q1", Decimal("3.1800")), ("2548-Q2", Decimal("3.9000"))]
        assert con.execute("SELECT disbursed_thb FROM marts.budget_integration WHERE period = '2548-Q2'"
                           ).fetchone() == (Decimal("550000.00"),)
    finally:
        con.close()
