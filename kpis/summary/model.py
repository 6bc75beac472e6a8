"""One data model of the committee summary (scoring.md §5), read from the marts.

Every renderer (Markdown now, HTML later) takes this model, so editions cannot disagree.
Restricted pilots carry their registry facts, status, composite and counts only: no KPI, actual,
budget line, file name or defect (warehouse/open_side.py); totals across pilots leave them out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import duckdb

from warehouse.display import identities
from kpis.summary import controls
from warehouse.open_side import RESTRICTED_SUBMISSIONS_SQL


@dataclass
class KpiRow:
    kpi_code: str
    name_th: str
    name_en: str
    unit: str
    direction: str
    aggregation: str
    weight: Decimal
    actual: Decimal | None
    thresholds: tuple[Decimal, ...]
    score: Decimal
    status: str
    annual: tuple[Decimal, ...] | None = None  # sum KPIs: the registered thresholds the applied ones pro-rate


@dataclass
class ComplianceRow:
    agency_code: str
    name_th: str
    name_en: str
    role: str
    period: str
    submitted: bool
    first_submitted_on: date | None
    due_date: date
    days_late: int | None


@dataclass
class QuarantinedFile:
    """A quarantined file of a pilot. file_name and raw_* are agency text: shown, never parsed."""
    submission_id: int
    file_name: str
    agency_code: str | None   # canonical, or None where it could not be read
    period: str | None        # canonical 2548-Q1, or None
    reasons: list[tuple[int | None, str | None, str, str, str]]  # (row, column, code, en, th)
    raw_agency_code: str | None = None  # as the file wrote it
    raw_period: str | None = None
    agency_name_th: str | None = None   # registry name of agency_code, where it is a registered agency
    agency_name_en: str | None = None
    resolved_by: Resolution | None = None
    raw_pilot_id: str | None = None     # as the file wrote it: shown for a file no pilot could take
    more_reasons: int = 0               # its errors beyond the REASONS_SHOWN listed (ingest.issues has all)


@dataclass
class Resolution:
    """A valid version of the same (pilot, agency, period) received after a quarantined file."""
    submission_id: int
    file_name: str
    status: str   # accepted, or superseded by a still later version


@dataclass
class PilotSection:
    pilot_id: str
    name_th: str
    name_en: str
    layer: int
    strategies: list[int]
    restricted: bool
    period: str | None
    composite: Decimal | None
    status: str
    kpis_reported: int
    kpis_expected: int
    trend: list[tuple[str, Decimal | None, str]] = field(default_factory=list)
    kpis: list[KpiRow] = field(default_factory=list)
    budget: dict | None = None
    late_or_missing: list[ComplianceRow] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    # The committee's controls (kpis/summary/controls.py, data-quality.md).
    closed: bool = False                       # the headline period is closed
    changed_since_closing: bool = False        # ... and its composite differs from the one closed
    composite_at_closing: Decimal | None = None
    closures: list[controls.Closure] = field(default_factory=list)
    held: list[controls.HeldFile] = field(default_factory=list)
    to_confirm: list[controls.OutlierFlag] = field(default_factory=list)
    end_date: date | None = None   # the registry's end of the pilot
    ended: bool = False            # the as-of date is past end_date: the pilot says so


@dataclass
class EscalatedAgency:
    """An agency with reports 60 or more days overdue (reminder level 3, follow-up.md)."""
    agency_code: str
    name_th: str
    name_en: str
    reports: int  # its level-3 overdue reports


@dataclass
class SummaryModel:
    as_of: date
    pilots: list[PilotSection]
    by_status: dict[str, int]
    by_layer: dict[int, int]
    by_strategy: dict[int, int]
    budget_by_layer: list[dict]   # layer, total_allocated_thb, integrated_thb (latest due periods)
    strategy_names: dict[int, dict[str, str]] = field(default_factory=dict)  # registry.strategies: {n: {th, en}}
    # marts.reminders (follow-up.md): overdue reports by level 1-3, and the level-3 agencies by name
    reminders_by_level: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    escalated: list[EscalatedAgency] = field(default_factory=list)
    # Restricted pilots left out of the totals across pilots (budget by layer), which say so.
    restricted_left_out: int = 0
    # Quarantined files that no pilot could take (their pilot unknown or unreadable): otherwise
    # they would show only in a validation report. Never a restricted pilot's file.
    unplaced: list[QuarantinedFile] = field(default_factory=list)
    # The lowest composite of each status band, read from the one definition the marts use
    # (marts.score_band, kpis/macros.sql) for the glossary: {"on_target": 3, "at_risk": 2}.
    bands: dict[str, Decimal] = field(default_factory=dict)


STATUSES = ("on_target", "at_risk", "off_track", "no_data")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None,
          decimals: tuple[str, ...] = ()) -> list[dict]:
    """The query's rows as dicts. decimals: columns the query selects as DECIMAL cast to VARCHAR
    (_as_text), made Decimal again here: DuckDB's text of a DECIMAL keeps its scale ('20.0000'), so
    the Decimal is the one DuckDB would give (the same value, digits and repr), for less (at 400
    pilots DuckDB's own conversion was 27 of the KPI rows' 36 ms, the text's fetch 8, to which the
    Decimal() calls here add theirs; the whole model 0.13-0.15 -> 0.12-0.13 CPU s, paired)."""
    res = con.execute(sql, params or [])
    names = [d[0] for d in res.description]
    rows = [dict(zip(names, r)) for r in res.fetchall()]
    for r in rows if decimals else ():
        for c in decimals:
            if r[c] is not None:
                r[c] = Decimal(r[c])
    return rows


def _as_text(*columns: str) -> str:
    """`expr::VARCHAR AS name` for each 'expr AS name' (or 'alias.name'): DECIMAL columns fetched
    as text, for _rows(decimals=their names)."""
    return ", ".join(f"{column.partition(' AS ')[0]}::VARCHAR AS {_name_of(column)}" for column in columns)


def _name_of(column: str) -> str:
    """The name a selected column comes back under: 'expr AS name' -> name, 'alias.name' -> name."""
    expr, _, name = column.partition(" AS ")
    return name or expr.split(".")[-1]


# Each pilot's headline period: its latest scored one (the period of its section).
HEADLINE = "SELECT pilot_id, max(period) AS period FROM marts.pilot_scores GROUP BY pilot_id"


def _pilot_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every registered pilot with its headline period's composite (none: no period yet)."""
    return _rows(con, f"""
        SELECT p.pilot_id, p.name_th, p.name_en, p.layer, p.strategies, p.classification, p.end_date,
               s.period, s.composite_score, s.status, s.kpis_reported, s.kpis_expected
        FROM registry.pilots p
        LEFT JOIN (SELECT s.* FROM marts.pilot_scores s
                   JOIN ({HEADLINE}) h ON h.pilot_id = s.pilot_id AND h.period = s.period) s
          USING (pilot_id)
        ORDER BY p.pilot_id""")


