"""JSON reports: {"pilot_id", "agency_code", "period", "submitted_on", "lines": [{…}, …]}."""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from itertools import chain, repeat
from typing import Callable

from pilots.contract import HEADER_FIELDS
from pilots.defects import detail, make_issue
from pilots.readers.base import RawTable, ReadFailure, decode_text
from pilots.readers.limits import LIMITS

MAX_DEPTH = 20  # deeper documents are hostile, not reports
# JSON may escape a lone UTF-16 surrogate ("\ud800"); no UTF-8 text, DuckDB or file can hold one.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Decoded text holds no surrogate (UTF-8 and Windows-874 decoding never give one), so a document
# can only hold one through an escape like \ud800: without such an escape, no cell is searched.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def read_json(data: bytes) -> RawTable:
    text, encoding = decode_text(data, "json")
    repeats = _Repeats()
    try:
        doc = _loads(text, repeats)
    except RecursionError:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "json_too_deep")), format="json", encoding=encoding) from None
    except ValueError as exc:  # json.JSONDecodeError: say where, in both languages
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail(
            "FILE_UNREADABLE", "invalid_json", line=getattr(exc, "lineno", "?"), col=getattr(exc, "colno", "?"),
            error=getattr(exc, "msg", exc))), format="json", encoding=encoding) from None
    if not isinstance(doc, dict):
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "json_not_object")), format="json", encoding=encoding)
    # The submission's identity is its top-level fields, readable even when there are no lines.
    # A value nested too deeply to print safely is left out (None), as the rows are refused below.
    text_of = _text if _SURROGATE_ESCAPE.search(text) else _as_is
    identity = {k: None if _depth(doc[k]) > MAX_DEPTH else _cell(doc[k], text_of) for k in HEADER_FIELDS if k in doc}
    lines = doc.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "json_no_lines")),
                          format="json", encoding=encoding, identity=identity)
    if _depth(doc) > MAX_DEPTH:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "json_too_deep")), format="json", encoding=encoding)

    top, unknown, misplaced = _top_fields(doc)
    # The top's identity fields go to every line that lacks its own: make each one's text once, not
    # once a line (a 2 MB list as the top's period was written out again for each line: 53 s and
    # 2.9 GB for 1,000 lines). Their text is then repeated on every line, and each line's cells are
    # read again by normalise (a 5 MB period over 10,000 lines: 90 s), so the text the lines take
    # from the top is bounded by what a file may hold (LIMITS.max_file_bytes, counted in characters;
    # a real identity is ~35 characters, 3.5 million at the row limit).
    top = {k: _cell(v, text_of) for k, v in top.items()}
    repeated = len(lines) * sum(len(v) for v in top.values() if v is not None)
    if repeated > LIMITS.max_file_bytes:
        raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail(
            "FILE_TOO_LARGE", "json_top_text", lines=f"{len(lines):,}", size=f"{repeated:,}"),
            limit=detail("FILE_TOO_LARGE", "limit_characters", limit=f"{LIMITS.max_file_bytes:,}")),
            format="json", encoding=encoding, identity=identity)
    columns = dict.fromkeys(top)  # the header: every field name, in the order first seen
    columns.update(dict.fromkeys(unknown))
    for line in lines:
        if isinstance(line, dict):
            columns.update(line)  # (its keys only matter)
    header: list[str] = list(columns)
    # Every line is expanded to the whole header below, so the table costs lines x distinct keys,
    # not the keys the file holds: 4,000 lines of 100 keys of their own (1.3 MB) made 1.6 billion
    # cells (24.6 s and 3.4 GB; a 5 MB one ended the night with MemoryError, every night after).
    # Bounded like a CSV's values and a sheet's cells (LIMITS.max_cells), counted before any line
    # is expanded; a line counts as one cell at least, as a blank CSV record does. (Worded short:
    # make_issue keeps 80 characters of a parameter.)
    cells = len(lines) * max(len(header), 1)
    if cells > LIMITS.max_cells:
        raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail(
            "FILE_TOO_LARGE", "json_cells", lines=f"{len(lines):,}", fields=f"{len(header):,}", cells=f"{cells:,}"),
            limit=detail("FILE_TOO_LARGE", "limit_cells", limit=f"{LIMITS.max_cells:,}")),
            format="json", encoding=encoding, identity=identity)
    rows = []
    for i, line in enumerate(lines, start=1):
        fields = {**top, **line} if isinstance(line, dict) else dict(top)
        if text_of is _as_is:  # text and null are most cells, and stay as they are; numbers are their str()
            cells = [v if v is None or v.__class__ is str
                     else _decimal_text(v) if v.__class__ is Decimal
                     else str(v) if v.__class__ in _NUMBERS else _cell(v, _as_is)
                     for v in map(fields.get, header)]
        else:
            cells = [_cell(fields.get(h), text_of) for h in header]
        rows.append((i, cells))
    issues = repeats.issues(doc, lines, text_of) if repeats.found else []
    issues += [make_issue("JSON_FIELD_AT_TOP", None, column, field=text_of(key)) for key, column in misplaced]
    return RawTable("json", encoding, [text_of(h) for h in header], rows, issues, identity=identity)


