"""normalise_table reads a table column by column (each column's distinct texts once, whole
columns of plain ASCII cells and plain numbers recognised in one match); the answer must be the
one reading row by row gives. The row-by-row reading of main before that change (b1cde63) is kept
here, word for word, as the reference, and both read hostile generated tables: placeholders in
every case, spaces at the ends, cells holding newlines, thousands separators that are and are not
plain, Thai digits, national IDs, total rows, ragged rows, percentage cells, with and without a
registry's units. Hand-worked cases of the plain-column shortcuts come first.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from pilots import normalise
from pilots.contract import BY_NAME, COLUMNS, LINE_TYPES, required_columns
from pilots.defects import detail, make_issue
from pilots.normalise import (COLUMN_ORDER, HEADER_NAMES, NormalisedFile, _READ_COLUMNS, _TEXT_COLUMNS,
                              TOTAL_WORDS, _mask_national_ids, clean_text, header_key, normalise_table,
                              canonical_identity, parse_number, raw_identity, unknown_column)
from pilots.readers.base import RawTable

_EMPTY_ROW = dict.fromkeys(["row_number", *(c.name for c in COLUMNS)])
HEADER = [c.name for c in COLUMNS]


# --- the reference: main's row-by-row normalise_table ------------------------------------------
def reference_normalise(raw: RawTable, kpi_units: dict[tuple[str, str], str] | None = None) -> NormalisedFile:
    """Map headers, drop total rows, and canonicalise every value of a RawTable.

    kpi_units ((pilot_id, kpi_code) -> unit) lets `%` pass on percent KPIs and `บาท` on baht KPIs
    only; without it both are accepted and left to the checks.
    """
    issues: list[Issue] = []
    positions: dict[str, int] = {}
    repeats: list[tuple[str, int, str]] = []
    for i, cell in enumerate(raw.header):
        name = HEADER_NAMES.get(header_key(cell))
        if name and name not in positions:
            positions[name] = i
        elif name:
            repeats.append((name, i, clean_text(cell) or cell))
        elif header_key(cell):
            issues.append(unknown_column(clean_text(cell) or ""))
    # A repeated column is one column: an empty first cell takes the repeat's value (but a
    # workbook's percentage cell); two different values are a defect, on the first row (not a
    # total row) where they differ.
    folded = [list(cells) for _, cells in raw.rows]
    for name, i, written in repeats:
        item_at, j = positions.get("item_code"), positions[name]
        reported = False
        for (row_number, _), cells in zip(raw.rows, folded):
            repeat = clean_text(cells[i]) if i < len(cells) else None
            if repeat is None:
                continue
            kept = clean_text(cells[j]) if j < len(cells) else None
            if kept is None and i not in raw.percent_cells.get(row_number, ()):
                cells.extend([None] * (j + 1 - len(cells)))
                cells[j] = cells[i]
                continue
            item = clean_text(cells[item_at]) if item_at is not None and item_at < len(cells) else None
            if kept != repeat and not reported and not _is_total_row({"item_code": item}, cells):
                issues.append(make_issue("COLUMN_REPEATED", row_number, name, column=name, header=written))
                reported = True

    rows: list[dict[str, str | int | None]] = []
    kept_rows: list[tuple[int, list[str | None]]] = []  # (row number, cells) of the rows not totals
    first: tuple[int, list[str | None]] | None = None  # the first data row, as read
    placed = tuple(positions.items())
    width = max(positions.values(), default=-1) + 1  # a row at least this long has every mapped cell
    cleaned = clean_text.memo  # texts cleaned before: looked up here, without a call per cell
    for (row_number, as_read), cells in zip(raw.rows, folded):
        if len(cells) >= width:
            values = {name: cleaned[c] if (c := cells[i]) in cleaned else clean_text(c) for name, i in placed}
        else:  # a short (ragged) row: its missing cells are empty
            values = {name: clean_text(cells[i]) if i < len(cells) else None for name, i in placed}
        if _is_total_row(values, cells):
            issues.append(make_issue("TOTAL_ROW_IGNORED", row_number))
            continue
        first = first or (row_number, as_read)
        kept_rows.append((row_number, cells))
        # row_number, then every column in the contract's order (None where the file has none)
        row: dict[str, str | int | None] = {**_EMPTY_ROW, **values, "row_number": row_number}
        at = raw.percent_cells.get(row_number)
        _canonicalise(row, issues, kpi_units, {name for name, i in placed if i in at} if at else frozenset())
        rows.append(row)

    line_types = {r["line_type"] for r in rows} & set(LINE_TYPES)
    needed = required_columns(line_types)
    missing = {name for name in needed if name not in positions}
    for name in needed:
        if name in missing:
            issues.append(make_issue("COLUMN_MISSING", None, name, column=name, thai=BY_NAME[name].thai))
    if not rows:
        issues.append(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "only_totals")))
    headers = {name: clean_text(raw.header[i]) or raw.header[i] for name, i in positions.items()}
    declared = {k: v for k, v in canonical_identity(raw.identity).items() if v is not None} if raw.identity else {}
    # Added with COLUMN_UNNAMED (verifier VO): an empty header cell over data on a row not a total.
    for i, cell in enumerate(raw.header):
        if header_key(cell):
            continue
        row = next((n for n, cells in kept_rows if i < len(cells) and clean_text(cells[i]) is not None), None)
        if row is not None:
            issues.append(make_issue("COLUMN_UNNAMED", row, None, row=row,
                                     place=detail("COLUMN_UNNAMED", "number", number=i + 1)))
    return NormalisedFile(rows, issues, missing, headers=headers, raw_identity=raw_identity(raw, first, positions),
                          declared=declared)


def _is_total_row(values: dict[str, str | None], cells: list[str | None]) -> bool:
    if values.get("item_code"):
        return False  # a row with an item code is never a total
    return any(c and any(w in c.casefold() for w in TOTAL_WORDS) for c in cells)


def _canonicalise(row: dict, issues: list[Issue], kpi_units: dict[tuple[str, str], str] | None,
                  percent_cells: set[str] = frozenset()) -> None:
    """percent_cells: the row's columns that were workbook percentage cells (their text is the value
    as shown: 82.5 for a stored 0.825). Only a percent KPI's actual may be one (without a registry,
    any KPI's); anywhere else it is a unit defect, PERCENT_CELL_NOT_ALLOWED."""
    rn = row["row_number"]
    for name in _TEXT_COLUMNS:  # in the contract's order: so are their issues
        v = row[name]
        if v is not None:
            masked, found = _mask_national_ids(v)
            if found:
                issues.append(make_issue("NATIONAL_ID_MASKED", rn, name, column=name))
            row[name] = masked
    for name, read in _READ_COLUMNS:
        v = row[name]
        if v is not None:
            row[name] = read(v)
    unit = (kpi_units or {}).get((row["pilot_id"], row["item_code"])) if row["line_type"] == "kpi" else None
    known = kpi_units is not None
    for name in sorted(percent_cells, key=COLUMN_ORDER.get):
        if row[name] is not None and not (name == "actual" and row["line_type"] == "kpi" and (unit == "percent" or not known)):
            issues.append(make_issue("PERCENT_CELL_NOT_ALLOWED", rn, name, column=name, value=f"{row[name]}%"))
    if row["actual"] is not None:
        row["actual"] = parse_number(
            row["actual"], allow_percent=unit == "percent" or not known, allow_baht=unit == "baht" or not known
        ) or row["actual"]
    for name in ("allocated_thb", "disbursed_thb"):
        if row[name] is not None:
            row[name] = parse_number(row[name], allow_percent=False, allow_baht=True) or row[name]


