"""Cells as agencies write them -> canonical text, the one place where variants are understood.

Output values are text in canonical form (period `2548-Q1`, date `2004-12-20` in CE, number
`1250000.00`, line type `kpi`, funding source `own`, agency `03009`). A value that cannot be read
is left as cleaned text, so that the Great Expectations suite (pilots.checks) reports it with its
row and column. Missing-value placeholders become None.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation, localcontext
from functools import wraps
from operator import itemgetter
from typing import Callable, TypeVar

from pilots.contract import BY_NAME, COLUMNS, FUNDING_SOURCES, HEADER_FIELDS, LINE_TYPES, required_columns
from pilots.defects import Issue, detail, make_issue
from pilots.fiscal import BE_OFFSET, is_period
from pilots.kpi_units import NOT_JUDGED, file_agency, kpi_unit
from warehouse.personal import THAI_DIGITS, mask_national_ids
from pilots.readers.base import RawTable
from pilots.thai_dates import THAI_MONTH_NUMBERS

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"))
PLACEHOLDERS = {"", "-", "n/a", "รอข้อมูล"}
TOTAL_WORDS = ("รวม", "total")
THAI_MONTHS = THAI_MONTH_NUMBERS  # every spelling read: full, abbreviated, abbreviated without dots
# Texts up to this many characters are read once per process and remembered (per_distinct).
MEMO_MAX_CHARS = 64
MEMO_ENTRIES = 1 << 15
MEMO_HEADER_CELLS = 64  # header rows up to this many cells (of short texts) are read once too

F = TypeVar("F", bound=Callable)


def per_distinct(fn: F) -> F:
    """Remember a pure one-text function's answer for short texts (at most MEMO_ENTRIES of them:
    the memo starts afresh when full).

    A report repeats its pilot, agency, period, date, line type, layer and funding source on
    every line, so most cells of a night are texts already read: the read stage then costs what
    the distinct texts cost. A long text (a note) is read each time, so the memo stays small
    whatever the files hold. The functions are pure and return immutable values (text, None, tuples),
    so a remembered answer is the answer."""
    memo: dict = {}

    @wraps(fn)
    def read(text):
        try:
            return memo[text]
        except KeyError:
            pass
        value = fn(text)
        if text is None or len(text) <= MEMO_MAX_CHARS:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            memo[text] = value
        return value
    read.memo = memo  # type: ignore[attr-defined]  # for a look-up without a call (main's row-by-row reading, kept in tests)
    return read  # type: ignore[return-value]


@per_distinct
def clean_text(value: str | None) -> str | None:
    """Remove zero-width characters, compose sara am, trim; placeholders -> None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value.translate(ZERO_WIDTH)).replace("\u0e4d\u0e32", "\u0e33").strip()
    return None if text.casefold() in PLACEHOLDERS else text


def header_key(cell: str | None) -> str:
    return (clean_text(cell) or "").casefold()


COLUMN_ORDER = {col.name: i for i, col in enumerate(COLUMNS)}
HEADER_NAMES: dict[str, str] = {}
for _col in COLUMNS:
    HEADER_NAMES[_col.name.casefold()] = _col.name
    HEADER_NAMES[header_key(_col.thai)] = _col.name


def unknown_column(header: str) -> Issue:
    """COLUMN_UNKNOWN for a header that names no column, with the closest accepted spelling when
    one is close (difflib, ratio >= 0.8: `ผลการดำเนนงาน` -> `ผลการดำเนินงาน`)."""
    spellings = {header_key(s): s for col in COLUMNS for s in (col.name, col.thai)}
    close = difflib.get_close_matches(header_key(header), list(spellings), n=1, cutoff=0.8)
    return make_issue("COLUMN_UNKNOWN", header=header,
                      detail=detail("COLUMN_UNKNOWN", "did_you_mean" if close else "not_read",
                                    **({"spelling": spellings[close[0]]} if close else {})))


