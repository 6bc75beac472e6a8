"""The committee's clock: "today" is the date in Bangkok, whatever the host's time zone.

Never `date.today()` or a naive `datetime.now()`: they give the host's local date, which is the
previous day on a UTC host before 07:00 Bangkok time. `utc_now` is the one place time is read, so
tests can set it (tests/test_machine_state.py runs under far-off time zones).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def today_in_bangkok() -> date:
    return utc_now().astimezone(BANGKOK).date()
