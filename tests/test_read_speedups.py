"""The read path's speed-ups change no answer (issue 22, engineer P).

- normalise: short texts are read once per distinct text (per_distinct), a canonical number is
  returned as it is;
- checks: GE is given only the columns its rules read, some of them as categoricals;
- receive: the inbox is kept in the evidence store with one flush for all files (KeepBatch).
Every expected value is worked out by hand.
"""
from __future__ import annotations

import os
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from pilots import checks, normalise
from pilots.inbox import candidates, receive
from warehouse import evidence


@pytest.mark.parametrize("text, expected", [
    ("0", "0"), ("-0", "-0"), ("0.50", "0.50"), ("-12.3400", "-12.3400"), ("1250000.00", "1250000.00"),
    # not canonical: read the long way, as before
    ("007", "7"), ("+5", "5"), (".5", "0.5"), ("1,250,000.00", "1250000.00"), ("๑๒.๕", "12.5"),
    ("12.5%", "12.5"), ("1.5 ล้านบาท", "1500000.0"), ("1e5", None), ("١٢", None),
    # thousands separators on an otherwise canonical number, and those that are not
    ("29,950,000.00", "29950000.00"), ("-1,250.50", "-1250.50"), ("1,250 บาท", "1250"), ("01,250", "1250"),
    ("+1,250", "1250"), ("1,250.5 ล้านบาท", "1250500000.0"), ("-0,000", "-0"), ("1,25", None),
])
def test_parse_number_gives_the_same_text_whatever_the_path(text, expected):
    assert normalise.parse_number(text, allow_percent=True, allow_baht=True) == expected


def test_a_canonical_number_is_what_decimal_writes():
    for text in ("0", "-0", "0.50", "-0.00", "10", "123456789012345678901234567890.1234567890"):
        assert normalise.CANONICAL_NUMBER.fullmatch(text)
        assert format(Decimal(text), "f") == text


def test_per_distinct_remembers_short_texts_only_and_stays_bounded(monkeypatch):
    calls: list[str | None] = []

    @normalise.per_distinct
    def upper(text):
        calls.append(text)
        return None if text is None else text.upper()

    long_text = "x" * (normalise.MEMO_MAX_CHARS + 1)
    assert [upper("ab"), upper("ab"), upper(None), upper(None)] == ["AB", "AB", None, None]
    assert [upper(long_text), upper(long_text)] == [long_text.upper()] * 2
    assert calls == ["ab", None, long_text, long_text]  # a long text is read each time

    monkeypatch.setattr(normalise, "MEMO_ENTRIES", 2)
    calls.clear()
    assert [upper("a"), upper("b"), upper("c"), upper("a")] == ["A", "B", "C", "A"]
    # The memo held ab and None: "a" filled it; "b" found it full and started it afresh.
    assert calls == ["a", "b", "c", "a"]


def test_a_text_repeated_across_a_batch_is_one_object_and_the_memo_stays_bounded(monkeypatch):
    """Text columns with nothing to mask keep each text as one object for the process (as main's
    per-text masking gave them): a batch's pickle then sends a repeated pilot or note once."""
    import pickle

    from pilots.readers.base import RawTable

    header = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "note"]

    def table(pilot: str, note: str) -> RawTable:
        # fresh string objects for every cell, as csv.reader makes them
        return RawTable("csv", "utf-8", header, [(n, ["".join(pilot), "03009", "2548-Q1", "2005-01-20", "kpi",
                                                      f"K{n}", "".join(note)]) for n in (2, 3, 4)])

    a = normalise.normalise_table(table("PLT-7", "ติดตามผล")).rows
    b = normalise.normalise_table(table("PLT-7", "ติดตามผล")).rows
    assert [r["pilot_id"] for r in a + b] == ["PLT-7"] * 6 and [r["note"] for r in a + b] == ["ติดตามผล"] * 6
    assert len({id(r["pilot_id"]) for r in a + b}) == 1 and len({id(r["note"]) for r in a + b}) == 1
    once, twice = pickle.dumps(a), pickle.dumps(a + b)
    assert len(twice) - len(once) < len(once)  # the second file's texts are references

    monkeypatch.setattr(normalise, "MEMO_ENTRIES", 8)
    for k in range(20):
        rows = normalise.normalise_table(table(f"PLT-{k}", f"note {k}")).rows
        assert [(r["pilot_id"], r["item_code"], r["note"]) for r in rows] == [
            (f"PLT-{k}", f"K{n}", f"note {k}") for n in (2, 3, 4)]
        assert len(normalise._TEXT_OBJECTS) <= 8