# --- value parsers: each returns canonical text, or None when it cannot read the value --------
@per_distinct
def parse_period(text: str) -> str | None:
    # Any Unicode space is a space (str.split): Excel and web exports put U+00A0 between
    # `ไตรมาส` and the number as often as U+0020, and numbers already read it so.
    t = "".join(text.translate(THAI_DIGITS).split())
    m = re.fullmatch(r"([0-9]{4})-?Q([1-4])", t, re.I)
    if m:
        return f"{m.group(1)}-Q{m.group(2)}" if int(m.group(1)) >= 2400 else None
    m = re.fullmatch(r"FY([0-9]{4})-?Q([1-4])", t, re.I)
    if m:  # CE name of the fiscal year; FY2548 is a BE year under the CE prefix: not read (3091-Q1)
        return f"{int(m.group(1)) + BE_OFFSET}-Q{m.group(2)}" if int(m.group(1)) < 2400 else None
    m = re.fullmatch(r"(?:Q|ไตรมาส(?:ที่)?)?([1-4])/([0-9]{4}|[0-9]{2})", t, re.I)
    if m:
        year = int(m.group(2))
        year = 2500 + year if year < 100 else year  # two digits are BE: 48 -> 2548
        return f"{year}-Q{m.group(1)}" if year >= 2400 else None
    return None


def _year_to_ce(year: int, digits: int) -> int:
    if digits == 2:
        return 2500 + year - BE_OFFSET  # 2-digit years are BE: 47 -> 2547
    return year - BE_OFFSET if year >= 2400 else year


def _make_date(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None  # impossible dates (31/02, month 13) are defects


@per_distinct
def parse_date(text: str) -> str | None:
    t = text.translate(THAI_DIGITS).strip()
    t = re.sub(r"[ T]00:00(:00)?$", "", t)  # a date exported with a midnight time
    m = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", t)
    if m:
        return _make_date(_year_to_ce(int(m.group(1)), 4), int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}|[0-9]{2})", t)
    if m:  # slashed dates are day/month/year
        y = m.group(3)
        return _make_date(_year_to_ce(int(y), len(y)), int(m.group(2)), int(m.group(1)))
    m = re.fullmatch(r"([0-9]{1,2})\s*([ก-๛.]+)\s*([0-9]{4}|[0-9]{2})", t)
    if m and m.group(2) in THAI_MONTHS:
        y = m.group(3)
        return _make_date(_year_to_ce(int(y), len(y)), THAI_MONTHS[m.group(2)], int(m.group(1)))
    return None


# ASCII digits only (Thai ones are translated first): `\d` alone would also take Arabic-Indic
# and fullwidth digits, which Decimal() reads, but the spec does not (tests/test_fuzz.py).
NUMBER_TEXT = re.compile(r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[-+]?\.\d+", re.ASCII)
# A number already in canonical form (no sign but `-`, no leading zero, no separator, no unit):
# format(Decimal(text), "f") gives it back digit for digit, so it is returned as it is.
CANONICAL_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def parse_number(text: str, *, allow_percent: bool, allow_baht: bool) -> str | None:
    if CANONICAL_NUMBER.fullmatch(text):
        return text
    t = text.translate(THAI_DIGITS).replace("\u00a0", " ").strip()
    scale = Decimal(1)
    if allow_percent and t.endswith("%"):
        t = t[:-1].strip()
    elif allow_baht and t.endswith("ล้านบาท"):
        t, scale = t[: -len("ล้านบาท")].strip(), Decimal(1_000_000)
    elif allow_baht and t.endswith("บาท"):
        t = t[: -len("บาท")].strip()
    if not NUMBER_TEXT.fullmatch(t):
        return None
    if scale == 1 and CANONICAL_NUMBER.fullmatch(plain := t.replace(",", "")):
        return plain  # thousands separators only (`29,950,000.00`): what Decimal would write back
    try:
        # Exact: the default context (28 digits) would round a longer number before validation
        # judges it (an actual of 25 digits and 10 decimals, issue 24 item 3b).
        with localcontext(prec=len(t) + 8):
            value = Decimal(t.replace(",", "")) * scale
    except InvalidOperation:
        return None
    return format(value, "f")  # plain notation, never an exponent


@per_distinct
def parse_agency_code(text: str) -> str:
    """An agency code as 5 digits where the text is a whole number of up to 5 digits, else the text
    as written (AGENCY_CODE_INVALID names it). Excel turns `03009` into the number 3009, and a CSV
    or JSON exported from a sheet may write a whole number as `3009.0` or `11002.0`: the code is that
    number (agency-report-v1.md: padded "from a number cell or text"), 5 digits long or shorter
    alike; padding `3009.0` but refusing `11002.0` was one rule read two ways (verifier VO)."""
    t = text.translate(THAI_DIGITS)
    if _AGENCY_NUMBER.fullmatch(t):
        return t.split(".")[0].zfill(5)
    return t


_AGENCY_NUMBER = re.compile(r"[0-9]{1,5}(\.0+)?")


@per_distinct
def parse_layer(text: str) -> str:
    """A layer's digits as a number's text ("05", "๕", "5.0" -> "5"), else the text as written (for
    LAYER_INVALID to name it). Never int() of the whole text: Python refuses more than 4,300
    digits (a ValueError that stopped every night), and a layer is one digit anyway. ASCII and
    Thai digits only, as for every other number (the verifier found `٣` and `３` read as 3)."""
    t = text.translate(THAI_DIGITS)
    m = _LAYER_TEXT.fullmatch(t)
    if m is None:
        return t
    digits = m.group(1).lstrip("0") or "0"
    return digits if len(digits) <= 2 else t


_LAYER_TEXT = re.compile(r"([0-9]+)(?:\.0+)?")


def _lookup(text: str, names: dict[str, str]) -> str:
    key = text.casefold()
    for canonical, thai in names.items():
        if key in (canonical, thai):
            return canonical
    return text


_mask_national_ids = per_distinct(mask_national_ids)


@per_distinct
def _period_or_text(text: str) -> str:
    return parse_period(text) or text


@per_distinct
def _date_or_text(text: str) -> str:
    return parse_date(text) or text


@per_distinct
def _line_type(text: str) -> str:
    return _lookup(text, LINE_TYPES)


@per_distinct
def _funding_source(text: str) -> str:
    return _lookup(text, FUNDING_SOURCES)


# How each kind of column is read, per cell (each a pure one-text function, remembered per
# distinct text); text columns are masked in _canonicalise (they may report NATIONAL_ID_MASKED);
# numbers and amounts are read there too, as a percent or baht unit may stand on them.
_READ_BY_KIND: dict[str, Callable[[str], str]] = {
    "agency_code": parse_agency_code, "period": _period_or_text, "date": _date_or_text,
    "line_type": _line_type, "funding_source": _funding_source, "layer": parse_layer}
_READ_COLUMNS: tuple[tuple[str, Callable[[str], str]], ...] = tuple(
    (c.name, _READ_BY_KIND[c.kind]) for c in COLUMNS if c.kind in _READ_BY_KIND)
_TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "text")


