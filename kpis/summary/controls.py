"""The committee's controls in a pilot's summary section (data-quality.md): its closed quarters
(with a flag where the composite changed since closing), the files held for a decision, and the
outlier flags of its latest two due periods ("Figures to confirm").

Restricted pilots: closures (composite and status only) and held files (agency and dates, the
same facts as reporting compliance) are shown; their outlier flags are not (marts.kpi_outliers is
none of the relations the open side may show of them, warehouse.md: a flag names a KPI and is
made from its actuals).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import duckdb

from warehouse.display import ident


@dataclass
class Closure:
    period: str
    closed_at: datetime
    closed_by: str
    composite_at_closing: Decimal | None
    composite: Decimal | None       # the period's composite now
    changed_since_closing: bool


@dataclass
class HeldFile:
    """A file held for a closed quarter, waiting for approve or reject. file_name is agency text
    (None for a restricted pilot)."""
    submission_id: int
    agency_code: str
    name_th: str
    name_en: str
    period: str
    submitted_on: date
    received_on: date
    file_name: str | None


@dataclass
class OutlierFlag:
    kpi_code: str
    period: str
    rule: str
    actual: Decimal | None = None
    history_median: Decimal | None = None
    modified_z: Decimal | None = None      # None for rule changed_after_flat


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    res = con.execute(sql, params)
    names = [d[0] for d in res.description]
    return [dict(zip(names, r)) for r in res.fetchall()]


def _by_pilot(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict[str, list[dict]]:
    """Rows of a query for every pilot at once (its first column pilot_id), grouped by pilot in the
    query's order: one query per kind of row, not one per pilot (issue 12: 400 pilots)."""
    out: dict[str, list[dict]] = {}
    for r in _rows(con, sql, params or []):
        out.setdefault(r.pop("pilot_id"), []).append(r)
    return out


