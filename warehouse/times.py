"""Times as people read them: the warehouse stores UTC, and shows Bangkok time with its offset.

Every TIMESTAMP column holds UTC without a zone (the COMMENTs say so). Shown to a person (explain,
ops.run_history) a time carries its zone: Bangkok time, the committee's and the schedule's clock,
written `2026-11-24 02:00:01+07:00` (ISO 8601, as Python prints an aware datetime). The offset
is fixed: Asia/Bangkok has been UTC+7 all year, without daylight saving, since 1920, so the same
conversion is exact in Python and in SQL (migration 0005) and needs no time-zone database.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

BANGKOK_OFFSET = timedelta(hours=7)
BANGKOK_FIXED = timezone(BANGKOK_OFFSET)


def bangkok_time(utc: datetime | str | None) -> datetime | None:
    """A UTC time in Bangkok time, with its offset: naive, the warehouse's stored TIMESTAMP; aware,
    a time in any zone; text, the audit trail's ISO time. None for none. The one conversion of
    a time for people: shown_time, bangkok_date, the web's pages (`moment`) and downloads (web/tables.py)."""
    if utc is None:
        return None
    if isinstance(utc, str):
        utc = datetime.fromisoformat(utc)
    if utc.tzinfo is None:
        utc = utc.replace(tzinfo=timezone.utc)
    return utc.astimezone(BANGKOK_FIXED)


def shown_time(utc: datetime | None) -> str:
    """A stored UTC time as Bangkok time with its offset; a dash for none."""
    if utc is None:
        return "–"
    return bangkok_time(utc).replace(microsecond=0).isoformat(sep=" ")


def bangkok_date(utc: datetime) -> date:
    """The Bangkok date of a stored UTC time (naive: the warehouse's; aware: any zone). A file taken
    in at 20:27 UTC was received the next day in Bangkok: every date shown is the Bangkok date."""
    return bangkok_time(utc).date()


def bangkok_date_sql(column: str) -> str:
    """SQL of bangkok_date for a TIMESTAMP column holding UTC (never CAST(column AS DATE): the UTC date)."""
    return f"CAST({column} + INTERVAL 7 HOUR AS DATE)"