# --- rows ------------------------------------------------------------------------------------
@dataclass
class NormalisedFile:
    rows: list[dict[str, str | int | None]]   # row_number + canonical columns
    issues: list[Issue]                      # file-level defects and warnings found here
    missing_columns: set[str]
    # canonical name -> the header cell (JSON: field name) as the file wrote it, so that messages
    # name the column the agency sees (`ผลการดำเนินงาน`, not `actual`).
    headers: dict[str, str] = field(default_factory=dict)
    # The submission's identity exactly as the file wrote it (untrusted text): see raw_identity().
    raw_identity: dict[str, str | None] = field(default_factory=dict)
    # A JSON document's top-level identity fields, canonical, where readable: what its lines must
    # repeat (checks.file_defects). Empty for CSV and Excel, whose rows are all alike.
    declared: dict[str, str] = field(default_factory=dict)


def raw_identity(raw: RawTable, first: tuple[int, list[str | None]] | None,
                 positions: dict[str, int]) -> dict[str, str | None]:
    """pilot_id, agency_code, period and submitted_on as written: a JSON document's top-level
    fields (scoring.md §6), else the first data row's cells (a field a JSON document has only in
    its lines is taken from its first line too)."""
    cells = first[1] if first else []
    return {name: raw.identity[name] if name in raw.identity
            else (cells[positions[name]] if name in positions and positions[name] < len(cells) else None)
            for name in HEADER_FIELDS}


def canonical_identity(raw: dict[str, str | None]) -> dict[str, str | None]:
    """The canonical value of each identity field where this normaliser can read it, else None.

    pilot_id has no canonical form beyond cleaning (zero-width characters, ID masking); the
    agency must come out as 5 digits, the period as 2548-Q1, the date as an ISO date.
    """
    out: dict[str, str | None] = {}
    for name in HEADER_FIELDS:
        text = clean_text(raw.get(name))
        if text is None:
            out[name] = None
        elif name == "pilot_id":
            out[name] = mask_national_ids(text)[0]
        elif name == "agency_code":
            code = parse_agency_code(text)
            out[name] = code if re.fullmatch(r"[0-9]{5}", code) else None
        elif name == "period":  # the rows' own rule (fiscal.PERIOD): ASCII digits, a BE year
            period = parse_period(text)
            out[name] = period if is_period(period) else None
        else:
            out[name] = parse_date(text)
    return out


