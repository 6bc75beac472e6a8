"""What approving a held file would change: the KPI values, scores and composites of its pilot as
they are and as they would be (shared/spec/data-quality.md §2, the committee's held-files page).

Worked out by the marts' own SQL, never a copy of the formulas: a scratch in-memory DuckDB gets
only that pilot's rows from the published copy (or, for a restricted pilot, from the restricted
store, attached read-only), the approval is applied there by pilots/approval.decide (the very code
the `approve` job runs), and kpis/build.build_marts builds the score marts of that scratch
database (kpi_scores, pilot_scores and the marts they read). Every mart is per pilot, so one
pilot's rows give that pilot's figures. The scratch database is dropped afterwards; nothing is
ever written to either store. Measured (bench/web.py --held): about 150 ms of CPU a call at 40
pilots, most of it DuckDB running the three marts' SQL.

Readings (the spec is silent):
- The as-of date is the one the store's marts were built for (ops.mart_inputs), so "as is" and
  "would be" differ only by the approval; the figures "as is" are the store's marts themselves.
- The closures come from the published copy in both cases: the committee's closures live in
  the open warehouse (pilots/approval.py), the restricted store keeps only a mirror.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from kpis import steps
from kpis.build import build_marts
from pilots import approval

# The relations the marts read (kpis/steps.py), copied for one pilot; every one has pilot_id.
PILOT_TABLES = ("registry.pilots", "registry.pilot_agencies", "registry.kpis", "registry.kpi_thresholds",
                "ingest.submissions", "ingest.held_kpi_actuals", "ingest.held_budget_lines",
                "core.kpi_actuals", "core.budget_lines")
# What approval.decide and build_marts write: the tables only, empty.
# No ops table: the scratch build keeps no keys (build_marts record=False), so a published copy of
# an older schema than the code's (migrated by the next night only) serves the what-if as well.
EMPTY_TABLES = ("approval.decisions", "ingest.status_changes")
SCHEMAS = ("registry", "ingest", "core", "approval", "marts")
WHATIF_RUN = "what-if"  # the run id the scratch decision is recorded under (never stored anywhere)
# The marts the page shows, built with every mart they read: the scores only (half the build's time).
SHOWN_MARTS = ("kpi_scores", "pilot_scores")


def with_inputs(names: tuple[str, ...]) -> list[str]:
    """These marts and, transitively, the marts they read (kpis/steps.py's declarations)."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += steps.MARTS[name].inputs
    return sorted(found)


_KPI_SQL = """
SELECT s.period, s.kpi_code, s.actual, s.score, s.weighted_score, s.status, s.is_missing, s.weight,
       s.t1, s.t2, s.t3, s.t4, s.t5
FROM {db}.marts.kpi_scores s WHERE s.pilot_id = ? ORDER BY s.period, s.kpi_code"""
_PILOT_SQL = """
SELECT period, composite_score, status, kpis_reported, kpis_expected, closed, changed_since_closing
FROM {db}.marts.pilot_scores WHERE pilot_id = ? ORDER BY period"""


class NotHeld(LookupError):
    """No held file by that id in the stores given."""


@dataclass(frozen=True)
class KpiFigure:
    kpi_code: str
    actual: Decimal | None
    score: Decimal
    weighted_score: Decimal
    status: str
    is_missing: bool
    weight: Decimal
    thresholds: tuple


@dataclass(frozen=True)
class PeriodFigures:
    period: str
    composite: Decimal | None
    status: str
    kpis_reported: int
    kpis_expected: int
    closed: bool
    changed_since_closing: bool
    kpis: dict[str, KpiFigure] = field(default_factory=dict)


@dataclass(frozen=True)
class WhatIf:
    submission_id: int
    pilot_id: str
    agency_code: str
    period: str
    restricted: bool          # read from the restricted store
    as_of: date
    outcome: str              # what approving makes of the file: accepted, or superseded (pilots/approval.py)
    replaced: int | None      # the accepted file it would replace
    kept: int | None          # the accepted file that would stay (outcome superseded)
    before: dict[str, PeriodFigures]  # every due period of the pilot, as it is
    after: dict[str, PeriodFigures]   # as it would be once approved

    def changed_periods(self) -> list[str]:
        """The periods whose composite, status or any KPI figure would change, in order."""
        return [p for p in sorted(set(self.before) | set(self.after)) if self.before.get(p) != self.after.get(p)]


@contextmanager
def _reading(store: str):
    """A DuckDB error met while reading one store (a damaged file) says which: its `store`
    attribute is "published" or "restricted", the innermost reading's (the web's 503 names that file)."""
    try:
        yield
    except duckdb.Error as exc:
        if getattr(exc, "store", None) is None:
            exc.store = store
        raise


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _held_row(con: duckdb.DuckDBPyConnection, db: str, submission_id: int) -> tuple | None:
    rows = con.execute(f"SELECT pilot_id, agency_code, period FROM {db}.ingest.submissions "
                       "WHERE submission_id = ? AND status = 'held'", [submission_id]).fetchall()
    return rows[0] if rows else None


def _figures(con: duckdb.DuckDBPyConnection, db: str, pilot_id: str) -> dict[str, PeriodFigures]:
    kpis: dict[str, dict[str, KpiFigure]] = {}
    for period, code, actual, score, weighted, status, missing, weight, *t in con.execute(
            _KPI_SQL.format(db=db), [pilot_id]).fetchall():
        kpis.setdefault(period, {})[code] = KpiFigure(code, actual, score, weighted, status, missing, weight,
                                                     tuple(t))
    return {period: PeriodFigures(period, composite, status, reported, expected, closed, changed,
                                  kpis.get(period, {}))
            for period, composite, status, reported, expected, closed, changed in con.execute(
                _PILOT_SQL.format(db=db), [pilot_id]).fetchall()}


def _as_of(con: duckdb.DuckDBPyConnection, db: str) -> date:
    rows = con.execute(f"SELECT as_of FROM {db}.ops.mart_inputs WHERE mart_name = 'pilot_scores'").fetchall()
    if not rows:
        raise NotHeld("the store has no marts yet")
    return rows[0][0]


def what_if_approved(published: Path, submission_id: int, restricted_store: Path | None = None,
                     as_of: date | None = None) -> WhatIf:
    """The figures of the held file's pilot as they are and as they would be once it is approved.

    published: the published copy. restricted_store: the restricted store, for an account cleared
    for restricted pilots (None: a restricted pilot's held file is not found). as_of: the day the
    marts are built for (default: the one the store's marts were built for). Raises NotHeld when
    no held file has that id in the stores given."""
    con = duckdb.connect(":memory:", config={"threads": 1})  # a few hundred rows: one thread is quickest
    try:
        with _reading("published"):
            con.execute(f"ATTACH {_quoted(published)} AS published (READ_ONLY)")
            source, held = "published", _held_row(con, "published", submission_id)
        if held is None and restricted_store is not None and Path(restricted_store).exists():
            with _reading("restricted"):
                con.execute(f"ATTACH {_quoted(restricted_store)} AS restricted (READ_ONLY)")
                source, held = "restricted", _held_row(con, "restricted", submission_id)
        if held is None:
            raise NotHeld(f"there is no held submission {submission_id}")
        pilot_id, agency_code, period = held
        with _reading(source):
            day = as_of or _as_of(con, source)
            before = _figures(con, source, pilot_id)
            _copy_pilot(con, source, pilot_id)
        con.execute("DETACH published")
        if source == "restricted":
            con.execute("DETACH restricted")
        decided = approval.decide(con, submission_id, "approve", by="what-if", note=None, at=datetime(2000, 1, 1),
                                  run_id=WHATIF_RUN)
        build_marts(con, day, names=with_inputs(SHOWN_MARTS), record=False)
        after = _figures(con, "memory", pilot_id)
    finally:
        con.close()
    return WhatIf(submission_id, pilot_id, agency_code, period, source == "restricted", day, decided.status,
                  decided.replaced, decided.kept, before, after)


def _copy_pilot(con: duckdb.DuckDBPyConnection, source: str, pilot_id: str) -> None:
    """The scratch database's tables, made by the store's own DDL (types, keys), with the pilot's
    rows; the tables decide and build_marts write, empty."""
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA memory.{schema}")
    wanted = [*PILOT_TABLES, *EMPTY_TABLES, "approval.quarter_closures"]
    ddl = dict(con.execute("SELECT schema_name || '.' || table_name, sql FROM duckdb_tables() "
                           "WHERE database_name = ? AND list_contains(?, schema_name || '.' || table_name)",
                           [source, wanted]).fetchall())
    for table in wanted:
        con.execute(ddl[table])  # schema-qualified: created in the scratch database
    for table in PILOT_TABLES:
        con.execute(f"INSERT INTO memory.{table} SELECT * FROM {source}.{table} WHERE pilot_id = ?", [pilot_id])
    with _reading("published"):  # the closures are the open warehouse's, whatever the source
        con.execute("INSERT INTO memory.approval.quarter_closures "
                    "SELECT * FROM published.approval.quarter_closures WHERE pilot_id = ?", [pilot_id])