class Controls:
    """The controls of every pilot, read with one query each (see fill)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        # a published copy made before migration 0005 has no approval tables
        self.closures = closures(con) if _has_approval(con) else {}
        self.held = held_files(con)
        self.flags = figures_to_confirm(con)


# Whether an open closure `c` (approval.quarter_closures) changed since closing, beside its
# marts.pilot_scores row `s` (data-quality.md §2; docs/registry.md). With a row: the row's flag (NULL
# and NULL are no change). Without one the period is not due, for one of two reasons:
# - the registry no longer covers it (the pilot's dates moved, or the pilot is gone): its composite
#   is gone, which differs from one at closing (changed), but not from none (NULL at closing:
#   no composite then, none now, unchanged);
# - the pilot's dates still cover it but it had not ended by the as-of date (`rebuild --as-of` an
#   earlier day): nothing changed, it is not due yet as of that day (unchanged).
# The summaries and the web's Closed quarters page (web/held.py) both use this one definition.
CHANGED_SINCE_CLOSING = """coalesce(s.changed_since_closing,
    c.composite_at_closing IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM registry.pilots r
        WHERE r.pilot_id = c.pilot_id
          AND r.start_date <= marts.quarter_end(CAST(split_part(c.period, '-Q', 1) AS INTEGER),
                                                CAST(split_part(c.period, '-Q', 2) AS INTEGER))
          AND r.end_date >= marts.quarter_start(CAST(split_part(c.period, '-Q', 1) AS INTEGER),
                                                CAST(split_part(c.period, '-Q', 2) AS INTEGER))))"""


def closures(con: duckdb.DuckDBPyConnection) -> dict[str, list[Closure]]:
    """Per pilot, its closed periods (open closures), latest first, with the composite now."""
    return {pid: [Closure(**r) for r in rows] for pid, rows in _by_pilot(con, f"""
        SELECT c.pilot_id, c.period, c.closed_at, c.closed_by, c.composite_at_closing, s.composite_score AS composite,
               {CHANGED_SINCE_CLOSING} AS changed_since_closing
        FROM approval.quarter_closures c
        LEFT JOIN marts.pilot_scores s USING (pilot_id, period)
        WHERE c.reopened_at IS NULL
        ORDER BY c.pilot_id, c.period DESC""").items()}


# The held files' query, as module constants so that tests/test_steps.py's parse sees every
# relation the summaries read (a placeholder holding a local is parsed as NULL).
_HELD_SELECT = """
        SELECT s.pilot_id, s.submission_id, s.agency_code, coalesce(a.name_th, s.agency_code) AS name_th,
               coalesce(a.name_en, s.agency_code) AS name_en, s.period, s.submitted_on, s.received_on, s.file_name"""
_HELD_TAIL = """
        LEFT JOIN registry.agencies a USING (agency_code)
        ORDER BY s.pilot_id, s.period DESC, s.submission_id"""
# received_on: the Bangkok date, as approval.restricted_held's (migration 0023), not received_at's
# UTC one (warehouse/times.bangkok_date_sql, written out: test_steps parses the constant).
_OPEN_HELD = """SELECT pilot_id, submission_id, agency_code, period, submitted_on,
                     CAST(received_at + INTERVAL 7 HOUR AS DATE) AS received_on, file_name
              FROM ingest.submissions WHERE status = 'held' AND pilot_id IS NOT NULL"""
_RESTRICTED_HELD = """SELECT h.pilot_id, h.submission_id, h.agency_code, h.period, h.submitted_on, h.received_on, NULL
              FROM approval.restricted_held h"""
HELD_FILES_SQL = f"{_HELD_SELECT} FROM ({_OPEN_HELD}) s {_HELD_TAIL}"
HELD_FILES_WITH_RESTRICTED_SQL = f"{_HELD_SELECT} FROM ({_OPEN_HELD} UNION ALL {_RESTRICTED_HELD}) s {_HELD_TAIL}"


def held_files(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """Per pilot, its held files (as rows: fill hides a restricted pilot's file names). A
    restricted pilot's held files are in the restricted store; the open warehouse lists them in
    approval.restricted_held (id, agency, dates: migration 0012), with no file name. (A published
    copy made before migration 0012 has no such table.)"""
    return _by_pilot(con, HELD_FILES_WITH_RESTRICTED_SQL if _has_table(con, "approval", "restricted_held")
                     else HELD_FILES_SQL)


def figures_to_confirm(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """Per pilot, the flags of its latest two due periods (data-quality.md §1), latest period first."""
    return _by_pilot(con, """
        WITH latest AS (
            SELECT pilot_id, period FROM marts.pilot_scores
            QUALIFY row_number() OVER (PARTITION BY pilot_id ORDER BY period DESC) <= 2)
        SELECT o.pilot_id, o.kpi_code, o.period, o.rule, o.actual, o.history_median, o.modified_z
        FROM marts.kpi_outliers o JOIN latest USING (pilot_id, period)
        ORDER BY o.pilot_id, o.period DESC, o.kpi_code""")


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                       [schema, table]).fetchall()[0][0] > 0


def _has_approval(con: duckdb.DuckDBPyConnection) -> bool:
    return _has_table(con, "approval", "quarter_closures")


def fill(con: duckdb.DuckDBPyConnection, section, batch: Controls | None = None) -> None:
    """Add the controls to a PilotSection (kpis.summary.model); batch: every pilot's, read once."""
    batch = batch or Controls(con)
    pid, restricted = section.pilot_id, section.restricted
    section.closures = batch.closures.get(pid, [])
    section.held = [HeldFile(**{**r, "file_name": None if restricted else ident(r["file_name"])})
                    for r in batch.held.get(pid, [])]
    # None for a restricted pilot: marts.kpi_outliers is none of the relations the open side may
    # show of it (warehouse.md), and its flags are in the restricted store anyway.
    section.to_confirm = [] if restricted else [OutlierFlag(**r) for r in batch.flags.get(pid, [])]
    current = next((c for c in section.closures if c.period == section.period), None)
    section.closed = current is not None
    section.changed_since_closing = current is not None and current.changed_since_closing
    section.composite_at_closing = current.composite_at_closing if current else None


def run_flags(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The outlier flags raised by the files of one run (the validation report lists them),
    whatever their period's due date (data-quality.md §1): marts.kpi_outlier_checks' flagged rows,
    the test marts.kpi_outliers keeps for due periods only. An early report (its quarter not yet
    ended) is flagged in the report of the night that accepted it.
    A restricted pilot's flags stay out, like its files' details. Numbers come as plain text."""
    rows = _rows(con, """
        SELECT o.pilot_id, o.kpi_code, o.period, o.actual, o.history_n, o.history_median, o.modified_z, o.rule,
               o.submission_id, o.row_number
        FROM marts.kpi_outlier_checks o
        JOIN ingest.submissions s USING (submission_id)
        JOIN registry.pilots p ON p.pilot_id = o.pilot_id
        WHERE s.run_id = ? AND o.rule IS NOT NULL AND p.classification <> 'restricted'
        ORDER BY o.pilot_id, o.period, o.kpi_code""", [run_id])
    for r in rows:
        for name in ("actual", "history_median"):
            r[name] = "–" if r[name] is None else format(r[name].normalize(), "f")  # never 1E+2
        # z with its 4 decimals, as stored and as the summary shows it: beside the rule |z| > 3.5,
        # a flagged 3.50004 stored 3.5000 must not read "3.5" (verifier VD).
        z = r["modified_z"]
        r["modified_z"] = "–" if z is None else format(z.quantize(Decimal("0.0001")), "f")
    return rows