def normalise_table(raw: RawTable, kpi_units: dict[tuple, str] | None = None) -> NormalisedFile:
    """Map headers, drop total rows, and canonicalise every value of a RawTable.

    kpi_units (Registry.kpi_units, read with pilots.kpi_units.kpi_unit for the file's agency) lets
    `%` pass on percent KPIs and `บาท` on baht KPIs only; without it both are accepted and left to
    the checks.

    The table is read column by column: each column's distinct texts are read once (a report
    repeats its pilot, agency, period, date and line type on every line), and the rows are then
    put together from the columns. The answer is what reading each row in turn gives
    (tests/test_normalise_columns.py keeps that reading as its reference), cell for cell and defect
    for defect, in the same order; it costs half as much.
    """
    header = _read_header(tuple(raw.header))
    positions = header.positions
    issues: list[Issue] = list(header.issues)

    width = max(positions.values(), default=-1) + 1  # a row at least this long has every mapped cell
    padded = list(map(_cells_of, raw.rows))
    if padded and min(map(len, padded)) < width:  # a short (ragged) row's missing cells are empty
        padded = [cells if len(cells) >= width else cells + [None] * (width - len(cells)) for cells in padded]
    if header.repeats:
        issues.extend(_fold_repeated_columns(raw, padded, header))
    by_position = list(zip(*padded)) if padded else []
    n = len(padded)
    # Each mapped column, cleaned (clean_text), and its distinct texts; unmapped ones are None throughout.
    cleaned, distinct_in = _cleaned_columns({name: by_position[i] for name, i in positions.items()}) if n else ({}, {})
    empty = (None,) * n

    # Total rows: a row without an item code that says รวม/total anywhere (in any cell, as written).
    item_codes = cleaned.get("item_code", empty)
    # (A cleaned cell is never "", but a column of raw cells could hold one: both are looked for.)
    totals = ({j for j in range(n) if not item_codes[j] and _says_total(padded[j])}
              if None in item_codes or "" in item_codes else set())

    final: dict[str, list | tuple] = {}
    masked_at: dict[str, set[int]] = {}
    for name in _TEXT_COLUMNS:  # masked: they may report NATIONAL_ID_MASKED
        column = cleaned.get(name)
        if column is None:
            final[name] = empty
            continue
        distinct = distinct_in[name]
        if not _may_hold_national_id(distinct):  # nothing masked
            final[name] = _one_object_per_text(column, distinct)
            continue
        read = _per_distinct_text(_mask_or_none, column, distinct)
        final[name] = [r[0] if r is not None else None for r in read]
        masked_at[name] = {j for j, r in enumerate(read) if r is not None and r[1]}
    for name, reader in _READ_COLUMNS:
        column = cleaned.get(name)
        final[name] = empty if column is None else _per_distinct_text(
            lambda v, read=reader: None if v is None else read(v), column, distinct_in[name])

    # A KPI line's unit, from the registry (None on other lines, or an unknown KPI); a restricted
    # pilot's for a file of its lead agency only (pilots/kpi_units.py): the file's agency, as the
    # checks take it, from its rows but total rows and a JSON document's top level. A restricted
    # pilot's line in another agency's file is NOT_JUDGED: both signs pass, as without a registry.
    known = kpi_units is not None
    units = kpi_units or {}
    line_types, pilot_ids, codes = final["line_type"], final["pilot_id"], final["item_code"]
    declared = {name: value for name, value in canonical_identity(raw.identity).items()
                if value is not None} if raw.identity else {}
    agency: list[str | None] = []  # the file's agency, found when a unit is first looked up

    def unit_of(j: int) -> str | None:
        if line_types[j] != "kpi":
            return None
        if not agency:
            agency.append(file_agency((a for i, a in enumerate(final["agency_code"]) if i not in totals), declared))
        return kpi_unit(units, pilot_ids[j], codes[j], agency[0])

    actual_text = cleaned.get("actual")
    if actual_text is None:
        final["actual"] = empty
    else:  # the unit matters to no cell when every number is plain
        final["actual"] = _plain_numbers(actual_text, distinct_in["actual"]) or [None if v is None else parse_number(
            v, allow_percent=unit in ("percent", NOT_JUDGED) or not known,
            allow_baht=unit in ("baht", NOT_JUDGED) or not known) or v
            for j, v in enumerate(actual_text) for unit in (unit_of(j),)]
    for name in ("allocated_thb", "disbursed_thb"):
        column = cleaned.get(name)
        final[name] = empty if column is None else _plain_numbers(column, distinct_in[name]) or _per_distinct_text(
            lambda v: None if v is None else parse_number(v, allow_percent=False, allow_baht=True) or v, column,
            distinct_in[name])

    # Defects of rows, in row order: a total row's, else its masked IDs (the contract's order of
    # the text columns), then its percentage cells (ditto).
    percent_at = {}
    if raw.percent_cells:
        placed = tuple(positions.items())
        for j, (row_number, _) in enumerate(raw.rows):
            at = raw.percent_cells.get(row_number)
            if at and j not in totals:
                percent_at[j] = sorted((name for name, i in placed if i in at), key=COLUMN_ORDER.get)
    flagged = sorted(totals.union(percent_at, *masked_at.values()))
    for j in flagged:
        rn = raw.rows[j][0]
        if j in totals:
            issues.append(make_issue("TOTAL_ROW_IGNORED", rn))
            continue
        for name in _TEXT_COLUMNS:
            if j in masked_at.get(name, ()):
                issues.append(make_issue("NATIONAL_ID_MASKED", rn, name, column=name))
        for name in percent_at.get(j, ()):
            # The value as it stood when read: a number column's cleaned text, else its reading.
            value = cleaned[name][j] if name in _NUMBER_COLUMNS else final[name][j]
            if value is not None and not (name == "actual" and line_types[j] == "kpi"
                                          and (unit_of(j) in ("percent", NOT_JUDGED) or not known)):
                issues.append(make_issue("PERCENT_CELL_NOT_ALLOWED", rn, name, column=name, value=f"{value}%"))

    # row_number, then every column in the contract's order (None where the file has none)
    kept = [j for j in range(n) if j not in totals] if totals else range(n)
    row_numbers = list(map(_row_number_of, raw.rows))
    rows: list[dict[str, str | int | None]] = list(map(_row_of, row_numbers, *(final[c.name] for c in COLUMNS)))
    if totals:
        rows = [rows[j] for j in kept]
    first = (raw.rows[kept[0]][0], raw.rows[kept[0]][1]) if rows else None  # the first data row, as read

    line_types_seen = set(line_types if not totals else [line_types[j] for j in kept]).intersection(LINE_TYPES)
    needed = required_columns(line_types_seen)
    missing = {name for name in needed if name not in positions}
    for name in needed:
        if name in missing:
            issues.append(make_issue("COLUMN_MISSING", None, name, column=name, thai=BY_NAME[name].thai))
    if not rows:
        issues.append(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "only_totals")))
    if raw.identity:
        issues.extend(_unreadable_top_level(raw, declared, by_position, positions))
    if header.unnamed and n:
        issues.extend(_unnamed_columns(raw, padded, by_position, header.unnamed, totals))
    return NormalisedFile(rows, issues, missing, headers=dict(header.headers),
                          raw_identity=raw_identity(raw, first, positions), declared=declared)