def test_the_normalised_row_is_the_same_on_the_second_read():
    """A repeated identity reads the same from the memo as the first time (Thai date, Thai
    digits, an agency code that lost its zero, a zero-width space)."""
    from pilots.readers.base import RawTable

    header = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "actual"]
    cells = ["PLT-2548-003\u200b", "3009", "ไตรมาส ๒/๒๕๔๘", "20 เม.ย. 2548", "ตัวชี้วัด", "K1", "๔๗"]
    raw = RawTable("csv", "utf-8", header, [(2, list(cells)), (3, list(cells))])
    rows = normalise.normalise_table(raw).rows
    assert rows[0] == rows[1] | {"row_number": 2}
    assert {k: rows[1][k] for k in header} == {
        "pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20",
        "line_type": "kpi", "item_code": "K1", "actual": "47"}


def test_every_column_a_row_rule_reads_reaches_ge():
    """The frames GE validates hold every column some expectation reads (its column, its pair,
    its row condition): a rule on a column left out would fail to run, not pass."""
    _, suites = checks._gx()
    read: set[str] = set()
    for suite, _ in suites.values():
        for expectation in suite.expectations:
            read |= checks._columns_read(expectation)
    derived = {checks.KPI_UNIT, checks.COMPARABLE, *checks.NUM.values(), *checks.FITS.values()}
    assert read - derived <= checks.SUITE_COLUMNS
    assert "note" not in checks.SUITE_COLUMNS and "note" not in read
    grouped = {column for columns in checks.RULE_GROUPS.values() for column in columns}
    assert grouped - {checks.KPI_UNIT} <= checks.SUITE_COLUMNS


def test_keep_batch_names_files_only_after_the_flush(tmp_path):
    store = tmp_path / "evidence"
    (tmp_path / "a.csv").write_bytes(b"one")
    (tmp_path / "b.csv").write_bytes(b"two two")
    with evidence.KeepBatch(store) as batch:
        kept = [batch.add(tmp_path / "a.csv", 100), batch.add(tmp_path / "b.csv", 5)]
        a = evidence.sha256_of(b"one")
        assert kept == [(a, 3), None]  # b holds 7 bytes, over the limit of 5: kept nowhere
        assert not evidence.evidence_path(store, a).exists()  # not named before the flush
    assert evidence.evidence_path(store, a).read_bytes() == b"one"
    assert [p.name for p in store.rglob("*") if p.is_file()] == [a]  # no temp file left


def test_keep_batch_names_nothing_when_the_batch_fails(tmp_path):
    store = tmp_path / "evidence"
    (tmp_path / "a.csv").write_bytes(b"one")
    with pytest.raises(OSError):
        with evidence.KeepBatch(store) as batch:
            batch.add(tmp_path / "a.csv", 100)
            batch.add(tmp_path / "missing.csv", 100)
    assert [p for p in store.rglob("*") if p.is_file()] == []


