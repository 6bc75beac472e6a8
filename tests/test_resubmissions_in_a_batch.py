"""Resubmissions compared with the versions they follow (agency-report-v1.md: RESUBMISSION_UNCHANGED),
several in one batch: the stored versions are read for the whole batch at once (pilots/ingest.py
_stored_lines_of), the batch's own earlier files from the batch."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pilots import ingest
from pilots.ingest import Ingestor, inbox_files
from pilots.registry import load_registry, registry_rows
from warehouse import store

DATA = Path(__file__).parent / "data"
H = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual,note"


def report(period: str, on: str, actual: str) -> bytes:
    return f"{H}\nPLT-2548-003,03009,{period},{on},kpi,K1,{actual},\n".encode()


@pytest.fixture
def night(warehouse, tmp_path):
    registry = load_registry(DATA / "registry" / "valid")
    store.replace_registry(warehouse, registry_rows(registry))

    def run(files: dict[str, bytes], batch_size: int) -> None:
        inbox = tmp_path / f"inbox{len(list(tmp_path.glob('inbox*')))}"
        inbox.mkdir()
        for name, data in files.items():
            (inbox / name).write_bytes(data)
        Ingestor(warehouse, registry, evidence_dir=tmp_path / "evidence", run_id=inbox.name,
                 as_of=date(2006, 8, 15), received_at=datetime(2006, 8, 15)).ingest(inbox_files(inbox), batch_size)
    return run


@pytest.mark.parametrize("batched_from", [1, ingest.BATCHED_LINES_MIN], ids=["read-together", "read-one-by-one"])
@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_each_resubmission_is_compared_with_its_own_previous_version(warehouse, night, batch_size, batched_from,
                                                                      monkeypatch):
    monkeypatch.setattr(ingest, "BATCHED_LINES_MIN", batched_from)  # both ways of reading the stored lines
    # Night 1: submissions 1-3, one per quarter.
    night({"a.csv": report("2548-Q1", "2005-07-01", "47"), "b.csv": report("2548-Q2", "2005-07-01", "50"),
           "c.csv": report("2548-Q3", "2005-07-01", "60")}, batch_size)
    # Night 2: Q1 sent again unchanged (4, follows 1; "47.0" is the same number), Q2 changed
    # (5, follows 2), Q3 sent again unchanged twice (6 follows 3, then 7 follows 6, a file of the
    # same night).
    night({"d.csv": report("2548-Q1", "2005-07-10", "47.0"), "e.csv": report("2548-Q2", "2005-07-10", "51"),
           "f.csv": report("2548-Q3", "2005-07-10", "60"), "g.csv": report("2548-Q3", "2005-07-11", "60")},
          batch_size)
    assert warehouse.execute("SELECT submission_id, file_name, status, superseded_by FROM ingest.submissions "
                             "ORDER BY submission_id").fetchall() == [
        (1, "a.csv", "superseded", 4), (2, "b.csv", "superseded", 5), (3, "c.csv", "superseded", 6),
        (4, "d.csv", "accepted", None), (5, "e.csv", "accepted", None), (6, "f.csv", "superseded", 7),
        (7, "g.csv", "accepted", None)]
    assert warehouse.execute("SELECT submission_id, code, message_en FROM ingest.issues "
                             "ORDER BY submission_id").fetchall() == [
        (4, "RESUBMISSION_UNCHANGED", "This resubmission changes nothing compared with submission 1."),
        (6, "RESUBMISSION_UNCHANGED", "This resubmission changes nothing compared with submission 3."),
        (7, "RESUBMISSION_UNCHANGED", "This resubmission changes nothing compared with submission 6.")]
    assert [(sid, float(v)) for sid, v in warehouse.execute(
        "SELECT submission_id, actual FROM core.kpi_actuals ORDER BY period").fetchall()] == [
        (4, 47.0), (5, 51.0), (7, 60.0)]