def _unnamed_columns(raw: RawTable, padded: list[list[str | None]], by_position: list[tuple],
                     unnamed: tuple[int, ...], totals: set[int]) -> list[Issue]:
    """COLUMN_UNNAMED for each column whose header cell is empty but which holds data on a row
    that is not a total row (a total row is left out, with its own warning): the column is not
    read, and a column of unknown name is named (COLUMN_UNKNOWN), so this one must be too, by its
    place and its first row with data, or values the agency typed vanish without a word (verifier
    VO). A placeholder (`-`, `n/a`) is no data; an empty header cell over empty cells says nothing."""
    found = []
    for i in unnamed:
        # Most such columns are empty: their distinct texts tell at once (a column past the
        # shortest row is not in by_position: looked at row by row).
        if i < len(by_position) and all(clean_text(t) is None for t in set(by_position[i])):
            continue
        row = next((raw.rows[j][0] for j, cells in enumerate(padded)
                    if i < len(cells) and clean_text(cells[i]) is not None and j not in totals), None)
        if row is not None:
            column = raw.columns[i] if raw.columns else i  # the sheet's own column (RawTable.columns)
            found.append(make_issue("COLUMN_UNNAMED", row, None, place=_column_place(raw.format, column), row=row))
    return found


def _column_place(fmt: str, i: int):
    """Where the column at position i stands, as the agency finds it: a workbook's column letter, a
    CSV's place from the left; in JSON, a field whose name is empty."""
    if fmt == "xlsx":
        letters, n = "", i + 1
        while n:
            n, r = divmod(n - 1, 26)
            letters = chr(65 + r) + letters
        return detail("COLUMN_UNNAMED", "letter", letter=letters)
    if fmt == "json":
        return detail("COLUMN_UNNAMED", "json_field")
    return detail("COLUMN_UNNAMED", "number", number=i + 1)