_IDENTITY_AND_LINES = frozenset((*HEADER_FIELDS, "lines"))


def _column_at_top(key: str) -> str | None:
    """What a key of the document's top level names: `lines`, or a column as normalise matches a
    header (HEADER_NAMES by header_key; imported here, as normalise imports this package), or None."""
    if key in _IDENTITY_AND_LINES:
        return key
    from pilots.normalise import HEADER_NAMES, header_key

    return HEADER_NAMES.get(header_key(key))


def _top_fields(doc: dict) -> tuple[dict, list[str], list[tuple[str, str]]]:
    """The document's top level, sorted: (its identity fields, which every line takes unless it
    gives its own; the fields that name no column, kept in the header for normalise to report
    COLUMN_UNKNOWN, but not read; (field, column) of each line field written at the top).

    Only pilot_id, agency_code, period and submitted_on, in any spelling normalise accepts for a
    header (its Thai label, say), belong at the top (agency-report-v1.md). A line field there
    (`"actual": 60`, a document total) once filled every line that lacked its own, so a required
    value missing from a line was never reported: it is now left out, with JSON_FIELD_AT_TOP.
    A top level of the four canonical names and `lines`, the usual one, is not looked through."""
    if doc.keys() <= _IDENTITY_AND_LINES:
        return {k: v for k, v in doc.items() if k != "lines"}, {}, []
    top: dict = {}
    unknown: list[str] = []
    misplaced: list[tuple[str, str]] = []
    for key, value in doc.items():
        column = _column_at_top(key)
        if column == "lines":
            continue
        if column in HEADER_FIELDS:
            top[key] = value
        elif column is None:
            unknown.append(key)
        else:
            misplaced.append((key, column))
    return top, unknown, misplaced