def test_receive_keeps_every_regular_file_and_refuses_a_link(tmp_path):
    inbox, store = tmp_path / "inbox", tmp_path / "evidence"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(b"alpha")
    (inbox / "c.csv").write_bytes(b"alpha")  # the same bytes: one stored file
    (tmp_path / "target.csv").write_bytes(b"secret")
    os.symlink(tmp_path / "target.csv", inbox / "b.csv")
    refused: list = []
    # The link as if it had been swapped in after the listing (candidates() lists no link).
    assert [p.name for p in candidates(inbox)] == ["a.csv", "c.csv"]
    files = receive([inbox / "a.csv", inbox / "b.csv", inbox / "c.csv"], store, refused)
    digest = evidence.sha256_of(b"alpha")
    assert [(f.name, f.sha256, f.size) for f in files] == [("a.csv", digest, 5), ("c.csv", digest, 5)]
    assert all(f.kept_at == evidence.evidence_path(store, digest) for f in files)
    assert [(p.name, kind) for p, kind in refused] == [("b.csv", "symlink")]
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == [digest]
    assert oct(os.stat(evidence.evidence_path(store, digest)).st_mode & 0o777) == oct(evidence.FILE_MODE)


def test_a_row_holds_every_column_in_contract_order_and_a_short_row_reads_its_missing_cells_as_empty():
    """The row is built from a template (row_number, then the contract's columns), the cells are
    cleaned through the memo inline, and a ragged row shorter than the header takes the slow path."""
    from pilots.contract import COLUMN_NAMES
    from pilots.readers.base import RawTable

    header = ["note", "pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer",
              "allocated_thb", "disbursed_thb", "funding_source"]
    full = ["เบิกแล้ว\u200b", "PLT-2548-003", "3009", "2548-Q1", "2005-01-20", "งบประมาณ", "ACT-1", "๕", "1,000,000",
            "250000 บาท", "งบบูรณาการ"]
    raw = RawTable("csv", "utf-8", header, [(2, full), (3, full[:7])])
    first, short = normalise.normalise_table(raw).rows
    assert list(first) == ["row_number", *COLUMN_NAMES]
    assert first == {"row_number": 2, "pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2548-Q1",
                     "submitted_on": "2005-01-20", "line_type": "budget", "item_code": "ACT-1", "layer": "5",
                     "actual": None, "allocated_thb": "1000000", "disbursed_thb": "250000",
                     "funding_source": "lead_integrated", "note": "เบิกแล้ว"}
    assert list(short) == list(first)
    assert short == {**first, "row_number": 3, "layer": None, "allocated_thb": None, "disbursed_thb": None,
                     "funding_source": None}



def test_the_read_collects_garbage_less_often_and_restores_the_thresholds(monkeypatch):
    """pilots.readers.base.fewer_collections: the read stage runs with READ_GC_THRESHOLDS (seen
    from inside a reader), and the thresholds found before are back afterwards, after a failure too."""
    import gc
    from pathlib import Path

    from pilots import ingest, readers
    from pilots.readers.base import READ_GC_THRESHOLDS, fewer_collections

    before = gc.get_threshold()
    assert before != READ_GC_THRESHOLDS
    with pytest.raises(ZeroDivisionError):
        with fewer_collections():
            assert gc.get_threshold() == READ_GC_THRESHOLDS
            1 / 0
    assert gc.get_threshold() == before

    seen = []
    read_csv = readers.READERS[".csv"]
    monkeypatch.setitem(readers.READERS, ".csv", lambda data: seen.append(gc.get_threshold()) or read_csv(data))
    monkeypatch.setattr(ingest, "_validate", lambda *args: None)  # the read stage alone

    class Units:
        def kpi_units(self):
            return {}

    received = [ingest.Received(Path("a.csv"), b"pilot_id,agency_code\nPLT-1,3009\n", "-")]
    ingest.read_and_check(received, Units(), None)
    assert seen == [READ_GC_THRESHOLDS]
    assert gc.get_threshold() == before
    assert received[0].table.rows[0]["agency_code"] == "03009"  # it was read


def test_overlapping_reads_restore_the_thresholds_found_before_the_first():
    """Two reads that overlap (the web checks uploads on several threads), the first ending
    before the second: the raised thresholds stay until the last ends, then the ones found before
    the first come back (not the raised ones the second found when it began)."""
    import gc

    from pilots.readers.base import READ_GC_THRESHOLDS, fewer_collections

    before = gc.get_threshold()
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == READ_GC_THRESHOLDS  # the second read is still going
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