# An identity field's row check, and so its defect when the text cannot be read.
_IDENTITY_DEFECT = {"agency_code": "AGENCY_CODE_INVALID", "period": "PERIOD_INVALID", "submitted_on": "DATE_INVALID"}


def _unreadable_top_level(raw: RawTable, declared: dict[str, str], by_position: list[tuple],
                          positions: dict[str, int]) -> list[Issue]:
    """A JSON document's top-level identity field that holds text but cannot be read.

    agency-report-v1.md's layout puts the identity at the top of the document, and the top level
    is the submission's identity (checks.file_defects). A line without a field of its own
    inherits the top-level text, and the row checks then name that text on the line. But when
    every line carries its own field, no line holds the top-level text: `"period": "2548-Q9"`
    over lines that all say 2548-Q1 was accepted as Q1. So the field's own defect is raised on
    the file (no row), only then (else the same text would be named twice).
    """
    found = []
    for name, code in _IDENTITY_DEFECT.items():
        text = clean_text(raw.identity.get(name))
        if text is None or name in declared:
            continue
        column = by_position[positions[name]] if by_position and name in positions else ()
        if not any(clean_text(cell) == text for cell in set(column)):
            found.append(make_issue(code, None, name, value=mask_national_ids(text)[0]))
    return found


@dataclass(frozen=True)
class _Header:
    """What a header row says, the same for every file that writes it so (read once per process)."""
    positions: dict[str, int]   # canonical name -> its first position (never changed once made)
    issues: tuple[Issue, ...]   # COLUMN_UNKNOWN of each header cell that names no column
    headers: dict[str, str]     # canonical name -> the header cell as written, cleaned
    # Each later cell naming a column already named: (canonical name, position, cell as written).
    repeats: tuple[tuple[str, int, str], ...] = ()
    unnamed: tuple[int, ...] = ()  # positions of empty header cells (COLUMN_UNNAMED if data stands below)


_HEADERS: dict[tuple, _Header] = {}
# A header's entry holds up to MEMO_HEADER_CELLS texts: far bigger than the value memos' entries,
# so a cap of its own; and only headers that name every column are kept (an unknown column's
# Issues quote agency text: junk headers, each distinct, would otherwise fill the memo).
MEMO_HEADERS = 256


def _read_header(cells: tuple) -> _Header:
    """The reading of a header row, remembered per distinct row (a night's files write a handful
    of headers; MEMO_HEADERS at most, clean ones only)."""
    found = _HEADERS.get(cells)
    if found is not None:
        return found
    issues: list[Issue] = []
    positions: dict[str, int] = {}
    repeats: list[tuple[str, int, str]] = []
    unnamed: list[int] = []
    for i, cell in enumerate(cells):
        name = HEADER_NAMES.get(header_key(cell))
        if name and name not in positions:
            positions[name] = i
        elif name:
            repeats.append((name, i, clean_text(cell) or cell))
        elif header_key(cell):
            issues.append(unknown_column(clean_text(cell) or ""))
        else:
            unnamed.append(i)
    found = _Header(positions, tuple(issues), {name: clean_text(cells[i]) or cells[i] for name, i in positions.items()},
                    tuple(repeats), tuple(unnamed))
    if not issues and len(cells) <= MEMO_HEADER_CELLS and sum(map(len, filter(None, cells))) <= MEMO_MAX_CHARS * MEMO_HEADER_CELLS:
        if len(_HEADERS) >= MEMO_HEADERS:
            _HEADERS.clear()
        _HEADERS[cells] = found
    return found