# --- hand-worked cases ------------------------------------------------------------------------

def table(rows: list[list[str | None]], header: list[str] = HEADER, percent_cells=None) -> RawTable:
    return RawTable("csv", "utf-8", header, [(n, cells) for n, cells in enumerate(rows, start=2)],
                    percent_cells=percent_cells or {})


def budget(allocated: str | None, disbursed: str | None, note: str | None = None, code: str = "ACT-1") -> list:
    return ["PLT-1", "3009", "2548-Q1", "2005-01-20", "budget", code, "5", None, allocated, disbursed, "own", note]


def test_plain_columns_read_as_each_cell_would():
    out = normalise_table(table([budget("1,250,000.50", "0", "n/a"), budget("-1,000", "12", " x "),
                                 budget("007", "1e5", "N/A"), budget(None, "1,25", "ok")]))
    assert [(r["allocated_thb"], r["disbursed_thb"], r["note"]) for r in out.rows] == [
        ("1250000.50", "0", None),   # thousands separators dropped; an ASCII placeholder is empty
        ("-1000", "12", "x"),        # spaces at the ends trimmed
        ("7", "1e5", None),          # not plain: read the long way (007 -> 7; 1e5 is no number)
        (None, "1,25", "ok")]        # 1,25 is no number either: left as written for the checks
    assert [r["agency_code"] for r in out.rows] == ["03009"] * 4


