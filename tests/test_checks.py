"""Row suite (Great Expectations) and file rules: tiny frames in, the exact defects out.

Every expected (file_key, row_number, column, code) below is worked out by hand from
agency-report-v1.md. The registry is built in code: one pilot, 1 Oct 2004 - 30 Sep 2006, with a
lead, a secondary, a supporting and an advisory agency, a percent KPI K1 and a count KPI K2.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from pilots import checks
from pilots.checks import file_defects, row_defects
from pilots.contract import COLUMN_NAMES
from pilots.fiscal import fiscal_year_of, period_bounds
from pilots.registry import Agency, Kpi, Participant, Pilot, Registry

P = "PLT-2548-003"
LEAD, SECONDARY, SUPPORTING, ADVISORY = "03009", "15001", "11002", "20004"
AS_OF = date(2006, 10, 31)


def _kpi(code: str, unit: str, weight: int) -> Kpi:
    return Kpi(code, code, code, unit, "higher", "last", Decimal(weight), {})


REGISTRY = Registry(
    agencies={c: Agency(c, c, c, None) for c in (LEAD, SECONDARY, SUPPORTING, ADVISORY, "99999")},
    pilots={P: Pilot(
        P, "ระบบ", "System", 3, (2,), "open", date(2004, 10, 1), date(2006, 9, 30), 30,
        (Participant(LEAD, "lead"), Participant(SECONDARY, "secondary"),
         Participant(SUPPORTING, "supporting"), Participant(ADVISORY, "advisory")),
        (_kpi("K1", "percent", 60), _kpi("K2", "count", 40)),
    )},
)


def kpi(item: str = "K1", actual: str | None = "47", **over: str | None) -> dict:
    """A valid kpi line of the lead agency for 2548-Q2, signed 2005-04-20."""
    return {"pilot_id": P, "agency_code": LEAD, "period": "2548-Q2", "submitted_on": "2005-04-20",
            "line_type": "kpi", "item_code": item, "layer": None, "actual": actual, "allocated_thb": None,
            "disbursed_thb": None, "funding_source": None, "note": None, **over}


def budget(item: str = "ACT-1", allocated: str | None = "1000000.00", disbursed: str | None = "200000.00",
           source: str | None = "own", **over: str | None) -> dict:
    """A valid budget line of the lead agency for 2548-Q2."""
    return {**kpi(), "line_type": "budget", "item_code": item, "layer": "3", "actual": None,
            "allocated_thb": allocated, "disbursed_thb": disbursed, "funding_source": source, **over}


def frame(*files: list[dict], keys: list[int] | None = None) -> pd.DataFrame:
    """A batch frame as ingest builds it: object columns, row numbers from 2 (row 1 is the header)."""
    parts = []
    for key, lines in zip(keys or range(len(files)), files):
        part = pd.DataFrame([{"row_number": n, **line} for n, line in enumerate(lines, 2)],
                            columns=["row_number", *COLUMN_NAMES], dtype=object)
        part.insert(0, "file_key", key)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def rows_found(batch: pd.DataFrame) -> list[tuple[int, int, str, str]]:
    return [(key, i.row_number, i.column_name, i.code) for key, i in row_defects(batch, REGISTRY)]


def file_found(lines: list[dict], as_of: date = AS_OF) -> list[tuple[int, str, str]]:
    return sorted((i.row_number, i.column_name, i.code) for i in file_defects(frame(lines), REGISTRY, as_of))


# --- fiscal helpers --------------------------------------------------------------------------

@pytest.mark.parametrize("period, first, last", [
    ("2548-Q1", date(2004, 10, 1), date(2004, 12, 31)),
    ("2548-Q2", date(2005, 1, 1), date(2005, 3, 31)),
    ("2548-Q3", date(2005, 4, 1), date(2005, 6, 30)),
    ("2548-Q4", date(2005, 7, 1), date(2005, 9, 30)),
])
def test_period_bounds(period, first, last):
    assert period_bounds(period) == (first, last)


@pytest.mark.parametrize("period", ["2005-Q1", "2548-Q5", "Q1/2548", ""])
def test_period_bounds_refuses_non_canonical_periods(period):
    with pytest.raises(ValueError):
        period_bounds(period)


def test_fiscal_year_of():
    assert [fiscal_year_of(d) for d in (date(2004, 9, 30), date(2004, 10, 1), date(2005, 9, 30))] == \
        [2547, 2548, 2548]


# --- row suite -------------------------------------------------------------------------------

def test_clean_batch_has_no_defects():
    lines = [kpi("K1", "100"), kpi("K2", "350"), budget(), budget("ACT-2", "0", "0", "lead_integrated", layer="5"),
             budget("ACT-1", "500.50", "500.50", "support_contribution", agency_code=SUPPORTING)]
    assert rows_found(frame(lines)) == []
    assert file_found([kpi("K1", "100"), kpi("K2", "350"), budget()]) == []


@pytest.mark.parametrize("line, expected", [
    # Always required, on any line type.
    (kpi(pilot_id=None), [(2, "pilot_id", "VALUE_REQUIRED")]),
    (budget(submitted_on=None, item_code=None), [(2, "submitted_on", "VALUE_REQUIRED"),
                                                 (2, "item_code", "VALUE_REQUIRED")]),
    (kpi(line_type=None), [(2, "line_type", "VALUE_REQUIRED")]),
    # By line type: actual on kpi lines; layer, amounts and funding source on budget lines.
    (kpi(actual=None), [(2, "actual", "VALUE_REQUIRED")]),
    (budget(layer=None, allocated=None, disbursed=None, source=None),
     [(2, "layer", "VALUE_REQUIRED"), (2, "allocated_thb", "VALUE_REQUIRED"),
      (2, "disbursed_thb", "VALUE_REQUIRED"), (2, "funding_source", "VALUE_REQUIRED")]),
    (budget(actual=None), []),  # actual is not required on a budget line
    (kpi(line_type="expense", actual=None), [(2, "line_type", "LINE_TYPE_INVALID")]),  # neither kind: nothing required
    # Formats of the identity.
    (kpi(agency_code="AB123"), [(2, "agency_code", "AGENCY_CODE_INVALID")]),
    (kpi(agency_code="3009"), [(2, "agency_code", "AGENCY_CODE_INVALID")]),
    (kpi(agency_code="๐๓๐๐๙"), [(2, "agency_code", "AGENCY_CODE_INVALID")]),  # Thai digits left unread
    (kpi(period="ไตรมาส 5/2548"), [(2, "period", "PERIOD_INVALID")]),
    (kpi(period="Q1-Q2/2548"), [(2, "period", "PERIOD_INVALID")]),
    (kpi(period="2005-Q1"), [(2, "period", "PERIOD_INVALID")]),  # a CE year: not a BE fiscal year
    (kpi(submitted_on="31/02/2548"), [(2, "submitted_on", "DATE_INVALID")]),
    (kpi(submitted_on="2005-02-30"), [(2, "submitted_on", "DATE_INVALID")]),  # the ISO shape, no such day
    (kpi(submitted_on="2005-13-01"), [(2, "submitted_on", "DATE_INVALID")]),
    # BE 2548 is CE 2005, which has no 29 February: the normaliser leaves the text as written.
    (kpi(submitted_on="2548-02-29"), [(2, "submitted_on", "DATE_INVALID")]),
    (kpi(line_type="expense"), [(2, "line_type", "LINE_TYPE_INVALID")]),
    # Numbers.
    (kpi(actual="abc"), [(2, "actual", "NOT_A_NUMBER")]),
    (kpi("K2", "85%"), [(2, "actual", "NOT_A_NUMBER")]),  # % left unread on a count KPI
    (budget(allocated="1.2.3"), [(2, "allocated_thb", "NOT_A_NUMBER")]),
    (budget(disbursed="abc"), [(2, "disbursed_thb", "NOT_A_NUMBER")]),  # and no over-allocation check
    # What the warehouse keeps: amounts DECIMAL(18,2), actuals DECIMAL(38,10), rounded half up.
    (budget(allocated="9999999999999999.99"), []),  # 16 digits: the largest amount that fits
    (budget(allocated="9999999999999999.994"), []),  # rounds down to the largest
    (budget(allocated="9999999999999999.995"), [(2, "allocated_thb", "NUMBER_TOO_LARGE")]),  # rounds to 1e16
    (budget(allocated="999999999999999.995"), []),  # 15 digits: rounds to 1e15, far below the limit
    (budget(allocated="0.000", disbursed="0"), []),
    (budget(allocated="1" + "0" * 40, disbursed="1"), [(2, "allocated_thb", "NUMBER_TOO_LARGE")]),
    (budget(allocated="-" + "9" * 17), [(2, "allocated_thb", "AMOUNT_NEGATIVE"),
                                         (2, "allocated_thb", "NUMBER_TOO_LARGE")]),
    (budget(allocated="1" + "0" * 17, disbursed="1" + "0" * 16),
     [(2, "allocated_thb", "NUMBER_TOO_LARGE"), (2, "disbursed_thb", "NUMBER_TOO_LARGE")]),
    (kpi("K2", "9" * 25), []),  # 25 digits before the point (a year of four quarters stays below 10^26)
    (kpi("K2", "1" + "0" * 25), [(2, "actual", "NUMBER_TOO_LARGE")]),
    (kpi("K2", "-" + "1" + "0" * 25), [(2, "actual", "NUMBER_TOO_LARGE")]),
    (kpi("K2", "0." + "0" * 30 + "1"), []),  # rounds to 0: stored, not refused
    (budget(layer="7"), [(2, "layer", "LAYER_INVALID")]),
    (budget(layer="0"), [(2, "layer", "LAYER_INVALID")]),
    (budget(layer="2.5"), [(2, "layer", "LAYER_INVALID")]),
    (budget(layer="abc"), [(2, "layer", "LAYER_INVALID")]),
    (budget(source="loan"), [(2, "funding_source", "FUNDING_SOURCE_INVALID")]),
    (budget(allocated="-5000"), [(2, "allocated_thb", "AMOUNT_NEGATIVE")]),  # not also "disbursed > allocated"
    (budget(disbursed="-1"), [(2, "disbursed_thb", "AMOUNT_NEGATIVE")]),
    (budget(allocated="100", disbursed="150"), [(2, "disbursed_thb", "DISBURSED_OVER_ALLOCATED")]),
    (budget(allocated="100.00", disbursed="100.001"), [(2, "disbursed_thb", "DISBURSED_OVER_ALLOCATED")]),
    (budget(allocated="100.00", disbursed="100"), []),  # equal is fine
    (budget(allocated=None, disbursed="5"), [(2, "allocated_thb", "VALUE_REQUIRED")]),
    # Percent KPIs only.
    (kpi("K1", "120"), [(2, "actual", "PERCENT_OUT_OF_RANGE")]),
    (kpi("K1", "-0.5"), [(2, "actual", "PERCENT_OUT_OF_RANGE")]),
    (kpi("K1", "0"), []),
    (kpi("K2", "120"), []),  # a count
    (kpi("K9", "120"), []),  # unknown KPI: no unit, reported by the file rules
    (kpi("K1", "abc"), [(2, "actual", "NOT_A_NUMBER")]),  # not also out of range
])
def test_row_rule(line, expected):
    assert rows_found(frame([line])) == [(0, *e) for e in expected]


def test_row_messages_echo_the_values():
    batch = frame([budget(allocated="100.00", disbursed="150.00"), kpi(actual="abc"), kpi(agency_code="AB123")])
    messages = {i.code: (i.message_en, i.message_th) for _, i in row_defects(batch, REGISTRY)}
    assert messages["DISBURSED_OVER_ALLOCATED"][0] == "Disbursed 150.00 is greater than allocated 100.00."
    assert messages["NOT_A_NUMBER"][0] == "'abc' in 'actual' is not a number."
    too_large = {i.code: (i.message_en, i.message_th) for _, i in row_defects(frame([kpi("K2", "1" + "0" * 25)]),
                                                                               REGISTRY)}
    assert too_large["NUMBER_TOO_LARGE"] == (
        "'10000000000000000000000000' in 'actual' is too large: at most 25 digits before the decimal point.",
        "'10000000000000000000000000' ในคอลัมน์ 'actual' มีค่ามากเกินไป: ก่อนจุดทศนิยมมีได้ไม่เกิน 25 หลัก")
    assert messages["AGENCY_CODE_INVALID"][1] == "รหัสหน่วยงาน 'AB123' ไม่ใช่ตัวเลข 5 หลัก"


def test_several_defects_on_one_row_are_all_reported():
    line = budget(agency_code="AB", period="ไตรมาส 5/2548", submitted_on="31/02/2548", layer="9",
                  allocated="-1", disbursed="abc", source="loan", actual="x")
    assert rows_found(frame([kpi(), line])) == [
        (0, 3, "agency_code", "AGENCY_CODE_INVALID"),
        (0, 3, "period", "PERIOD_INVALID"),
        (0, 3, "submitted_on", "DATE_INVALID"),
        (0, 3, "layer", "LAYER_INVALID"),
        (0, 3, "actual", "NOT_A_NUMBER"),
        (0, 3, "allocated_thb", "AMOUNT_NEGATIVE"),
        (0, 3, "disbursed_thb", "NOT_A_NUMBER"),
        (0, 3, "funding_source", "FUNDING_SOURCE_INVALID"),
    ]


def test_issues_of_a_batch_land_on_their_file():
    # Three files with the same row numbers; file keys need not be contiguous.
    batch = frame(
        [kpi("K1", "47"), kpi("K2", "abc")],
        [budget(), budget("ACT-2", "100", "150")],
        [kpi("K1", "120"), kpi("K2", None)],
        keys=[4, 7, 9],
    )
    batch.index = range(100, 100 + len(batch))  # ingest concatenates; do not rely on a clean index
    assert rows_found(batch) == [
        (4, 3, "actual", "NOT_A_NUMBER"),
        (7, 3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"),
        (9, 2, "actual", "PERCENT_OUT_OF_RANGE"),
        (9, 3, "actual", "VALUE_REQUIRED"),
    ]


@pytest.mark.parametrize("dates, expected", [
    (["2005-04-20", "2005-02-30"], [(1, 2, "submitted_on", "DATE_INVALID")]),
    (["2005-02-30", "2005-04-20"], [(0, 2, "submitted_on", "DATE_INVALID")]),
    (["2005-02-30", "2005-02-30"], [(0, 2, "submitted_on", "DATE_INVALID"), (1, 2, "submitted_on", "DATE_INVALID")]),
    (["0001-01-01", "2005-04-20"], []),
    (["2005-04-20", None], [(1, 2, "submitted_on", "VALUE_REQUIRED")]),
])
def test_dates_of_a_batch_are_checked_once_per_distinct_identity(dates, expected):
    # The identity rules see one row per distinct (pilot, agency, period, date), not one per line.
    batch = frame(*[[kpi(submitted_on=d), kpi("K2", submitted_on=d)] for d in dates])
    assert rows_found(batch) == [(k, n, c, code) for k, _, c, code in expected for n in (2, 3)]
    identities, of_row, first = checks._distinct(batch, checks.RULE_GROUPS["identity"])
    assert len(identities) == len(set(dates)) and list(of_row) == [n for d in dates for n in [list(dict.fromkeys(dates)).index(d)] * 2]
    assert list(first) == [2 * dates.index(d) for d in dict.fromkeys(dates)]  # each date's first row


def test_every_rule_is_validated_in_one_part_that_holds_its_columns():
    """No expectation is dropped by the split: the parts' suites hold the 28 rules, each once,
    and each part's columns (with those derived from them) hold what its rules read."""
    _, suites = checks._gx()
    rules = checks._expectations()
    assert len(rules) == 28
    assert sorted(len(suite.expectations) for suite, _ in suites.values()) == [1, 4, 4, 8, 11]
    def said(e) -> str:  # an expectation's type, arguments and meta, without its generated id
        return json.dumps([type(e).__name__, e.configuration.kwargs, e.meta], sort_keys=True, default=str)

    assert sorted(said(e) for suite, _ in suites.values() for e in suite.expectations) == sorted(map(said, rules))
    assert {name: read for name, (_, read) in suites.items()} == {
        "identity": ["agency_code", "period", "pilot_id", "submitted_on"],
        "line": ["actual", "actual_fits", "actual_num", "funding_source", "item_code", "kpi_unit", "layer", "line_type"],
        "allocated": ["allocated_thb", "allocated_thb_fits", "allocated_thb_num", "line_type"],
        "disbursed": ["disbursed_thb", "disbursed_thb_fits", "disbursed_thb_num", "line_type"],
        "amounts": ["allocated_thb_num", "amounts_comparable", "disbursed_thb_num"],
    }