def _fold_repeated_columns(raw: RawTable, padded: list[list[str | None]], header: _Header) -> list[Issue]:
    """A column named twice (`actual` and `ผลการดำเนินงาน` in one header; in JSON, a line that
    repeats a top-level field under another spelling, or lines that spell a field two ways) is
    one column: a row whose first column is empty takes the repeat's value (padded is changed in
    place, row by row copied first), and a row where both hold a value takes the first, when they
    say the same. Where they say different things, it is unclear which to read: COLUMN_REPEATED,
    on the first such row of each repeat (a total row is dropped before any other check of it)."""
    item_at = header.positions.get("item_code")

    def total(cells: list[str | None]) -> bool:
        item = clean_text(cells[item_at]) if item_at is not None and item_at < len(cells) else None
        return not item and _says_total(cells)

    if not padded:
        return []
    issues = []
    # A repeat that is empty on every row, or a copy of its first column, changes nothing and says
    # nothing: its column tells at once. (2,000 empty repeats cost a Python step per cell before,
    # 5.5 s against 0.87; the columns are cut out in one pass, in C.)
    # Only as far as the shortest row (zip): one ragged row of 100,000 cells must not make every row
    # that long (rows x longest row, gigabytes for a 590 KB file). A column past the shortest row
    # is cut out on its own.
    columns = list(zip(*padded))

    def column_at(k: int) -> tuple:
        return columns[k] if k < len(columns) else tuple(c[k] if k < len(c) else None for c in padded)

    for name, at, written in header.repeats:
        first = header.positions[name]
        column = column_at(at)
        if all(clean_text(text) is None for text in set(column)) or column == column_at(first):
            continue
        reported = False
        for j, cells in enumerate(padded):
            if at >= len(cells) or (repeat := clean_text(cells[at])) is None:
                continue
            kept = clean_text(cells[first])
            # (A workbook's percentage cell is judged where it stands: it is not moved.)
            if kept is None and at not in raw.percent_cells.get(raw.rows[j][0], ()):
                padded[j] = cells = list(cells)
                cells[first] = cells[at]
            elif kept != repeat and not reported and not total(cells):
                issues.append(make_issue("COLUMN_REPEATED", raw.rows[j][0], name, column=name, header=written))
                reported = True
    return issues

def _row_builder(keys: tuple[str, ...]) -> Callable[..., dict]:
    """A function of one value per key giving the dict {key: value, ...} in the keys' order: a dict
    display, which Python builds in one step, costs half of dict(zip(keys, values)) per row. The
    keys are the contract's column names (identifiers), written into the display as literals."""
    assert all(k.isidentifier() for k in keys)
    names = [f"v{i}" for i in range(len(keys))]
    display = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names))
    return eval(f"lambda {', '.join(names)}: {{{display}}}")  # noqa: S307 (literal identifiers only)


_ROW_KEYS = ("row_number", *(c.name for c in COLUMNS))
_row_of = _row_builder(_ROW_KEYS)  # row_number, then every column's value -> the row's dict
_cells_of = itemgetter(1)  # a raw row (row_number, cells) -> its cells
_row_number_of = itemgetter(0)  # a raw row -> its row number
_NUMBER_COLUMNS = frozenset(c.name for c in COLUMNS if c.kind in ("number", "amount"))


def _per_distinct_text(read: Callable, column, distinct: set | None = None) -> list:
    """read(text) for every cell of a column, each distinct text read once (this file's texts,
    long ones included: the table lives only as long as the file's read). `distinct`: the
    column's distinct texts, when known."""
    if distinct is None:
        distinct = set(column)
    if len(distinct) == 1:  # one text throughout (a report's pilot, agency, period, date)
        return [read(next(iter(distinct)))] * len(column)
    seen = {text: read(text) for text in distinct}
    return list(map(seen.__getitem__, column))


# Whole columns are recognised at once, over their distinct texts joined by newlines (the count of
# newlines makes sure no text held one of its own):
# - a plain cell: printable ASCII without spaces at its ends, which clean_text gives back as it
#   is unless it is a placeholder (the ASCII ones, in any case, are looked for apart): _all_plain;
# - a plain number: canonical (CANONICAL_NUMBER), which parse_number gives back as it is, or the
#   same with thousands separators after a non-zero first digit (`-1,250,000.50`), which it gives
#   back without them, whatever units the cell allows.
# A character of an ASCII text that is neither printable nor the newline that joins texts.
_NOT_PRINTABLE_ASCII = re.compile(r"[^ -~\n]")
_ASCII_PLACEHOLDERS = frozenset({"-", "n/a", "N/A", "n/A", "N/a"})
_PLAIN_NUMBERS = re.compile(r"(?:-?(?:0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:,[0-9]{3})+)(?:\.[0-9]+)?\n)+")
assert {p.casefold() for p in _ASCII_PLACEHOLDERS} == {p for p in PLACEHOLDERS if p.isascii() and p}


def _joined_if_all_match(pattern: re.Pattern, texts: list[str]) -> str | None:
    """The texts joined by newlines (one after the last too) when every one matches a line of
    `pattern`, else None."""
    joined = "\n".join(texts) + "\n"
    return joined if joined.count("\n") == len(texts) and pattern.fullmatch(joined) is not None else None


