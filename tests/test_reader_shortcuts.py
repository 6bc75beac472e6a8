"""The readers' shortcuts change no answer (each test passes on main's readers too):
- JSON: cells are searched for lone surrogates only when the document escapes one (any case of
  hex digits), and the depth bound (MAX_DEPTH = 20 levels of containers) counts nested containers
  exactly as before;
- CSV: the separator is taken from the first non-blank line, found without splitting the whole
  text (str.splitlines' line ends: \\x1c, \\u2028 … too); whitespace-only rows are skipped.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilots.readers import ReadFailure, read_report
from pilots.readers.json_reader import MAX_DEPTH

TOP = {"pilot_id": "PLT-1", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20"}


def test_a_surrogate_escaped_in_capitals_is_replaced_too():
    data = (b'{"pilot_id": "P\\uDBFF", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",'
            b' "lines": [{"line_type": "kpi", "item_code": "K\\uDc0A", "actual": 1}]}')
    table = read_report("r.json", data)
    row = dict(zip(table.header, table.rows[0][1]))
    assert (table.identity["pilot_id"], row["item_code"], row["actual"]) == ("P\ufffd", "K\ufffd", "1")


def test_an_escaped_backslash_before_u_is_text_as_written():
    # "\\\\ud800" is a backslash, then the letters ud800: no surrogate, nothing replaced.
    data = json.dumps({**TOP, "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 5, "note": "a\\ud800"}]})
    row = dict(zip(*(lambda t: (t.header, t.rows[0][1]))(read_report("r.json", data.encode()))))
    assert row["note"] == "a\\ud800" and row["actual"] == "5"


def nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("levels, refused", [(MAX_DEPTH - 3, False), (MAX_DEPTH - 2, True), (MAX_DEPTH + 5, True)])
def test_the_depth_bound_counts_containers(levels, refused):
    # Levels counted from the document (0): `lines` 1, the line 2, the note's outer list 3, its
    # innermost list 3 + levels - 1, and an empty container counts one more: levels + 3 in all,
    # refused past MAX_DEPTH (so 17 lists pass, 18 do not). Scalars beside them add nothing.
    doc = {**TOP, "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 1, "note": nested(levels)}]}
    assert MAX_DEPTH == 20
    if refused:
        with pytest.raises(ReadFailure) as failure:
            read_report("r.json", json.dumps(doc).encode())
        assert failure.value.issue.code == "FILE_NO_TABLE"
    else:
        row = dict(zip(*(lambda t: (t.header, t.rows[0][1]))(read_report("r.json", json.dumps(doc).encode()))))
        assert row["note"] == json.dumps(nested(levels))


@pytest.mark.parametrize("text, sep, header", [
    ("a;b;c,d\nx;y;z,w\n", ";", ["a", "b", "c,d"]),  # the first line decides, by its most frequent separator
    ("\n \t\na,b;c\n1,2;3\n", ",", ["a", "b;c"]),    # blank lines first: the first non-blank line
    ("a;b\u2028c,d,e\n1;2\n", ";", ["a", "b\u2028c,d,e"]),  # U+2028 ends splitlines' first line
    ("a,b\x1cc;d;e\n1,2\n", ",", ["a", "b\x1cc;d;e"]),
])
def test_the_separator_comes_from_the_first_non_blank_line(text, sep, header):
    table = read_report("r.csv", text.encode())
    assert table.header == header
    assert len(table.rows) == 1 and len(table.rows[0][1]) == len(header) and table.issues == []


def test_whitespace_only_rows_are_skipped_and_empty_cells_are_none():
    table = read_report("r.csv", "a,b,c\n1,,3\n , \t,\n,,\n\u3000,x,\n".encode())
    # " , \t," and ",," are blank (U+3000 is not blank: its row has x); row numbers as in a spreadsheet
    assert table.rows == [(2, ["1", None, "3"]), (5, ["\u3000", "x", None])]
    assert table.issues == []


def reference_depth(value: object, level: int = 0) -> int:
    """main's _depth (before the flat-container shortcut), kept as the reference."""
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((reference_depth(v, level + 1) for v in value.values() if isinstance(v, (dict, list))),
                   default=level + 1)
    if isinstance(value, list):
        return max((reference_depth(v, level + 1) for v in value if isinstance(v, (dict, list))), default=level + 1)
    return level


JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=2), inner, max_size=4)),
                           max_leaves=60)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, level=st.sampled_from([0, 5, MAX_DEPTH - 1, MAX_DEPTH + 1]))
def test_the_depth_is_counted_as_before(value, level):
    from pilots.readers.json_reader import _depth

    assert _depth(value, level) == reference_depth(value, level)


def test_the_header_is_every_field_in_the_order_first_seen():
    doc = {**TOP, "lines": [{"line_type": "kpi", "item_code": "K1"}, "not a line",
                            {"note": "n", "line_type": "kpi", "actual": 2}, {"actual": 3, "extra": True}]}
    table = read_report("r.json", json.dumps(doc).encode())
    assert table.header == [*TOP, "line_type", "item_code", "note", "actual", "extra"]
    assert [cells for _, cells in table.rows] == [
        ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, None, None],
        ["PLT-1", "03009", "2548-Q1", "2005-01-20", None, None, None, None, None],
        ["PLT-1", "03009", "2548-Q1", "2005-01-20", "kpi", None, "n", "2", None],
        ["PLT-1", "03009", "2548-Q1", "2005-01-20", None, None, None, "3", "true"]]