def _mark_ended(sections: list[PilotSection], as_of: date) -> None:
    for section in sections:
        section.ended = section.end_date is not None and as_of > section.end_date


def build_model(con: duckdb.DuckDBPyConnection, as_of: date) -> SummaryModel:
    batch = _Batch(con)
    sections = [_section(con, p, batch) for p in _pilot_rows(con)]
    _mark_ended(sections, as_of)

    by_status = {s: 0 for s in STATUSES}
    by_layer: dict[int, int] = {}
    by_strategy: dict[int, int] = {}
    for s in sections:
        by_status[s.status] = by_status.get(s.status, 0) + 1
        by_layer[s.layer] = by_layer.get(s.layer, 0) + 1
        for strategy in s.strategies:
            by_strategy[strategy] = by_strategy.get(strategy, 0) + 1

    # Budget by layer across open pilots, each as of its latest due period: restricted pilots are
    # left out (warehouse.md), and the page says how many. Pilot counts by status, layer and
    # strategy keep them: registry.pilots and marts.pilot_scores are theirs to show.
    budget_by_layer = _rows(con, f"""
        WITH latest AS ({HEADLINE})
        SELECT b.layer, sum(b.total_allocated_thb) AS total_allocated_thb, sum(b.integrated_thb) AS integrated_thb
        FROM marts.budget_integration_by_layer b
        JOIN latest USING (pilot_id, period)
        JOIN registry.pilots p USING (pilot_id)
        WHERE p.classification <> 'restricted'
        GROUP BY b.layer ORDER BY b.layer""")
    model = SummaryModel(as_of, sections, by_status, dict(sorted(by_layer.items())),
                         dict(sorted(by_strategy.items())), budget_by_layer, _strategy_names(con))
    model.restricted_left_out = sum(s.restricted for s in sections)
    _reminders(con, model)
    model.unplaced = _unplaced(con, {s.pilot_id for s in sections if s.restricted})
    model.bands = score_bands(con)
    return model


