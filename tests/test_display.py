"""Agency text on its way out (warehouse/display.py) and total formatters (kpis/summary/labels.py)."""
from __future__ import annotations

from datetime import date

import pytest

from warehouse.display import md_text, shown, visible
from kpis.summary.labels import fmt_date, fmt_period, fmt_period_short
from pilots.readers import read_report


def test_control_and_bidi_characters_are_made_visible():
    assert visible("a\nb\tc\x1b[0m\x7f") == "a\u240ab\u2409c\u241b[0m\u2421"
    # C1 control NEL and a right-to-left override (U+202E) as their code points.
    assert visible("x\x85y\u202egnp.exe") == "x[U+0085]y[U+202E]gnp.exe"
    # Noncharacters, which HTML forbids (found by the fuzz: U+FFFE in a file name), and a lone surrogate.
    assert visible("r\ufffe\ufdd0\U0001ffff\ud800.csv") == "r[U+FFFE][U+FDD0][U+1FFFF][U+D800].csv"
    # Thai text, spaces and zero-width spaces are left as they are.
    assert visible("ไตรมาส 1/48\u200b") == "ไตรมาส 1/48\u200b"


def test_markdown_escaping_and_only_once():
    text = md_text("a|b`c[x](y)<i>&\\\n")
    assert text == "a\\|b\\`c\\[x\\]\\(y\\)&lt;i&gt;&amp;\\\\\u240a"
    assert md_text(text) == text  # idempotent: a filter and the template's finalize may both apply it


def test_shown_prefers_the_canonical_value_then_the_raw_text():
    assert shown("2548-Q1", "Q1/2548", lambda p: f"<{p}>") == "<2548-Q1>"
    assert shown(None, "ไตรมาส 9/99") == "ไตรมาส 9/99"
    assert shown(None, "") == "–" and shown(None, None) == "–"


@pytest.mark.parametrize("text", ["<script>", "ไตรมาส 9/99", "2548", "2548-Q5", "2548-Q1x", "-Q", ""])
def test_period_formatters_are_total(text):
    # Not canonical: shown as it is (escaped by the renderer), never split or parsed.
    assert fmt_period(text, "th") == (text or "–") and fmt_period(text, "en") == (text or "–")
    assert fmt_period_short(text, "th") == text


def test_period_and_date_formatters_on_canonical_values():
    # English counts in CE: fiscal year 2549 runs Oct 2005 - Sep 2006, so it is FY2006 (2549 - 543).
    assert (fmt_period("2549-Q3", "th"), fmt_period("2549-Q3", "en")) == ("ไตรมาส 3/2549", "FY2006 Q3")
    assert fmt_period_short("2549-Q3", "en") == "Q3 FY2006"
    assert fmt_date(date(2006, 8, 15), "th") == "15 ส.ค. 2549"
    assert fmt_date("31/02/2548", "th") == "31/02/2548"


def test_json_lone_surrogates_become_replacement_characters():
    # "\\ud800" is valid JSON but no UTF-8 text can hold it: DuckDB refused the whole batch.
    data = (b'{"pilot_id": "P\\ud800", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",'
            b' "lines": [{"line_type": "kpi", "item_code": "K1", "actual": "1\\udc00", "no\\ud800te": "x"}]}')
    table = read_report("r.json", data)
    assert table.identity["pilot_id"] == "P\ufffd"
    assert "no\ufffdte" in table.header
    row = dict(zip(table.header, table.rows[0][1]))
    assert row["pilot_id"] == "P\ufffd" and row["actual"] == "1\ufffd"
