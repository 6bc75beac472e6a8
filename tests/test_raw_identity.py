"""What ingest stores of a submission's identity (issue 13 items 1-2): canonical values only where
the normaliser read them, the file's own text apart in raw_*, and the quarantined count of
scoring.md §6 for every format.

Registry tests/data/registry/valid: PLT-2548-003 (2004-10-01 to 2006-09-30), lead 03009,
secondary 15001, supporting 11002, advisory 20004; KPIs K1..K3. Each quarantined file below has
one defect that leaves its identity alone (an unknown KPI code K9, a secondary agency's KPI line,
or no lines at all), so only its identity decides where it counts.
"""
from __future__ import annotations

import io
import json
from datetime import date, datetime

import openpyxl
import pytest

from kpis.build import build_marts
from pilots.ingest import Ingestor, inbox_files
from pilots.registry import load_registry, registry_rows
from tests.test_ingest import DATA
from warehouse import store

P = "PLT-2548-003"
H = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual,note"
AS_OF = date(2006, 8, 15)


def xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def jsonb(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


CSV_Q1 = f"{H}\n{P},03009,2548-Q1,2005-01-20,kpi,K9,47,\n".encode()
FILES = {
    # 1. CSV, first data row fully readable: counts for (03009, 2548-Q1).
    "a.csv": CSV_Q1,
    # 2. XLSX: the agency lost its zero to Excel (number 3009), the period is a Thai variant, and
    #    the submission date is unreadable (31/02): counts for (03009, 2548-Q2); submitted_on NULL.
    "b.xlsx": xlsx([H.split(","), [P, 3009, "ไตรมาส 2/48", "31/02/2548", "kpi", "K9", 50, None]]),
    # 3. JSON with lines, top-level identity: a secondary sends a KPI line: (15001, 2548-Q1).
    "c.json": jsonb({"pilot_id": P, "agency_code": "15001", "period": "Q1/2548", "submitted_on": "20/01/2548",
                     "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 40}]}),
    # 4. JSON without a `lines` key: no table, but its top-level fields read: (11002, 2548-Q2).
    "d.json": jsonb({"pilot_id": P, "agency_code": "11002", "period": "2548-Q2", "submitted_on": "2005-04-20"}),
    # 5. JSON with `lines: []`, Thai digits in the period and a number agency code: (15001, 2548-Q2).
    "e.json": jsonb({"pilot_id": P, "agency_code": 15001, "period": "ไตรมาส ๒/๒๕๔๘", "submitted_on": "2005-04-21",
                     "lines": []}),
    # 6. CSV whose period cannot be read (quarter 9): pilot and agency stored, period NULL, counts nowhere.
    "f.csv": f"{H}\n{P},03009,ไตรมาส 9/99,2005-01-20,kpi,K9,47,\n".encode(),
    # 7. CSV whose agency is not 5 digits: agency NULL, counts nowhere.
    "g.csv": f"{H}\n{P},030091,2548-Q1,2005-01-20,kpi,K9,47,\n".encode(),
    # 8. A byte-identical copy of a.csv: a duplicate, counted nowhere, nothing read.
    "h.csv": CSV_Q1,
    # 9. A valid report: accepted, canonical identity, raw text as written.
    "i.csv": f"{H}\n{P},3009,ไตรมาส 1/48,20 ธ.ค. 47,kpi,K1,47,\n".encode(),
    # 10. JSON whose identity sits in its lines only (the reader accepts that): the first line's: (11002, 2548-Q1).
    "j.json": jsonb({"lines": [{"pilot_id": P, "agency_code": "11002", "period": "2548-Q1", "submitted_on": "2005-01-21",
                                "line_type": "kpi", "item_code": "K9", "actual": 1}]}),
}


@pytest.fixture
def ingested(warehouse, tmp_path):
    registry = load_registry(DATA / "registry" / "valid")
    store.replace_registry(warehouse, registry_rows(registry))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in FILES.items():
        (inbox / name).write_bytes(data)
    Ingestor(warehouse, registry, evidence_dir=tmp_path / "evidence", run_id="r1", as_of=AS_OF,
             received_at=datetime(2006, 8, 15)).ingest(inbox_files(inbox))
    build_marts(warehouse, AS_OF)
    return warehouse


def test_canonical_identity_only_where_read_and_raw_text_apart(ingested):
    rows = ingested.execute("""
        SELECT file_name, status, pilot_id, agency_code, period, submitted_on,
               raw_pilot_id, raw_agency_code, raw_period, raw_submitted_on
        FROM ingest.submissions ORDER BY submission_id""").fetchall()
    d = date
    assert rows == [
        ("a.csv", "quarantined", P, "03009", "2548-Q1", d(2005, 1, 20), P, "03009", "2548-Q1", "2005-01-20"),
        ("b.xlsx", "quarantined", P, "03009", "2548-Q2", None, P, "3009", "ไตรมาส 2/48", "31/02/2548"),
        ("c.json", "quarantined", P, "15001", "2548-Q1", d(2005, 1, 20), P, "15001", "Q1/2548", "20/01/2548"),
        ("d.json", "quarantined", P, "11002", "2548-Q2", d(2005, 4, 20), P, "11002", "2548-Q2", "2005-04-20"),
        ("e.json", "quarantined", P, "15001", "2548-Q2", d(2005, 4, 21), P, "15001", "ไตรมาส ๒/๒๕๔๘", "2005-04-21"),
        ("f.csv", "quarantined", P, "03009", None, d(2005, 1, 20), P, "03009", "ไตรมาส 9/99", "2005-01-20"),
        ("g.csv", "quarantined", P, None, "2548-Q1", d(2005, 1, 20), P, "030091", "2548-Q1", "2005-01-20"),
        ("h.csv", "duplicate", None, None, None, None, None, None, None, None),
        # 20 ธ.ค. 47 = 20 Dec 2547 BE = 2004-12-20; the agency 3009 padded to 03009.
        ("i.csv", "accepted", P, "03009", "2548-Q1", d(2004, 12, 20), P, "3009", "ไตรมาส 1/48", "20 ธ.ค. 47"),
        ("j.json", "quarantined", P, "11002", "2548-Q1", d(2005, 1, 21), P, "11002", "2548-Q1", "2005-01-21"),
    ]


def test_quarantined_count_per_format(ingested):
    got = dict(((a, per), n) for a, per, n in ingested.execute(
        "SELECT agency_code, period, quarantined FROM marts.reporting_compliance WHERE pilot_id = ?", [P]).fetchall())
    assert got[("03009", "2548-Q1")] == 1  # a.csv (not g.csv: agency unreadable; not h.csv: duplicate)
    assert got[("03009", "2548-Q2")] == 1  # b.xlsx
    assert got[("15001", "2548-Q1")] == 1  # c.json, JSON with lines
    assert got[("11002", "2548-Q2")] == 1  # d.json, JSON without `lines`
    assert got[("15001", "2548-Q2")] == 1  # e.json, `lines: []`
    assert got[("11002", "2548-Q1")] == 1  # j.json, identity in its lines
    # f.csv (period unreadable), g.csv (agency unreadable) and h.csv (duplicate) count nowhere.
    assert sum(got.values()) == 6


def test_raw_identity_masks_national_ids_like_every_stored_text(warehouse, tmp_path):
    # 1-1017-00012-34-4: d13 = (11 - (1*13+1*12+0*11+1*10+7*9+0+0+0+1*5+2*4+3*3+4*2) mod 11) mod 10
    # = (11 - 128 mod 11) mod 10 = (11 - 7) mod 10 = 4: a valid ID (agency-report-v1.md, Personal data).
    registry = load_registry(DATA / "registry" / "valid")
    store.replace_registry(warehouse, registry_rows(registry))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x.json").write_bytes(jsonb({"pilot_id": "PLT 1-1017-00012-34-4", "agency_code": "03009",
                                          "period": "2548-Q1", "submitted_on": "2005-01-20"}))
    Ingestor(warehouse, registry, evidence_dir=tmp_path / "ev", run_id="r1", as_of=AS_OF,
             received_at=datetime(2006, 8, 15)).ingest(inbox_files(inbox))
    pilot, raw = warehouse.execute("SELECT pilot_id, raw_pilot_id FROM ingest.submissions").fetchone()
    assert (pilot, raw) == ("PLT [masked-id]", "PLT [masked-id]")