# --- JSON: the depth bound's shortcut for a list of flat objects --------------------------------

def _recursive_depth(value: object, level: int = 0) -> int:
    """json_reader._depth before its shortcut, word for word: the reference."""
    from itertools import repeat

    from pilots.readers.json_reader import MAX_DEPTH
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return level
    if not any(map(isinstance, children, repeat((dict, list)))):
        return level + 1
    return max((_recursive_depth(v, level + 1) for v in children if isinstance(v, (dict, list))), default=level + 1)


def _nested(depth: int, leaf: object) -> object:
    for k in range(depth):
        leaf = [leaf] if k % 2 else {"x": leaf}
    return leaf


JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=2), inner, max_size=4)),
                           max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.integers(0, 22))
def test_the_depth_of_any_document_is_what_the_recursion_gives(value, level):
    from pilots.readers.json_reader import _depth
    assert _depth(value, level) == _recursive_depth(value, level)


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 18, 19, 20, 21, 22, 25])
def test_the_depth_of_flat_lines_at_every_level_is_what_the_recursion_gives(depth):
    from pilots.readers.json_reader import _depth
    lines = [{"a": 1, "b": "x"}, {}, {"c": None}]
    for value in (_nested(depth, lines), _nested(depth, {"lines": lines}), _nested(depth, [[], {}]), _nested(depth, [])):
        assert _depth(value) == _recursive_depth(value)
    assert _depth(lines) == 2 and _depth({"lines": lines}) == 3  # a report: document, lines, line


def test_json_numbers_read_as_their_text_and_booleans_in_lower_case():
    from pilots.readers.json_reader import read_json
    table = read_json(b'{"pilot_id": "P", "lines": [{"layer": 3, "allocated_thb": 16180000.0, "actual": 1e21, '
                      b'"note": true, "item_code": null, "x": [1, {"y": "z"}]}]}')
    assert table.header == ["pilot_id", "layer", "allocated_thb", "actual", "note", "item_code", "x"]
    # Numbers are exact decimal text, never an exponent (tests/test_hostile_numbers.py): 1e21 is written out.
    assert table.rows == [(1, ["P", "3", "16180000.0", "1000000000000000000000", "true", None, '[1, {"y": "z"}]'])]


# --- Excel: a cell's text by its value's class ----------------------------------------------------

class _Int(int):
    pass


@pytest.mark.parametrize("value, text", [
    (3009, "3009"), (-7, "-7"), (True, "true"), (False, "false"), (_Int(5), "5"),
    (16180000.0, "16180000"), (1491435.85, "1491435.85"), (0.1, "0.1"), (1e21, "1000000000000000000000"),
    (2.5e-07, "0.00000025"), (float("inf"), "inf"), (-0.0, "0"),  # never an exponent: tests/test_hostile_numbers.py
    (__import__("datetime").datetime(2005, 1, 20), "2005-01-20"),
    (__import__("datetime").date(2005, 1, 20), "2005-01-20"), (__import__("datetime").time(9, 30), "09:30:00"),
    (None, None), (Decimal("1.50"), "1.50")])
def test_an_excel_value_reads_as_the_text_the_cell_shows(value, text):
    from pilots.readers.xlsx_reader import _cell
    assert _cell(value) == text


def test_a_date_cell_holding_a_time_needs_its_format():
    # Only its format says what it shows (the day, or the time too: xlsx_reader._date_shown), so
    # the rows read without formats give it up, and the sheet is read again with them
    # (tests/test_trust_xlsx_timed_dates.py reads such cells through whole nights).
    from datetime import datetime

    from pilots.readers.xlsx_reader import _cell, _TimedDate
    with pytest.raises(_TimedDate):
        _cell(datetime(2005, 1, 20, 9, 30))