def _cleaned_columns(columns: dict[str, tuple]) -> tuple[dict[str, tuple | list], dict[str, set]]:
    """clean_text of every cell of these columns (a column itself when every text in it is
    plain), and the distinct texts of each cleaned column (None included), for the readings after."""
    cleaned: dict[str, tuple | list] = {}
    distinct_in: dict[str, set] = {}
    for name, column in columns.items():
        distinct = set(column)
        if _all_plain(distinct):
            cleaned[name], distinct_in[name] = column, distinct
        else:
            if len(distinct) == 1:  # one text throughout: read once, repeated
                value = clean_text(next(iter(distinct)))
                cleaned[name], distinct_in[name] = [value] * len(column), {value}
                continue
            seen = {text: clean_text(text) for text in distinct}
            cleaned[name], distinct_in[name] = list(map(seen.__getitem__, column)), set(seen.values())
    return cleaned, distinct_in


_NONE = frozenset({None})


def _all_plain(distinct: set[str | None]) -> bool:
    """Whether every text of a set (None aside) is a plain cell, which clean_text gives back as it
    is. Joined by newlines, in C but for the calls: a text outside printable ASCII makes the join
    non-ASCII, or holds a control character; one empty or with a space at an end leaves a newline
    or a space where the join starts or ends, or beside another newline."""
    texts = distinct - _NONE if None in distinct else distinct
    if not texts:
        return True
    joined = "\n".join(texts)
    return (joined.isascii() and joined.count("\n") == len(texts) - 1 and _NOT_PRINTABLE_ASCII.search(joined) is None
            and joined != "" and joined[0] not in " \n" and joined[-1] not in " \n"
            and "\n\n" not in joined and " \n" not in joined and "\n " not in joined
            and distinct.isdisjoint(_ASCII_PLACEHOLDERS))


def _plain_numbers(column, distinct: set[str | None]) -> list | tuple | None:
    """parse_number of every cell of a column when each is a plain number (None otherwise);
    `distinct`: the column's distinct texts."""
    texts = list(distinct - _NONE if None in distinct else distinct)
    if not texts:
        return column
    joined = _joined_if_all_match(_PLAIN_NUMBERS, texts)
    if joined is None:
        return None
    if "," not in joined:
        return column
    # Each text without its commas, from one replace over the join (split back in the same order).
    plain = dict(zip(texts, joined.replace(",", "").split("\n")))
    plain[None] = None
    return list(map(plain.__getitem__, column))


# Where a national ID could start: a digit and 12 more digits, `-` or spaces (any candidate of
# personal.NATIONAL_ID, 13 digits with single separators, starts so; searching for this is twice
# as fast). A column none of whose texts holds one has nothing to mask. The texts are joined by
# newlines, which no candidate spans.
_ID_CANDIDATE = re.compile(r"\d[- \d]{12}")


def _may_hold_national_id(distinct: set[str | None]) -> bool:
    """Whether any of a column's distinct texts may hold a national ID (none shorter than a
    candidate's 13 characters does: item codes and pilot IDs are not searched)."""
    texts = distinct - _NONE if None in distinct else distinct
    if max(map(len, texts), default=0) < 13:
        return False
    return _ID_CANDIDATE.search("\n".join(texts)) is not None


# One object per text, for the whole process (bounded like per_distinct's memos: afresh when full).
_TEXT_OBJECTS: dict[str | None, str | None] = {None: None}


def _one_object_per_text(column, distinct: set[str | None]) -> list:
    """The column with each text as the one object kept for it: pickle then sends a text repeated
    in a batch once (a report repeats its pilot on every line, a batch its agencies and notes),
    and the flow process holds it once, as when every text went through the national-ID mask's
    memo. In C but for the calls: set difference, update and look-ups."""
    objects = _TEXT_OBJECTS
    new = distinct.difference(objects)
    if new:
        if len(objects) + len(new) > MEMO_ENTRIES:
            objects.clear()
            objects[None] = None
            new = distinct.difference(objects)
        objects.update(zip(new, new))
    return list(map(objects.get, column, column))  # get, not []: a text is itself if the memo was just cleared


def _mask_or_none(text: str | None) -> tuple[str, bool] | None:
    return None if text is None else _mask_national_ids(text)


def _says_total(cells: list[str | None]) -> bool:
    # Raw cells: zero-width characters are removed first, as from every value (`ร\u200bวม` is รวม).
    return any(c and any(w in c.translate(ZERO_WIDTH).casefold() for w in TOTAL_WORDS) for c in cells)
