"""Ingest rules of agency-report-v1.md: receipt order, duplicates, resubmissions, batches."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pilots.ingest import Ingestor, inbox_files
from pilots.registry import load_registry, registry_rows
from warehouse import store

DATA = Path(__file__).parent / "data"
H = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual,note"


def report(on: str, actual: str = "47", note: str = "") -> bytes:
    return f"{H}\nPLT-2548-003,03009,2548-Q1,{on},kpi,K1,{actual},{note}\n".encode()


@pytest.fixture
def ingest(warehouse, tmp_path):
    registry = load_registry(DATA / "registry" / "valid")
    store.replace_registry(warehouse, registry_rows(registry))

    def run(files: dict[str, bytes], batch_size: int = 500) -> Ingestor:
        inbox = tmp_path / f"inbox{len(list(tmp_path.glob('inbox*')))}"
        inbox.mkdir()
        for name, data in files.items():
            (inbox / name).write_bytes(data)
        ing = Ingestor(warehouse, registry, evidence_dir=tmp_path / "evidence", run_id=inbox.name,
                       as_of=date(2006, 8, 15), received_at=datetime(2006, 8, 15))
        ing.ingest(inbox_files(inbox), batch_size)
        return ing
    return run


def statuses(con):
    return con.execute("SELECT file_name, status, superseded_by, duplicate_of FROM ingest.submissions "
                       "ORDER BY submission_id").fetchall()


@pytest.mark.parametrize("batch_size", [1, 500])
def test_unchanged_resubmission_is_accepted_with_a_warning(warehouse, ingest, batch_size):
    ingest({"a.csv": report("2005-01-20"), "b.csv": report("2005-01-25")}, batch_size)
    assert statuses(warehouse) == [("a.csv", "superseded", 2, None), ("b.csv", "accepted", None, None)]
    assert warehouse.execute("SELECT submission_id, code, severity FROM ingest.issues").fetchall() == [
        (2, "RESUBMISSION_UNCHANGED", "warning")]
    assert warehouse.execute("SELECT submission_id, actual FROM core.kpi_actuals").fetchall()[0][0] == 2


def test_an_earlier_dated_resubmission_is_superseded_at_once(warehouse, ingest):
    ingest({"a.csv": report("2005-01-20", "47"), "b.csv": report("2005-01-10", "50")})
    assert statuses(warehouse) == [("a.csv", "accepted", None, None), ("b.csv", "superseded", 1, None)]
    assert float(warehouse.execute("SELECT actual FROM core.kpi_actuals").fetchone()[0]) == 47


def test_equal_dates_the_later_received_wins_also_across_runs(warehouse, ingest):
    ingest({"a.csv": report("2005-01-20", "47")})
    ingest({"b.csv": report("2005-01-20", "50")})
    assert statuses(warehouse) == [("a.csv", "superseded", 2, None), ("b.csv", "accepted", None, None)]


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_duplicates_point_at_the_first_copy_whatever_the_batch(warehouse, ingest, batch_size):
    bad = report("31/02/2548")
    counts = ingest({"a.csv": bad, "b.csv": report("2005-01-20"), "c.csv": bad}, batch_size).counts
    # The original was quarantined; its later byte-identical copy is still a duplicate.
    assert statuses(warehouse) == [("a.csv", "quarantined", None, None), ("b.csv", "accepted", None, None),
                                   ("c.csv", "duplicate", None, 1)]
    assert (counts.files_seen, counts.accepted, counts.quarantined, counts.duplicates) == (3, 1, 1, 1)


def test_a_quarantined_file_changes_nothing_accepted(warehouse, ingest):
    ingest({"a.csv": report("2005-01-20", "47")})
    ingest({"b.csv": report("2005-01-25", "abc")})
    assert statuses(warehouse) == [("a.csv", "accepted", None, None), ("b.csv", "quarantined", None, None)]
    assert float(warehouse.execute("SELECT actual FROM core.kpi_actuals").fetchone()[0]) == 47


def test_national_ids_are_masked_before_storage(warehouse, ingest):
    ingest({"a.csv": report("2005-01-20", note="โทร 1101700203930")})
    assert warehouse.execute("SELECT note FROM core.kpi_actuals").fetchone()[0] == "โทร [masked-id]"


def test_validation_and_the_write_collect_cycles_less_often_and_restore_the_collector(warehouse, ingest, monkeypatch):
    """A batch's validation and its write run with the read's garbage-collector thresholds
    (pilots/readers/base.READ_GC_THRESHOLDS: their many small objects are freed by reference
    counts); the thresholds found before are back after the run."""
    import gc

    from pilots import checks
    from pilots.readers.base import READ_GC_THRESHOLDS

    seen = {}

    def recording(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen[name] = gc.get_threshold()
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    recording(checks, "file_defects")
    recording(store, "write_lines")
    before = gc.get_threshold()
    ingest({"a.csv": report("2005-01-20", "47")})
    assert seen == {"file_defects": READ_GC_THRESHOLDS, "write_lines": READ_GC_THRESHOLDS}
    assert gc.get_threshold() == before
    assert statuses(warehouse) == [("a.csv", "accepted", None, None)]
    assert float(warehouse.execute("SELECT actual FROM core.kpi_actuals").fetchone()[0]) == 47


def test_a_resubmission_is_unchanged_when_its_lines_are_the_same_numbers_in_any_order():
    """RESUBMISSION_UNCHANGED's comparison (pilots/ingest.py _same_content): the stored lines
    (DECIMAL(38,10) actuals, DECIMAL(18,2) amounts, INTEGER layers) against a file's rows (text),
    number by number. KPI lines are (kpi_code, actual); budget lines (activity_code, layer,
    allocated_thb, disbursed_thb, funding_source, note)."""
    from decimal import Decimal

    from pilots.ingest import _same_content

    def budget(activity, allocated, layer=3, note=None, disbursed=Decimal("0.00")):
        return activity, layer, allocated, disbursed, "own", note

    stored = ([("K1", Decimal("82.5000000000")), ("K2", Decimal("3.0000000000"))],
              [budget("A1", Decimal("1500000.00")), budget("A2", Decimal("250000.50"))])
    # The same numbers as a file's rows write them (text), lines in another order.
    as_text = ([("K2", "3"), ("K1", "82.50")],
               [budget("A2", "250000.5", layer="3", disbursed="0"), budget("A1", "1500000", layer="3", disbursed="0.00")])
    assert _same_content(stored, as_text)
    assert _same_content(stored, ([("K1", Decimal("82.5")), ("K2", Decimal("3"))],
                                  [budget("A1", Decimal("1.5E+6")), budget("A2", Decimal("250000.5"))]))
    # One KPI value 82.51; one line more; a budget note added: each is a change.
    assert not _same_content(stored, ([("K2", "3"), ("K1", "82.51")], as_text[1]))
    assert not _same_content(stored, (as_text[0] + [("K3", "1")], as_text[1]))
    assert not _same_content(stored, (as_text[0], [as_text[1][0], budget("A1", "1500000", note="revised")]))
    # A line repeated is counted: two A1 lines are not one A1 and one A2.
    assert not _same_content(stored, (as_text[0], [budget("A1", "1500000"), budget("A1", "1500000")]))
    # No value (None) equals only no value.
    assert not _same_content(([("K1", None)], []), ([("K1", "0")], []))
    assert _same_content(([("K1", None)], []), ([("K1", None)], []))
    # Numbers as stored: rounded half away from zero to 10 decimals (actual) or 2 (amounts), as the
    # insert's cast rounds them; a file's text on both sides is rounded alike.
    assert _same_content(([("K1", Decimal("47.0000000000"))], []), ([("K1", "47.00000000004")], []))
    assert _same_content(([("K1", "-47.00000000005")], []), ([("K1", "-47.0000000001")], []))
    assert not _same_content(([("K1", "47.00000000005")], []), ([("K1", "47")], []))
    assert _same_content(([], [budget("A1", "100.005")]), ([], [budget("A1", Decimal("100.01"))]))
    assert _same_content(([], [budget("A1", "250000.004")]), ([], [budget("A1", "250000")]))
    assert not _same_content(([], [budget("A1", "100.004")]), ([], [budget("A1", "100.006")]))
