"""Small pieces shared by the command modules (kept apart so they import no command module)."""
from __future__ import annotations

import gc
import traceback
from datetime import date

import click

# Exit codes: one meaning each (README "Exit codes", docs/operations.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the job failed; nothing was committed, the warehouse is as it was
EXIT_USAGE = 2  # click's usage error: a wrong option or argument
EXIT_LOCKED = 3  # another run holds the warehouse: cron shows it, and the next night runs as usual
EXIT_REGISTRY = 4  # the registry is broken: nothing was written
EXIT_COMMITTED_WITH_ERRORS = 5  # the data committed, but a later step did not finish (see ops.runs)
EXIT_QUARANTINED = 6  # `check`: at least one file would be quarantined


class RefusingGroup(click.Group):
    """Every command: a warehouse file that cannot be used is one line and exit 1, no traceback."""

    def invoke(self, ctx: click.Context):
        from warehouse.errors import WarehouseRefused

        try:
            return super().invoke(ctx)
        except WarehouseRefused as exc:
            click.echo(f"pilotkpi: {exc}", err=True)
            ctx.exit(EXIT_FAILED)


def release(exc: BaseException) -> None:
    """Let go of what a failed job's frames still hold, its DuckDB connection above all.

    Prefect keeps a failed run's exception (in its result cache, for the run's final state), and
    through the exception's traceback every frame it passed through, with their local variables.
    A connection still alive at exit, even closed, makes DuckDB's bindings (nanobind) print
    "leaked instance" lines to stderr. Clearing those finished frames' locals frees it now.
    """
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [current.__cause__, current.__context__]
    gc.collect()


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None