def test_a_cell_holding_a_newline_is_not_taken_for_two_plain_cells():
    # Joined, "1\n2" would read as two canonical numbers; it is one text, which is no number.
    out = normalise_table(table([budget("1\n2", "5"), budget("3", "4")]))
    assert [r["allocated_thb"] for r in out.rows] == ["1\n2", "3"]
    out = normalise_table(table([budget("10", "5", "a\nn/a"), budget("3", "4", "n/a")]))
    assert [r["note"] for r in out.rows] == ["a\nn/a", None]


def test_defects_come_in_row_order_as_before():
    rows = [budget("10", "5", "id 1101700230708"), ["รวม", None, None, None, None, None, None, None, "15"],
            ["PLT-1", "3009", "2548-Q1", "2005-01-20", "kpi", "K1", None, "57.5"]]
    out = normalise_table(table(rows, percent_cells={2: frozenset({8}), 4: frozenset({7})}), {("PLT-1", "K1"): "count"})
    assert [(i.code, i.row_number, i.column_name) for i in out.issues] == [
        ("NATIONAL_ID_MASKED", 2, "note"), ("PERCENT_CELL_NOT_ALLOWED", 2, "allocated_thb"),
        ("TOTAL_ROW_IGNORED", 3, None), ("PERCENT_CELL_NOT_ALLOWED", 4, "actual")]
    assert out.issues[1].message_en.count("10%") == 1 and out.rows[0]["note"] == "id [masked-id]"
    assert [r["row_number"] for r in out.rows] == [2, 4]


# --- generated tables: the columns' reading equals the rows' -----------------------------------

def equal(a: NormalisedFile, b: NormalisedFile) -> bool:
    return (a.rows == b.rows and [list(r) for r in a.rows] == [list(r) for r in b.rows] and a.issues == b.issues
            and a.missing_columns == b.missing_columns and a.headers == b.headers and a.raw_identity == b.raw_identity)


CELLS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "-", "n/a", "N/A", "N/a", "รอข้อมูล", " 12 ", "12", "0", "-0", "007", "1,250",
                     "1,250,000.00", "-1,250.5", "01,250", "1,25", "1e5", "12.5%", "1.5 ล้านบาท", "๑๒.๕", "5 บาท",
                     "2548-Q1", "ไตรมาส 1/2548", "17 มกราคม 2548", "2005-01-20", "kpi", "งบประมาณ", "budget",
                     "own", "งบบูรณาการ", "3009", "03009", "5", "5.0", "PLT-1", "K1", "ACT-1", "รวม", "Total",
                     "1101700230708", "id 1-1017-00230-70-8.", "1 1017 00230 70 8", "๑๑๐๑๗๐๐๒๓๐๗๐๘",
                     "\uff11\uff11\uff10\uff11\uff17\uff10\uff10\uff12\uff13\uff10\uff17\uff10\uff18", "11017002307080", "x\n1", "1\n2", "\u200bK1", "กำ", "ก\u0e4d\u0e32", "a b", "total 5"]),
    st.text(alphabet="0123456789,.- %n/aAKPLT\n\u200b", max_size=8),
    st.text(max_size=6))
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=14), max_size=8)
HEADERS = st.lists(st.sampled_from(HEADER + ["รหัสรายการ", "หมายเหตุ", "junk", "", "actual"]), min_size=1, max_size=14)


