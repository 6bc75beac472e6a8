"""A header that names one column thousands of times costs what its cells cost, no more.

A hostile file wrote `note` 2,000 times more in its header, every repeat empty: normalising it
took 5.5 s against 0.87 s for the same file without them, because each repeat was read row by row
in Python (repeats x rows steps). A repeat that is empty on every row, or a copy of its first
column, changes nothing (pilots/normalise.py, _fold_repeated_columns): it is now seen from its
column at once. The answer is the same (tests/test_normalise_columns.py, tests/test_hostile_headers.py);
here the work is counted: the texts normalise reads one by one (clean_text) grow with the rows and
the header's cells, never with their product.
"""
from __future__ import annotations

from pilots import normalise
from pilots.readers.base import RawTable

HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
          "allocated_thb", "disbursed_thb", "funding_source", "note"]


def table(repeats: int, rows: int, repeat_cell: str | None) -> RawTable:
    return RawTable("csv", "utf-8", HEADER + ["หมายเหตุ"] * repeats, [
        (i + 2, ["PLT-2548-003", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, str(i), None, None, None,
                 "x"] + [repeat_cell] * repeats) for i in range(rows)])


def texts_read(raw: RawTable, monkeypatch) -> tuple[int, normalise.NormalisedFile]:
    calls = []
    real = normalise.clean_text
    monkeypatch.setattr(normalise, "clean_text", lambda value: calls.append(1) or real(value))
    normalise._HEADERS.clear()  # the header is read afresh each time
    try:
        found = normalise.normalise_table(raw)
        return len(calls), found
    finally:
        monkeypatch.setattr(normalise, "clean_text", real)


def test_empty_or_copied_repeats_cost_a_read_per_header_cell_not_per_cell(monkeypatch):
    plain, base = texts_read(table(0, 300, None), monkeypatch)
    for repeat_cell in (None, "", " ", "x"):  # empty, empty once cleaned, the first column's copy
        counted, found = texts_read(table(2000, 300, repeat_cell), monkeypatch)
        # 300 rows x 2,000 repeats = 600,000 cells: before, each was read (600,000 calls and more).
        # Now each of the header's 2,000 repeats is read twice (its key, and its text for a message),
        # and each repeat's distinct texts once: 3 x 2,000.
        assert counted - plain <= 3 * 2000 + 10, (repeat_cell, counted, plain)
        assert found.rows == base.rows and found.issues == base.issues == []
        assert [r["note"] for r in found.rows[:2]] == ["x", "x"]


def test_a_repeat_that_says_something_else_is_still_read_row_by_row():
    normalise._HEADERS.clear()
    raw = table(3, 4, None)
    raw.rows[1][1][12] = "y"   # the first repeat disagrees on the second row (file row 3)
    raw.rows[2][1][11] = None  # an empty note takes its repeat's value
    raw.rows[2][1][13] = "z"
    found = normalise.normalise_table(raw)
    assert [r["note"] for r in found.rows] == ["x", "x", "z", "x"]
    assert [(i.code, i.row_number, i.column_name) for i in found.issues] == [("COLUMN_REPEATED", 3, "note")]


def test_one_very_long_ragged_row_costs_its_own_cells_not_every_row_padded_to_it():
    """The review's file was 590 KB: a repeated header, 10,000 rows, and one row of 100,000 cells (a
    ragged row is still normalised: ROW_RAGGED is judged later). Cutting the columns out up to the
    longest row made every row that long: 10^9 slots (about 8 GB), a night killed for memory, not a
    file quarantined. Here 1,000 rows (800 MB that way, so the test can fail safely). The columns
    needed now stop at the shortest row: at most the cells the rows hold."""
    import tracemalloc

    normalise._HEADERS.clear()
    raw = table(1, 1_000, None)
    raw.rows.append((1_002, ["x"] + [None] * 100_000))
    tracemalloc.start()
    try:
        found = normalise.normalise_table(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The rows themselves are 1,000 x 14 cells and one row of 100,001: about 1 MB. Padding every row
    # to 100,001 cells would be 1,001 x 100,001 x 8 bytes = 800 MB.
    assert peak < 100 * 2**20, peak
    assert len(found.rows) >= 1_000
