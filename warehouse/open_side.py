"""What the open side may show of a restricted pilot (../shared/spec/warehouse.md, "Restricted
pilots: the segregated store").

Summaries, validation reports, letters, Prefect artifacts, logs and exports show a restricted
pilot's registry.pilots and registry.pilot_agencies rows, marts.pilot_scores, and
marts.reporting_compliance / marts.reminders only: never its KPIs' names or thresholds, file
names, defects, actuals or budget lines. Each output filters on its way out with these helpers,
whether or not the open warehouse still holds the restricted rows (the restricted store keeps
them apart as well: defence in depth).

A file whose pilot cannot be read is open (the spec's words). A duplicate records no pilot of its
own; it is restricted when the file it repeats is, since it carries the same bytes and usually the
same name.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import duckdb

# The relations of which the open side may show a restricted pilot's rows.
OPEN_RELATIONS = frozenset({"registry.pilots", "registry.pilot_agencies", "marts.pilot_scores",
                            "marts.reporting_compliance", "marts.reminders"})

# What stands in for a hidden file name in a log line or an error message.
HIDDEN_NAME = "[file of a restricted pilot]"

# The restricted pilots' ids, as a subquery.
RESTRICTED_PILOTS_SQL = "SELECT pilot_id FROM registry.pilots WHERE classification = 'restricted'"

# The submission ids of restricted pilots' files: a file's own pilot, or, for a duplicate (which
# records none), the pilot of the file it repeats.
RESTRICTED_SUBMISSIONS_SQL = f"""
    SELECT s.submission_id FROM ingest.submissions s
    LEFT JOIN ingest.submissions first ON first.submission_id = s.duplicate_of
    WHERE coalesce(s.pilot_id, first.pilot_id) IN ({RESTRICTED_PILOTS_SQL})"""


def restricted_pilots(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(RESTRICTED_PILOTS_SQL).fetchall()}


def restricted_submissions(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {r[0] for r in con.execute(RESTRICTED_SUBMISSIONS_SQL).fetchall()}


def hidden_names(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> set[str]:
    """The names among a job's files that logs must not print: all but those of files the open
    warehouse records as open. A restricted pilot's file is hidden, and so is one the open
    warehouse does not record at all (the restricted store may hold it instead)."""
    names = sorted(set(names))
    if not names:
        return set()
    shown = {r[0] for r in con.execute(f"""
        SELECT file_name FROM ingest.submissions
        WHERE list_contains(?, file_name) AND submission_id NOT IN ({RESTRICTED_SUBMISSIONS_SQL})""",
        [names]).fetchall()}
    return set(names) - shown


def redact(text: str, names: Iterable[str]) -> str:
    """text with every hidden name (and its stem, which a renamed twin `name.1.csv` keeps) replaced
    by HIDDEN_NAME. Longer names first, so a name inside another is not half replaced."""
    words = set()
    for name in names:
        if name:
            words.add(name)
            stem = name.rsplit(".", 1)[0]
            if len(stem) >= 3:
                words.add(stem)
    for word in sorted(words, key=len, reverse=True):
        text = text.replace(word, HIDDEN_NAME)
    return text


@contextmanager
def names_hidden(names: set[str]) -> Iterator[None]:
    """An exception leaving the block names none of `names`: its message and an OSError's file
    names are redacted in place (its type stays, for the caller's message), and the exceptions it
    was raised from are dropped, since their messages may name the files too."""
    from warehouse.errors import redact_exception

    try:
        yield
    except Exception as exc:
        if names:
            redact_exception(exc, names)
        raise
