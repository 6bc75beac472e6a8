"""Thai fiscal calendar (agency-report-v1.md, "Time"): fiscal years and quarters.

A fiscal year runs 1 October to 30 September and is named by the Buddhist-Era (BE = CE + 543)
year in which it ends; Q1 is Oct-Dec, Q2 Jan-Mar, Q3 Apr-Jun, Q4 Jul-Sep.
"""
from __future__ import annotations

import re
from datetime import date

BE_OFFSET = 543
# Canonical period text, as the normaliser writes it. The year must be BE (>= 2400): a CE year
# such as `2005-Q1` is left unread by the normaliser and must not pass as BE year 2005.
PERIOD = re.compile(r"^(?:2[4-9]|[3-9][0-9])[0-9]{2}-Q[1-4]\Z")

# (first month, last month, last day, CE year offset from the CE year the fiscal year ends in)
_QUARTERS = {1: (10, 12, 31, -1), 2: (1, 3, 31, 0), 3: (4, 6, 30, 0), 4: (7, 9, 30, 0)}


def is_period(text: object) -> bool:
    return isinstance(text, str) and PERIOD.match(text) is not None


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day (CE) of a canonical period: '2548-Q1' -> (2004-10-01, 2004-12-31)."""
    if not is_period(period):
        raise ValueError(f"not a canonical fiscal quarter: {period!r}")
    fiscal_year, quarter = int(period[:4]), int(period[-1])
    first, last, last_day, shift = _QUARTERS[quarter]
    year = fiscal_year - BE_OFFSET + shift
    return date(year, first, 1), date(year, last, last_day)


def fiscal_year_of(day: date) -> int:
    """BE fiscal year containing `day`: 1 Oct 2004 .. 30 Sep 2005 is 2548."""
    return day.year + BE_OFFSET + (1 if day.month >= 10 else 0)