@settings(max_examples=400, deadline=None)
@given(rows=ROWS, header=st.one_of(st.just(HEADER), HEADERS), units=st.sampled_from([None, {}, {
    ("PLT-1", "K1"): "percent", ("PLT-1", "K2"): "baht"}]), data=st.data())
def test_reading_by_columns_equals_reading_by_rows(rows, header, units, data):
    percent = {n: frozenset(data.draw(st.sets(st.integers(0, 13), max_size=3)))
               for n in data.draw(st.sets(st.integers(2, 2 + len(rows)), max_size=3))}
    raw = table(rows, header, percent)
    assert equal(normalise_table(raw, units), reference_normalise(raw, units))


# --- the whole-column shortcuts, against their definitions --------------------------------------

PLAIN_CELL = re.compile(r"[!-~](?:[ -~]*[!-~])?")  # printable ASCII, no space at either end


@pytest.mark.parametrize(("texts", "plain"), [
    ({None}, True), (set(), True), ({"PLT-1", "2548-Q1", None}, True), ({"a b", "x"}, True),
    ({""}, False), ({"", "x"}, False), ({" x"}, False), ({"x "}, False), ({"x", " "}, False),
    ({"a\nb"}, False), ({"a\n", "b"}, False), ({"\nb", "a"}, False), ({"a\tb"}, False), ({"a\x7f"}, False),
    ({"a\rb"}, False), ({"n/a"}, False), ({"N/A", "x"}, False), ({"-"}, False), ({"--"}, True),
    ({"งบประมาณ"}, False), ({"x", "\u200bx"}, False)])
def test_a_column_is_plain_only_when_clean_text_gives_each_text_back(texts, plain):
    assert normalise._all_plain(set(texts)) is plain
    if plain:
        assert all(clean_text(t) == t for t in texts)


@settings(max_examples=500, deadline=None)
@given(st.sets(st.one_of(st.none(), CELLS, st.text(alphabet=st.characters(max_codepoint=0x80), max_size=5)), max_size=6))
def test_a_column_is_plain_exactly_when_each_text_is_a_plain_cell(texts):
    expected = all(t is None or (PLAIN_CELL.fullmatch(t) is not None and t.casefold() not in normalise.PLACEHOLDERS)
                   for t in texts)
    assert normalise._all_plain(set(texts)) is expected
    if expected:
        assert all(clean_text(t) == t for t in texts)


def test_a_header_row_is_read_once_and_each_file_gets_its_own_issues_and_headers():
    header = ["pilot_id", "junk", "ผลการดำเนินงาน", "pilot_id"]
    first, second = normalise_table(table([["PLT-1", "x", "5", "y"]], header)), normalise_table(table([["PLT-2", "z", "6", "w"]], header))
    assert [i.code for i in first.issues if i.code == "COLUMN_UNKNOWN"] == ["COLUMN_UNKNOWN"]
    assert first.headers == second.headers == {"pilot_id": "pilot_id", "actual": "ผลการดำเนินงาน"}
    assert first.issues is not second.issues and first.headers is not second.headers
    assert [r["pilot_id"] for r in second.rows] == ["PLT-2"] and second.rows[0]["actual"] == "6"
    wide = [f"extra{i}" for i in range(normalise.MEMO_HEADER_CELLS + 1)]
    normalise_table(table([["a"] * len(wide)], wide))
    assert tuple(wide) not in normalise._HEADERS  # a very wide header is read each time, not kept


def test_only_headers_naming_every_column_are_remembered_and_at_most_memo_headers_of_them(monkeypatch):
    monkeypatch.setattr(normalise, "_HEADERS", {})
    monkeypatch.setattr(normalise, "MEMO_HEADERS", 2)
    clean, junk = ["pilot_id", "period"], ["pilot_id", "junk-2026-12-05T10:00"]
    normalise_table(table([["PLT-1", "2549-Q1"]], clean))
    normalise_table(table([["PLT-1", "x"]], junk))
    assert list(normalise._HEADERS) == [tuple(clean)]  # the junk header's Issues quote agency text: not kept
    for extra in ("agency_code", "layer"):
        normalise_table(table([["PLT-1", "2549-Q1", "x"]], [*clean, extra]))
    assert list(normalise._HEADERS) == [("pilot_id", "period", "layer")]  # cleared at 2, then one kept