class _Repeats:
    """Objects of one document that give a key twice with different values.

    Python's json keeps the last value of a repeated key: `{"actual": 47, "actual": 99}` was read
    as 99, though the agency's own tool may show 47 (RFC 8259: such a document's meaning is
    unpredictable). A repeat that names a column (or `lines`, at the top) and says something else
    is COLUMN_REPEATED, as a field spelt two ways is (normalise); one that says the same is no
    defect, and other keys are not read at all. Collected by the
    parser's object_pairs_hook: about 0.34 ms more CPU on a 400-line document (2,000 reads paired:
    1.70 ms each against 1.35 ms without it; review of 2026-12-06)."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[dict, list[str]]] = {}  # id -> (the object, kept alive; keys)

    def hook(self, pairs: list[tuple[str, object]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            first: dict[str, object] = {}
            differ = [k for k, v in pairs if first.setdefault(k, v) is not v and first[k] != v]
            if differ:
                self.found[id(obj)] = (obj, list(dict.fromkeys(differ)))
        return obj

    def issues(self, doc: dict, lines: list, text_of: Callable[[str], str]) -> list:
        """COLUMN_REPEATED of the top level (on the file) and of each line (on its row). A key names
        a column as normalise matches a header (HEADER_NAMES by header_key: zero-width characters
        removed, NFC, trimmed, casefolded); imported here, as normalise imports this package. At
        the top, only `lines` and the identity fields are read (_top_fields): another column
        repeated there is not read either way (JSON_FIELD_AT_TOP says so)."""
        from pilots.normalise import HEADER_NAMES, header_key

        def read_at_top(key: str) -> str | None:
            column = _column_at_top(key)
            return column if column in _IDENTITY_AND_LINES else None

        located = [(None, doc)] + list(enumerate(lines, start=1))
        return [make_issue("COLUMN_REPEATED", row, column, column=text_of(key), header=text_of(key))
                for row, obj in located if id(obj) in self.found and self.found[id(obj)][0] is obj
                for key in self.found[id(obj)][1]
                if (column := read_at_top(key) if row is None else HEADER_NAMES.get(header_key(key)))]


# A number's plain text has at most this many digits on either side of the point; past that the
# literal is kept as written (the checks call it not a number), never expanded (1e999999999).
MAX_PLAIN_EXPONENT = 64


def _loads(text: str, repeats: _Repeats) -> object:
    """The document, its numbers exact (agency-report-v1.md: a number means what it says).

    A float would change an amount: 99999999999999.99 is the double 99999999999999.984375, whose
    shortest repr is 99999999999999.98; and 1e-07 would be text that is not a number. So fractions
    and exponents are Decimals (made in C, as floats were: no dearer on a report), written as plain
    text by `_decimal_text`; NaN and Infinity (not JSON, but Python's reader takes them) stay the
    words written. An exponent past Decimal's range, and an integer of more than 4,300 digits
    (which Python refuses to convert: a ValueError that is no JSONDecodeError), are kept as written,
    so that the checks name them, on their line and column.
    """
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=str, object_pairs_hook=repeats.hook)
    except json.JSONDecodeError:
        raise
    except (InvalidOperation, ValueError):
        repeats.found.clear()
        return json.loads(text, parse_float=_number_text, parse_constant=str, parse_int=str,
                          object_pairs_hook=repeats.hook)


def _decimal_text(value: Decimal) -> str:
    """A JSON fraction or exponent as plain decimal text (1.5E+6 -> 1500000, 1E-7 -> 0.0000001)."""
    text = str(value)
    return text if "E" not in text else _number_text(text)


def _number_text(literal: str) -> str:
    """A number's literal as plain decimal text; as written when it is out of Decimal's range or
    too long to write out (MAX_PLAIN_EXPONENT)."""
    try:
        value = Decimal(literal)
    except InvalidOperation:
        return literal
    if value.as_tuple().exponent < -MAX_PLAIN_EXPONENT or value.adjusted() > MAX_PLAIN_EXPONENT:
        return literal
    return format(value, "f")


def _cell(value: object, text_of: Callable[[str], str]) -> str | None:
    """JSON scalars become text like CSV cells; nested values are kept as JSON text (and then fail
    the type checks with a clear message)."""
    if value is None:
        return None
    if value.__class__ is str:
        return text_of(value)
    if value.__class__ is Decimal:
        return _decimal_text(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return text_of(str(value))
    return text_of(json.dumps(value, ensure_ascii=False, default=_decimal_text))


def _as_is(text: str) -> str:
    return text


def _text(text: str) -> str:
    """A lone surrogate becomes U+FFFD, the replacement character, as a UTF-8 decoder would make it."""
    return _SURROGATE.sub("\ufffd", text)


_CONTAINERS = (dict, list)
_NUMBERS = frozenset({int, float})  # exactly these classes (not bool): _cell gives them str(value)


def _flat_records(items: list) -> bool:
    """Whether a non-empty list holds only objects none of whose values is a container, found by
    the classes of its items and of their values (C loops, not a call per line)."""
    if not items or set(map(type, items)) != {dict}:
        return False
    return not any(issubclass(kind, _CONTAINERS) for kind in set(map(type, chain.from_iterable(map(dict.values, items)))))


def _depth(value: object, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if value.__class__ is list and level < MAX_DEPTH and _flat_records(value):
        return level + 2  # what the recursion below gives a list of flat objects (a report's lines)
    # A scalar inside a container is one level down: only nested containers can go deeper.
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return level
    if not any(map(isinstance, children, repeat(_CONTAINERS))):  # a report line: no container inside
        return level + 1
    return max((_depth(v, level + 1) for v in children if isinstance(v, _CONTAINERS)), default=level + 1)
