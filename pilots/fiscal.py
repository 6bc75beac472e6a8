"""Thai fiscal calendar (agency-report-v1.md, "Time"): the one place its arithmetic is written.

A fiscal year runs 1 October to 30 September and is named by the Buddhist-Era (BE = CE + 543)
year in which it ends; Q1 is Oct-Dec, Q2 Jan-Mar, Q3 Apr-Jun, Q4 Jul-Sep. So 1 Oct 2005 is in
FY2549 Q1 and 30 Sep 2006 in FY2549 Q4. English text names a fiscal year by the CE year it ends
in (FY2549 is "FY2006"), as the English summary does.

Readers, the registry, the marts' Python helpers, letters and pages use these functions; the SQL
macros in kpis/macros.sql (marts.fiscal_year_of, quarter_start, quarter_end) are the same rules in
SQL, checked against this module by tests/test_fiscal.py.
"""
from __future__ import annotations

import re
from datetime import date

BE_OFFSET = 543
# Canonical period text, as the normaliser writes it. The year must be BE (>= 2400): a CE year
# such as `2005-Q1` is left unread by the normaliser and must not pass as BE year 2005.
PERIOD = re.compile(r"^(?:2[4-9]|[3-9][0-9])[0-9]{2}-Q[1-4]\Z")

# quarter -> (first month, last month, last day); Q1's months fall in the CE year before the FY ends
_QUARTERS = {1: (10, 12, 31), 2: (1, 3, 31), 3: (4, 6, 30), 4: (7, 9, 30)}


def be_year(ce_year: int) -> int:
    """2006 -> 2549."""
    return ce_year + BE_OFFSET


def ce_year(be_year: int | str) -> int:
    """2549 -> 2006 (also the English name of BE fiscal year 2549: FY2006)."""
    return int(be_year) - BE_OFFSET


def is_period(text: object) -> bool:
    return isinstance(text, str) and PERIOD.match(text) is not None


def split_period(period: str) -> tuple[int, int]:
    """'2549-Q3' -> (2549, 3)."""
    if not is_period(period):
        raise ValueError(f"not a canonical fiscal quarter: {period!r}")
    return int(period[:4]), int(period[-1])


def quarter_months(fiscal_year: int, quarter: int) -> tuple[int, int, int]:
    """(first month, last month, CE year of those months) of a quarter: (2549, 1) -> (10, 12, 2005)."""
    first, last, _ = _QUARTERS[quarter]
    return first, last, ce_year(fiscal_year) - (1 if quarter == 1 else 0)


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day (CE) of a canonical period: '2548-Q1' -> (2004-10-01, 2004-12-31)."""
    fiscal_year, quarter = split_period(period)
    first, last, year = quarter_months(fiscal_year, quarter)
    return date(year, first, 1), date(year, last, _QUARTERS[quarter][2])


def fiscal_year_of(day: date) -> int:
    """BE fiscal year containing `day`: 1 Oct 2004 .. 30 Sep 2005 is 2548."""
    return be_year(day.year) + (1 if day.month >= 10 else 0)


def quarter_of(day: date) -> int:
    """Fiscal quarter (1-4) containing `day`: October is Q1, January Q2."""
    return (day.month + 2) // 3 % 4 + 1


def period_of(day: date) -> str:
    """The canonical period containing `day`: 2005-10-01 -> '2549-Q1'."""
    return f"{fiscal_year_of(day)}-Q{quarter_of(day)}"


def fy_en(fiscal_year: int | str) -> str:
    """A BE fiscal year as English text names it: 2549 -> 'FY2006'."""
    return f"FY{ce_year(fiscal_year)}"
