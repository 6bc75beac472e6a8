"""The Thai fiscal calendar (pilots/fiscal.py) and month names (pilots/thai_dates.py), by hand.

FY2549 runs 1 Oct 2005 - 30 Sep 2006 (named by the BE year it ends in: 2006 + 543 = 2549);
Q1 Oct-Dec, Q2 Jan-Mar, Q3 Apr-Jun, Q4 Jul-Sep. The SQL macros of the marts
(kpis/macros.sql) must agree with the module on every day of two years.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from pilots import fiscal
from pilots.normalise import parse_date
from pilots.thai_dates import ENGLISH_MONTHS_ABBR, THAI_MONTHS, THAI_MONTHS_ABBR, THAI_MONTH_NUMBERS


@pytest.mark.parametrize("day, period", [
    (date(2005, 10, 1), "2549-Q1"),   # the first day of FY2549
    (date(2005, 12, 31), "2549-Q1"),
    (date(2006, 1, 1), "2549-Q2"),
    (date(2006, 3, 31), "2549-Q2"),
    (date(2006, 4, 1), "2549-Q3"),
    (date(2006, 6, 30), "2549-Q3"),
    (date(2006, 7, 1), "2549-Q4"),
    (date(2006, 9, 30), "2549-Q4"),   # the last day of FY2549
    (date(2006, 10, 1), "2550-Q1"),
    (date(2004, 9, 30), "2547-Q4"),
    (date(2004, 2, 29), "2547-Q2"),   # a leap day
])
def test_the_period_of_a_day(day, period):
    assert fiscal.period_of(day) == period
    assert fiscal.fiscal_year_of(day) == int(period[:4])
    first, last = fiscal.period_bounds(period)
    assert first <= day <= last


@pytest.mark.parametrize("period, first, last, months", [
    ("2549-Q1", date(2005, 10, 1), date(2005, 12, 31), (10, 12, 2005)),
    ("2549-Q2", date(2006, 1, 1), date(2006, 3, 31), (1, 3, 2006)),
    ("2549-Q3", date(2006, 4, 1), date(2006, 6, 30), (4, 6, 2006)),
    ("2549-Q4", date(2006, 7, 1), date(2006, 9, 30), (7, 9, 2006)),
    ("2548-Q2", date(2005, 1, 1), date(2005, 3, 31), (1, 3, 2005)),
])
def test_quarters(period, first, last, months):
    assert fiscal.period_bounds(period) == (first, last)
    assert fiscal.quarter_months(*fiscal.split_period(period)) == months


def test_years_and_english_names():
    assert fiscal.be_year(2006) == 2549 and fiscal.ce_year(2549) == 2006 and fiscal.ce_year("2548") == 2005
    assert fiscal.fy_en(2549) == "FY2006"  # FY2549 ends on 30 Sep 2006
    with pytest.raises(ValueError):
        fiscal.split_period("2005-Q1")  # a CE year is not a canonical period


def test_the_marts_sql_macros_agree_with_the_module(warehouse):
    from kpis.build import build_marts

    build_marts(warehouse, date(2006, 8, 15))  # creates the macros
    days = [date(2004, 9, 1) + timedelta(days=n) for n in range(800)]
    got = warehouse.execute("SELECT d, marts.fiscal_year_of(d) FROM unnest(?::DATE[]) t(d) ORDER BY d",
                            [days]).fetchall()
    assert got == [(d, fiscal.fiscal_year_of(d)) for d in days]
    quarters = [(fy, q) for fy in (2547, 2548, 2549, 2550) for q in (1, 2, 3, 4)]
    got = [warehouse.execute("SELECT marts.quarter_start(?, ?), marts.quarter_end(?, ?)", [fy, q, fy, q]).fetchone()
           for fy, q in quarters]
    assert got == [fiscal.period_bounds(f"{fy}-Q{q}") for fy, q in quarters]


def test_month_names():
    assert THAI_MONTHS[0] == "มกราคม" and THAI_MONTHS[9] == "ตุลาคม" and THAI_MONTHS[11] == "ธันวาคม"
    assert THAI_MONTHS_ABBR[2] == "มี.ค." and THAI_MONTHS_ABBR[3] == "เม.ย." and ENGLISH_MONTHS_ABBR[8] == "Sep"
    assert len(THAI_MONTH_NUMBERS) == 36  # 12 full, 12 abbreviated, 12 abbreviated without dots
    assert (THAI_MONTH_NUMBERS["ตุลาคม"], THAI_MONTH_NUMBERS["ต.ค."], THAI_MONTH_NUMBERS["มีค"]) == (10, 10, 3)
    # The readers, letters and pages use these lists: a Thai date in a file reads back the same day.
    assert parse_date("1 ตุลาคม 2548") == "2005-10-01" and parse_date("30 ก.ย. 49") == "2006-09-30"


def test_letters_and_pages_write_dates_and_periods_with_the_module():
    from kpis.letters.render import date_th, period_en, quarter_months_th
    from kpis.summary.labels import fmt_date, fmt_period

    assert date_th(date(2005, 10, 1)) == "๑ ตุลาคม ๒๕๔๘"
    assert quarter_months_th("2549-Q1") == "(ต.ค.–ธ.ค. ๒๕๔๘)"
    assert period_en("2549-Q4") == "July–September 2006 (2549-Q4)"
    assert fmt_date(date(2006, 9, 30), "th") == "30 ก.ย. 2549" and fmt_date(date(2006, 9, 30), "en") == "30 Sep 2006"
    assert fmt_period("2549-Q1", "en") == "FY2006 Q1" and fmt_period("2549-Q1", "th") == "ไตรมาส 1/2549"