def test_a_failing_combination_is_reported_on_every_row_that_holds_it():
    """Rows that repeat a bad combination are validated once and all reported: three files with the
    same bad agency code on every row, the same over-disbursed line in two files, and a None that
    must not merge with a value (a budget line without a layer beside one with layer 3)."""
    bad_agency = [kpi(agency_code="3009x"), kpi("K2", "5", agency_code="3009x")]
    over = budget("ACT-9", "100", "150")
    batch = frame(bad_agency, bad_agency, [over, budget()], [budget(layer=None), over, budget()], bad_agency)
    assert rows_found(batch) == [
        (0, 2, "agency_code", "AGENCY_CODE_INVALID"), (0, 3, "agency_code", "AGENCY_CODE_INVALID"),
        (1, 2, "agency_code", "AGENCY_CODE_INVALID"), (1, 3, "agency_code", "AGENCY_CODE_INVALID"),
        (2, 2, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"),
        (3, 2, "layer", "VALUE_REQUIRED"), (3, 3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"),
        (4, 2, "agency_code", "AGENCY_CODE_INVALID"), (4, 3, "agency_code", "AGENCY_CODE_INVALID"),
    ]
    # The same message on every row that repeats the combination: the values are the row's own.
    messages = {i.message_en for key, i in row_defects(batch, REGISTRY) if i.code == "DISBURSED_OVER_ALLOCATED"}
    assert len(messages) == 1 and "150" in messages.pop()


def test_suite_is_quiet_and_writes_nothing(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    checks._gx.cache_clear()  # build the GE context here, in an empty working directory
    assert rows_found(frame([kpi(actual="abc")])) == [(0, 2, "actual", "NOT_A_NUMBER")]
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert list(tmp_path.iterdir()) == []


def test_empty_batch():
    assert row_defects(frame([]), REGISTRY) == []


# --- file rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("lines, expected", [
    # Every row repeats the first row's identity.
    ([kpi(), kpi("K2", period="2548-Q3"), budget(submitted_on="2005-04-21")],
     [(3, "period", "ROWS_DISAGREE"), (4, "submitted_on", "ROWS_DISAGREE")]),
    ([kpi(), budget(pilot_id="PLT-2548-001", agency_code=SECONDARY)],
     [(3, "pilot_id", "ROWS_DISAGREE"), (3, "agency_code", "ROWS_DISAGREE")]),
    ([kpi(), kpi("K2", period="ไตรมาส 5/2548")], []),  # invalid: the row suite reports it
    ([kpi(period="ไตรมาส 5/2548"), kpi("K2")], []),    # invalid first row: nothing to compare with
    # The registry.
    ([kpi(pilot_id="PLT-2548-999"), budget(pilot_id="PLT-2548-999")], [(2, "pilot_id", "PILOT_UNKNOWN")]),
    ([budget(agency_code="99999")], [(2, "agency_code", "AGENCY_NOT_PARTICIPANT")]),
    ([kpi(agency_code="99999")], [(2, "agency_code", "AGENCY_NOT_PARTICIPANT")]),  # not also KPI_NOT_LEAD
    # Period against the pilot's dates (1 Oct 2004 - 30 Sep 2006).
    ([kpi(period="2550-Q1", submitted_on="2006-10-20")], [(2, "period", "PERIOD_OUTSIDE_PILOT")]),
    ([kpi(period="2547-Q4", submitted_on="2004-10-20")], [(2, "period", "PERIOD_OUTSIDE_PILOT")]),
    ([kpi(period="2548-Q1", submitted_on="2004-10-20")], []),  # first quarter of the pilot
    ([kpi(period="2549-Q4", submitted_on="2006-10-20")], []),  # last quarter of the pilot
    # Submission date.
    ([kpi(submitted_on="2004-11-20")], [(2, "submitted_on", "SUBMITTED_BEFORE_PERIOD")]),  # 2548-Q2 starts 2005-01-01
    ([kpi(submitted_on="2005-01-01")], []),
    ([kpi(period="2549-Q4", submitted_on="2006-11-01")], [(2, "submitted_on", "SUBMITTED_IN_FUTURE")]),
    ([kpi(period="2549-Q4", submitted_on="2006-10-31")], []),  # on the as-of date
    ([kpi(submitted_on="2005-02-30")], []),  # invalid: the row suite reports it
    # KPI lines.
    ([kpi(agency_code=SECONDARY), kpi("K2", agency_code=SECONDARY)],
     [(2, "line_type", "KPI_NOT_LEAD"), (3, "line_type", "KPI_NOT_LEAD")]),
    ([kpi("K9")], [(2, "item_code", "KPI_UNKNOWN")]),
    ([kpi("K1"), kpi("K2"), kpi("K1", "50")], [(4, "item_code", "KPI_REPEATED")]),
    # Budget lines.
    ([budget(), budget("ACT-1", source="lead_integrated"), budget("ACT-1", "5", "1")],
     [(4, "item_code", "BUDGET_LINE_REPEATED")]),
    ([budget(source="support_contribution", agency_code=SECONDARY)], [(2, "funding_source", "SUPPORT_NOT_SUPPORTING")]),
    ([budget(source="support_contribution", agency_code=SUPPORTING)], []),
    ([budget(agency_code=ADVISORY), budget("ACT-2", agency_code=ADVISORY)],
     [(2, "line_type", "BUDGET_FROM_ADVISORY"), (3, "line_type", "BUDGET_FROM_ADVISORY")]),
])
def test_file_rule(lines, expected):
    assert file_found(lines) == sorted(expected)


def test_file_messages_name_the_registry_facts():
    q = {"period": "2550-Q1", "submitted_on": "2006-10-20"}
    issues = file_defects(frame([kpi(**q), kpi("K1", **q)]), REGISTRY, AS_OF)
    by_code = {i.code: i.message_en for i in issues}
    assert by_code == {
        "PERIOD_OUTSIDE_PILOT": "Period 2550-Q1 is outside the pilot's dates (2004-10-01 to 2006-09-30).",
        "KPI_REPEATED": "KPI 'K1' appears again (first on row 2).",
    }


def test_several_defects_in_one_file_are_all_reported():
    # An advisory agency sends KPIs and budget, signed in the future, with repeats and a stray period.
    a = {"agency_code": ADVISORY, "submitted_on": "2006-12-01"}
    lines = [kpi("K1", **a), kpi("K9", **a), kpi("K9", **a),
             budget(source="support_contribution", **a), budget(source="support_contribution", **a),
             budget("ACT-2", **{**a, "period": "2548-Q3"})]
    assert file_found(lines) == sorted([
        (2, "submitted_on", "SUBMITTED_IN_FUTURE"),
        (2, "line_type", "KPI_NOT_LEAD"),
        (3, "line_type", "KPI_NOT_LEAD"), (3, "item_code", "KPI_UNKNOWN"),
        (4, "line_type", "KPI_NOT_LEAD"), (4, "item_code", "KPI_UNKNOWN"), (4, "item_code", "KPI_REPEATED"),
        (5, "line_type", "BUDGET_FROM_ADVISORY"), (5, "funding_source", "SUPPORT_NOT_SUPPORTING"),
        (6, "line_type", "BUDGET_FROM_ADVISORY"), (6, "funding_source", "SUPPORT_NOT_SUPPORTING"),
        (6, "item_code", "BUDGET_LINE_REPEATED"),
        (7, "line_type", "BUDGET_FROM_ADVISORY"), (7, "period", "ROWS_DISAGREE"),
    ])


def test_the_odd_row_is_blamed_not_the_majority():
    # Row 2 carries a non-participant agency; rows 3-6 agree on the lead. Only row 2 is wrong,
    # and the registry rules judge the identity most rows hold (the lead: no other defect).
    lines = [kpi("K1", agency_code="99999"), kpi("K2"), budget("ACT-1"), budget("ACT-2"), budget("ACT-3")]
    issues = file_defects(frame(lines), REGISTRY, AS_OF)
    assert [(i.row_number, i.column_name, i.code) for i in issues] == [(2, "agency_code", "ROWS_DISAGREE")]
    assert issues[0].message_en == (
        "'agency_code' is '99999' here but '03009' on most rows: one file holds one report.")
    assert "แถวส่วนใหญ่คือ '03009'" in issues[0].message_th


def test_odd_last_row_and_a_tie():
    # The odd one last: still only that row. Two rows against two: the earliest row decides.
    assert file_found([kpi(), kpi("K2"), budget(period="2548-Q3")]) == [(4, "period", "ROWS_DISAGREE")]
    assert file_found([kpi(period="2548-Q3"), kpi("K2"), budget(), budget("ACT-2", period="2548-Q3")]) == [
        (3, "period", "ROWS_DISAGREE"), (4, "period", "ROWS_DISAGREE")]


def test_unknown_pilot_still_gets_date_and_repeat_rules():
    p = {"pilot_id": "PLT-2548-999", "submitted_on": "2004-11-20"}
    assert file_found([kpi(**p), kpi(**p)]) == sorted([
        (2, "pilot_id", "PILOT_UNKNOWN"), (2, "submitted_on", "SUBMITTED_BEFORE_PERIOD"),
        (3, "item_code", "KPI_REPEATED"),
    ])
