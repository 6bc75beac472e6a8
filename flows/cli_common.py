"""Small pieces shared by the command modules (kept apart so they import no command module)."""
from __future__ import annotations

from datetime import date

import click

EXIT_LOCKED = 3  # another run holds the warehouse: cron shows it, and the next night runs as usual


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None
