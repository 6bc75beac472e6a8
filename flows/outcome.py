"""How a job's end is told, by the command line, a served night and the web's decision jobs alike:
its file counts in one line, and letting go of what a failed job still holds. Not a command
module (flows/cli*.py): the web and the night import it too (tests/test_layers.py).
"""
from __future__ import annotations

import gc
import traceback


def files_line(counts: dict) -> str:
    """A job's file counts, as `pilotkpi run` and a served run print them."""
    return (f"files seen {counts.get('files_seen', 0)}: accepted {counts.get('accepted', 0)}, "
            f"superseded {counts.get('superseded', 0)}, duplicates {counts.get('duplicates', 0)}, "
            f"quarantined {counts.get('quarantined', 0)}"
            + (f", held {counts['held']}" if counts.get("held") else ""))  # held: only where a quarter is closed


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