def sections_in_full(con: duckdb.DuckDBPyConnection, as_of: date) -> list[PilotSection]:
    """Every pilot's section with its line-level figures (KPI table, budget, compliance, outlier
    flags, held files' names), a restricted pilot's too, which stays marked `restricted`.

    For a store whose marts hold a restricted pilot's lines (the restricted store, warehouse.md),
    read for an account cleared to see them (web.md). `build_model` leaves those figures out of a
    restricted pilot's section, as the committee summary must; this is the same section code with
    nothing left out."""
    batch = _Batch(con)
    sections = []
    for p in _pilot_rows(con):
        section = _section(con, {**p, "classification": "open"}, batch)  # "open": nothing is left out
        section.restricted = p["classification"] == "restricted"
        sections.append(section)
    _mark_ended(sections, as_of)
    return sections


def score_bands(con: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    """The lowest score of each band, asked of marts.score_band itself over every score a composite
    can take (1.0000 to 5.0000, 4 decimals), so the glossary cannot drift from the marts."""
    row = con.execute("""
        SELECT min(s) FILTER (WHERE marts.score_band(s) = 'on_target'),
               min(s) FILTER (WHERE marts.score_band(s) = 'at_risk')
        FROM (SELECT i::DECIMAL(18, 0) * 0.0001 AS s FROM range(10000, 50001) t(i))""").fetchone()
    return {"on_target": row[0].normalize(), "at_risk": row[1].normalize()}


def _unplaced(con: duckdb.DuckDBPyConnection, restricted: set[str]) -> list[QuarantinedFile]:
    """Quarantined files with no pilot: the pilot id unreadable (NULL) or not in the registry (ingest
    keeps a well-formed unknown id in pilot_id, e.g. PLT-2548-030). A restricted
    pilot's file is never one (warehouse/open_side.py), nor one whose written pilot id names a
    restricted pilot, however spelt."""
    rows = _rows(con, f"""
        SELECT q.submission_id, q.file_name, q.agency_code, q.period, q.raw_agency_code, q.raw_period,
               q.raw_pilot_id, a.name_th AS agency_name_th, a.name_en AS agency_name_en
        FROM ingest.submissions q LEFT JOIN registry.agencies a ON a.agency_code = q.agency_code
        WHERE (q.pilot_id IS NULL OR q.pilot_id NOT IN (SELECT pilot_id FROM registry.pilots))
          AND q.status = 'quarantined'
          AND q.submission_id NOT IN ({RESTRICTED_SUBMISSIONS_SQL})
        ORDER BY q.submission_id""")
    secret = {pid.strip().upper() for pid in restricted}
    rows = [identities(r) for r in rows if (r["raw_pilot_id"] or "").strip().upper() not in secret]
    # The first REASONS_SHOWN (50) errors of each file, and their count (_reasons).
    reasons = _grouped(con, """
        WITH ranked AS (
            SELECT i.rowid AS issue_rowid, count(*) OVER (PARTITION BY i.submission_id) AS reasons_total
            FROM ingest.issues i
            WHERE i.severity = 'error' AND list_contains(?, i.submission_id)
            QUALIFY row_number() OVER (PARTITION BY i.submission_id
                                       ORDER BY i.row_number NULLS FIRST, i.column_name, i.rowid) <= 50)
        SELECT i.submission_id, i.row_number, i.column_name, i.code, i.message_en, i.message_th, r.reasons_total
        FROM ingest.issues i JOIN ranked r ON i.rowid = r.issue_rowid
        ORDER BY i.submission_id, i.row_number NULLS FIRST, i.column_name, i.rowid""",
                       "submission_id", params=[[r["submission_id"] for r in rows]])
    files = []
    for r in rows:
        listed, more = _reasons(reasons.get((r["submission_id"],), []))
        files.append(QuarantinedFile(
            r["submission_id"], r["file_name"], r["agency_code"], r["period"], listed, r["raw_agency_code"],
            r["raw_period"], r["agency_name_th"], r["agency_name_en"], raw_pilot_id=r["raw_pilot_id"], more_reasons=more))
    return files


# A quarantined file's errors listed in the summary: the first REASONS_SHOWN by row, then how many
# more. The summary is the committee's; the night's validation report lists every defect for the
# agency, and ingest.issues keeps them all.
# A fill-down gone wrong (100,000 rows, three defects each) once made the summaries' query of
# 300,000 messages fail at the job's memory limit, and the night end with exit 5 (verifier V4);
# it still did with only 50 listed, since the window held every error's two messages: the errors
# are now ranked on their row, column and rowid alone, and only the 50 kept are read whole.
# Ties (a file's errors on the same row and column, or without either) keep the order they
# were recorded in (rowid), as before: a complete order, so the same data lists the same 50 and a
# pilot's kept section stays byte for byte (kpis/summary/render.py SectionCache).
# (The queries are constant strings, with 50 written in them: tests/test_steps.py parses them whole.)
REASONS_SHOWN = 50


def _reasons(rows: list[dict]) -> tuple[list[tuple], int]:
    """(the reasons listed, how many more the file has) of a file's rows of a reasons query."""
    listed = [(x["row_number"], x["column_name"], x["code"], x["message_en"], x["message_th"]) for x in rows]
    return listed, (rows[0]["reasons_total"] - len(rows)) if rows else 0


def _strategy_names(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, str]]:
    """Names from strategies.yaml; none for a warehouse older than the table (shown as numbers)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'registry' "
                         "AND table_name = 'strategies'").fetchone()[0]
    if not exists:
        return {}
    return {r["number"]: {"th": r["name_th"], "en": r["name_en"]}
            for r in _rows(con, "SELECT number, name_th, name_en FROM registry.strategies")}


def _reminders(con: duckdb.DuckDBPyConnection, model: SummaryModel) -> None:
    """Counts are of overdue reports (rows of marts.reminders), not of letters or agencies."""
    for level, n in con.execute("SELECT level, count(*) FROM marts.reminders GROUP BY level").fetchall():
        model.reminders_by_level[level] = n
    model.escalated = [EscalatedAgency(**r) for r in _rows(con, """
        SELECT r.agency_code, a.name_th, a.name_en, count(*) AS reports
        FROM marts.reminders r JOIN registry.agencies a USING (agency_code)
        WHERE r.level = 3 GROUP BY ALL ORDER BY r.agency_code""")]


def _grouped(con: duckdb.DuckDBPyConnection, sql: str, *keys: str, params=None,
             decimals: tuple[str, ...] = ()) -> dict[tuple, list[dict]]:
    """Rows of one query for every pilot, grouped by its key columns (popped), in the query's order."""
    out: dict[tuple, list[dict]] = {}
    for r in _rows(con, sql, params, decimals):
        out.setdefault(tuple(r.pop(k) for k in keys), []).append(r)
    return out


