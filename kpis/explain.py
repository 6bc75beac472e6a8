"""How one KPI score was reached, from the warehouse alone (`pilotkpi explain PILOT KPI PERIOD`).

It re-derives the score from the lineage columns (marts.kpi_scores.submission_id and row_number,
core.kpi_actuals) and prints the formula with the numbers filled in, so an analyst can check the
arithmetic by hand. The figures shown are the marts' own; only the wording is built here. Times
are shown in Bangkok time with their offset (warehouse/times.py). The
outlier check of the value (history, median, MAD, z, rule) is kpis/explain_outliers.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb

from warehouse.display import visible, visible_name
from kpis.explain_outliers import outlier_lines
from pilots.fiscal import fy_en
from warehouse.times import shown_time


class NotFound(LookupError):
    pass


@dataclass
class Source:
    period: str
    actual: Decimal
    submission_id: int
    file_name: str
    row_number: int
    received_at: object


def _one(con, sql: str, params: list) -> dict | None:
    res = con.execute(sql, params)
    row = res.fetchone()
    return None if row is None else dict(zip([d[0] for d in res.description], row))


def number(value) -> str:
    d = Decimal(value).normalize()
    return format(d, "f") if d == d.to_integral() or d.as_tuple().exponent >= -12 else str(d)


def formula(direction: str, actual: Decimal, t: list[Decimal]) -> str:
    """The scoring.md §1 rule for these numbers (before the exact 4-decimal rounding)."""
    if direction == "higher":
        if actual <= t[0]:
            return f"a = {number(actual)} ≤ t1 = {number(t[0])} → score 1"
        if actual >= t[4]:
            return f"a = {number(actual)} ≥ t5 = {number(t[4])} → score 5"
        k = max(i for i in range(1, 5) if t[i - 1] <= actual)
        return (f"t{k} = {number(t[k - 1])} ≤ a = {number(actual)} < t{k + 1} = {number(t[k])} → "
                f"{k} + (a − t{k}) / (t{k + 1} − t{k}) = {k} + ({number(actual)} − {number(t[k - 1])}) / "
                f"({number(t[k])} − {number(t[k - 1])}) = {k} + {number(actual - t[k - 1])} / {number(t[k] - t[k - 1])}")
    if actual >= t[0]:
        return f"a = {number(actual)} ≥ t1 = {number(t[0])} (lower is better) → score 1"
    if actual <= t[4]:
        return f"a = {number(actual)} ≤ t5 = {number(t[4])} (lower is better) → score 5"
    k = max(i for i in range(1, 5) if t[i - 1] >= actual)
    return (f"t{k} = {number(t[k - 1])} ≥ a = {number(actual)} > t{k + 1} = {number(t[k])} (lower is better) → "
            f"{k} + (t{k} − a) / (t{k} − t{k + 1}) = {k} + ({number(t[k - 1])} − {number(actual)}) / "
            f"({number(t[k - 1])} − {number(t[k])}) = {k} + {number(t[k - 1] - actual)} / {number(t[k - 1] - t[k])}")


@dataclass
class Lineage:
    """One score's lineage as read from a store: the marts.kpi_scores row (with the KPI's names,
    direction, aggregation, unit and the pilot's lead agency), the registered and applied
    thresholds, the lead's accepted lines behind the actual, the outlier working and the lead's
    superseded versions. `explain` prints it; the web's score page shows the same (web/drilldown.py)."""
    pilot_id: str
    kpi_code: str
    period: str
    score: dict
    registered: dict | None
    applied: list
    sources: list[Source]
    outlier: list[str]
    superseded: list[tuple]

    @property
    def formula(self) -> str:
        if self.score["is_missing"]:
            return "a missing KPI scores 1 (silence never raises a score)"
        return formula(self.score["direction"], Decimal(self.score["actual"]), [Decimal(t) for t in self.applied])


def lineage(con: duckdb.DuckDBPyConnection, pilot_id: str, kpi_code: str, period: str,
            restricted_store: bool = False) -> Lineage:
    """The lineage of one score. A restricted pilot's is read from the restricted store only
    (restricted_store=True: `con` is that store)."""
    pilot = _one(con, "SELECT classification FROM registry.pilots WHERE pilot_id = ?", [pilot_id])
    kpi_code = registered_kpi_code(con, pilot_id, kpi_code)
    if pilot is not None and pilot["classification"] == "restricted" and not restricted_store:
        raise NotFound(f"{pilot_id} is a restricted pilot: its KPI lineage is only in the restricted store; the "
                       "operator can show it with --restricted-store (default: <warehouse>.restricted.duckdb)")
    score = _one(con, """
        SELECT s.*, k.name_en, k.name_th, k.direction, k.aggregation, k.unit, p.classification, p.lead_agency_code
        FROM marts.kpi_scores s JOIN registry.kpis k USING (pilot_id, kpi_code) JOIN registry.pilots p USING (pilot_id)
        WHERE s.pilot_id = ? AND s.kpi_code = ? AND s.period = ?""", [pilot_id, kpi_code, period])
    if score is None:
        raise NotFound(f"no score for {pilot_id} {kpi_code} {period}: check the codes and that the period is due "
                       "(marts.kpi_scores lists the scored periods)")
    fy, q = score["fiscal_year"], score["quarter"]
    registered = _one(con, "SELECT t1, t2, t3, t4, t5 FROM registry.kpi_thresholds WHERE pilot_id = ? AND kpi_code = ? "
                           "AND fiscal_year = ?", [pilot_id, kpi_code, fy])
    sources = _sources(con, pilot_id, kpi_code, score["lead_agency_code"], fy,
                       q if score["aggregation"] == "sum" else None, period)
    outlier = outlier_lines(con, pilot_id, kpi_code, period, score["lead_agency_code"], score["aggregation"])
    superseded = con.execute("""
        SELECT submission_id, file_name, received_at, superseded_by FROM ingest.submissions
        WHERE pilot_id = ? AND agency_code = ? AND period = ? AND status = 'superseded' ORDER BY submission_id""",
                             [pilot_id, score["lead_agency_code"], period]).fetchall()
    return Lineage(pilot_id, kpi_code, period, score, registered, [score[f"t{i}"] for i in range(1, 6)], sources,
                   outlier, superseded)