# The DECIMAL columns of a section's KPI rows and budget, fetched as text (_rows).
KPI_DECIMALS = ("k.weight", "s.actual", "s.t1", "s.t2", "s.t3", "s.t4", "s.t5", "s.score",
                "t.t1 AS r1", "t.t2 AS r2", "t.t3 AS r3", "t.t4 AS r4", "t.t5 AS r5")
# A constant string, so tests/test_steps.py reads the budget query whole.
BUDGET_AS_TEXT = ("b.total_allocated_thb::VARCHAR AS total_allocated_thb, b.integrated_thb::VARCHAR AS integrated_thb, "
                  "b.fragmented_thb::VARCHAR AS fragmented_thb, b.integration_ratio::VARCHAR AS integration_ratio, "
                  "b.lead_share::VARCHAR AS lead_share, b.support_thb::VARCHAR AS support_thb, "
                  "b.disbursed_thb::VARCHAR AS disbursed_thb, b.disbursement_rate::VARCHAR AS disbursement_rate")
BUDGET_DECIMALS = tuple(map(_name_of, BUDGET_AS_TEXT.split(", ")))


class _Batch:
    """Each kind of row of the pilots' sections read once for all pilots, not once per pilot: at 400
    pilots the per-pilot queries took 80% of the summaries' time (issue 12, bench/incremental.md).

    A section shows the KPIs and the budget of its headline period only (_section), so only those
    rows are read: at 400 pilots, 1,342 of 9,394 KPI rows and 392 of 2,744 budget rows, whose
    Decimals took half the model's time (issue 22, the summaries of a quiet night)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.trend = _grouped(con, f"SELECT pilot_id, period, {_as_text('composite_score')}, status FROM marts.pilot_scores "
                                   "ORDER BY pilot_id, period", "pilot_id", decimals=("composite_score",))
        self.kpis = _grouped(con, f"""
            SELECT s.pilot_id, s.period, s.kpi_code, k.name_th, k.name_en, k.unit, k.direction, k.aggregation,
                   {_as_text(*KPI_DECIMALS)}, s.status
            FROM marts.kpi_scores s JOIN registry.kpis k USING (pilot_id, kpi_code)
            JOIN ({HEADLINE}) h ON h.pilot_id = s.pilot_id AND h.period = s.period
            LEFT JOIN registry.kpi_thresholds t
              ON t.pilot_id = s.pilot_id AND t.kpi_code = s.kpi_code AND t.fiscal_year = s.fiscal_year
            ORDER BY s.pilot_id, s.period, s.kpi_code""", "pilot_id", "period",
                                 decimals=tuple(map(_name_of, KPI_DECIMALS)))
        self.budget = _grouped(con, f"SELECT b.* REPLACE ({BUDGET_AS_TEXT}) FROM marts.budget_integration b JOIN ({HEADLINE}) h "
                                    "ON h.pilot_id = b.pilot_id AND h.period = b.period", "pilot_id", "period",
                               decimals=BUDGET_DECIMALS)
        self.late = _grouped(con, """
            SELECT c.pilot_id, c.agency_code, a.name_th, a.name_en, c.role, c.period, c.submitted,
                   c.first_submitted_on, c.due_date, c.days_late
            FROM marts.reporting_compliance c JOIN registry.agencies a USING (agency_code)
            WHERE NOT c.on_time
            ORDER BY c.pilot_id, c.period DESC, c.agency_code""", "pilot_id")
        # A later valid version of the same (pilot, agency, period) resolves a quarantined file: the
        # accepted one if any, else the latest superseded one. A valid version received earlier does not.
        self.quarantined = _grouped(con, """
            SELECT q.pilot_id, q.submission_id, q.file_name, q.agency_code, q.period, q.raw_agency_code,
                   q.raw_period, a.name_th AS agency_name_th, a.name_en AS agency_name_en,
                   v.submission_id AS v_id, v.file_name AS v_file, v.status AS v_status
            FROM ingest.submissions q
            LEFT JOIN registry.agencies a ON a.agency_code = q.agency_code
            LEFT JOIN LATERAL (
                SELECT submission_id, file_name, status FROM ingest.submissions v
                WHERE v.pilot_id = q.pilot_id AND v.agency_code = q.agency_code AND v.period = q.period
                  AND v.status IN ('accepted', 'superseded') AND v.submission_id > q.submission_id
                ORDER BY v.status = 'accepted' DESC, v.submission_id DESC LIMIT 1) v ON true
            WHERE q.pilot_id IS NOT NULL AND q.status = 'quarantined' ORDER BY q.pilot_id, q.submission_id""",
                                    "pilot_id")
        self.reasons = _grouped(con, """
            WITH ranked AS (
                SELECT i.rowid AS issue_rowid, count(*) OVER (PARTITION BY i.submission_id) AS reasons_total
                FROM ingest.issues i JOIN ingest.submissions q USING (submission_id)
                WHERE q.pilot_id IS NOT NULL AND q.status = 'quarantined' AND i.severity = 'error'
                QUALIFY row_number() OVER (PARTITION BY i.submission_id
                                           ORDER BY i.row_number NULLS FIRST, i.column_name, i.rowid) <= 50)
            SELECT i.submission_id, i.row_number, i.column_name, i.code, i.message_en, i.message_th, r.reasons_total
            FROM ingest.issues i JOIN ranked r ON i.rowid = r.issue_rowid
            ORDER BY i.submission_id, i.row_number NULLS FIRST, i.column_name, i.rowid""", "submission_id")
        self.controls = controls.Controls(con)


def _section(con: duckdb.DuckDBPyConnection, p: dict, batch: _Batch) -> PilotSection:
    pid, period = p["pilot_id"], p["period"]
    section = PilotSection(
        pilot_id=pid, name_th=p["name_th"], name_en=p["name_en"], layer=p["layer"],
        strategies=list(p["strategies"]), restricted=p["classification"] == "restricted", period=period,
        composite=p["composite_score"], status=p["status"] or "no_data",
        kpis_reported=p["kpis_reported"] or 0, kpis_expected=p["kpis_expected"] or 0, end_date=p["end_date"],
    )
    section.trend = [(r["period"], r["composite_score"], r["status"]) for r in batch.trend.get((pid,), [])]
    controls.fill(con, section, batch.controls)
    # Who reported when, with no figures: shown for a restricted pilot too (warehouse.md).
    section.late_or_missing = [ComplianceRow(**r) for r in batch.late.get((pid,), [])]
    if section.restricted or period is None:
        return section

    section.kpis = [KpiRow(
        r["kpi_code"], r["name_th"], r["name_en"], r["unit"], r["direction"], r["aggregation"], r["weight"],
        r["actual"], (r["t1"], r["t2"], r["t3"], r["t4"], r["t5"]), r["score"], r["status"],
        (r["r1"], r["r2"], r["r3"], r["r4"], r["r5"]) if r["aggregation"] == "sum" and r["r1"] is not None else None,
    ) for r in batch.kpis.get((pid, period), [])]
    budget = batch.budget.get((pid, period))
    section.budget = {"pilot_id": pid, "period": period, **budget[0]} if budget else None
    for q in map(identities, batch.quarantined.get((pid,), [])):
        reasons, more = _reasons(batch.reasons.get((q["submission_id"],), []))
        resolution = Resolution(q["v_id"], q["v_file"], q["v_status"]) if q["v_id"] is not None else None
        section.quarantined.append(QuarantinedFile(
            q["submission_id"], q["file_name"], q["agency_code"], q["period"], reasons, q["raw_agency_code"],
            q["raw_period"], q["agency_name_th"], q["agency_name_en"], resolution, more_reasons=more))
    return section