def explain(con: duckdb.DuckDBPyConnection, pilot_id: str, kpi_code: str, period: str,
            restricted_store: bool = False) -> str:
    """The lineage of one score as `pilotkpi explain` prints it."""
    return render(lineage(con, pilot_id, kpi_code, period, restricted_store))


def render(found: Lineage) -> str:
    score, period = found.score, found.period
    fy, q = score["fiscal_year"], score["quarter"]
    # The registry refuses control characters in names (pilots/registry.py); shown visible anyway.
    lines = [f"{visible_name(found.pilot_id)} {visible_name(found.kpi_code)} {period}: {visible(score['name_en'])} / "
             f"{visible(score['name_th'])}",
             f"  unit {score['unit']}, {score['direction']} is better, aggregation {score['aggregation']}, "
             f"weight {number(score['weight'])}", ""]
    if score["is_missing"]:
        lines.append(f"actual: missing (no value in the lead agency's accepted report for {period})")
    elif score["aggregation"] == "sum":
        lines.append(f"actual: {number(score['actual'])} = sum of quarters 1..{q} of {fy_en(fy)} (BE {fy}):")
    else:
        lines.append(f"actual: {number(score['actual'])}")
    for s in found.sources:
        # File names are agency text: control characters shown, never sent to the terminal.
        lines.append(f"  {s.period}: {number(s.actual)} from {visible_name(s.file_name)} row {s.row_number} "
                     f"(submission {s.submission_id}, received {shown_time(s.received_at)})")
    lines.append("")
    if found.registered:
        lines.append("thresholds registered for {} (BE {}): {}".format(
            fy_en(fy), fy, " / ".join(number(found.registered[f"t{i}"]) for i in range(1, 6))))
    if score["aggregation"] == "sum":
        lines.append(f"thresholds applied (× {q}/4, pro-rated for a sum KPI): " + " / ".join(number(t) for t in found.applied))
    else:
        lines.append("thresholds applied: " + " / ".join(number(t) for t in found.applied))
    lines.append("formula: " + found.formula)
    lines.append(f"score: {score['score']} (rounded half away from zero to 4 decimals), weighted "
                 f"{score['score']} × {number(score['weight'])} / 100 = {score['weighted_score']}, status {score['status']}")

    lines.append("")
    lines += found.outlier
    lines.append("")
    if found.superseded:
        lines.append("superseded versions of the lead's report for this period:")
        lines += [f"  submission {sid} {visible_name(name)} (received {shown_time(at)}), superseded by {by}"
                  for sid, name, at, by in found.superseded]
    else:
        lines.append("superseded versions of the lead's report for this period: none")
    return "\n".join(lines) + "\n"


def registered_kpi_code(con, pilot_id: str, kpi_code: str) -> str:
    """The pilot's KPI code as registered, for a code typed in another case (`k1` for `K1`).

    Reading: KPI codes are matched without regard to case, as header names are (agency-report-v1.md);
    the registry keeps codes unique within a pilot, and two codes that differ only in case are
    not guessed between: the code is then taken as typed."""
    rows = con.execute("SELECT kpi_code FROM registry.kpis WHERE pilot_id = ? AND lower(kpi_code) = lower(?)",
                       [pilot_id, kpi_code]).fetchall()
    return rows[0][0] if len(rows) == 1 else kpi_code


def _sources(con, pilot_id: str, kpi_code: str, lead: str, fiscal_year: int, up_to_quarter: int | None,
             period: str) -> list[Source]:
    """The accepted lead lines behind the actual: one period, or quarters 1..q for a sum KPI."""
    where = "a.fiscal_year = ? AND a.quarter <= ?" if up_to_quarter else "a.period = ?"
    params = [fiscal_year, up_to_quarter] if up_to_quarter else [period]
    rows = con.execute(f"""
        SELECT a.period, a.actual, a.submission_id, s.file_name, a.row_number, s.received_at
        FROM core.kpi_actuals a JOIN ingest.submissions s USING (submission_id)
        WHERE a.pilot_id = ? AND a.kpi_code = ? AND s.agency_code = ? AND s.status = 'accepted'
          AND a.actual IS NOT NULL AND {where}
        ORDER BY a.period""", [pilot_id, kpi_code, lead, *params]).fetchall()
    return [Source(*r) for r in rows]
