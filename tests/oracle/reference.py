"""The marts recomputed from the spec (scoring.md, data-quality.md §1, follow-up.md), not from kpis/.

Inputs are the warehouse's own records of what was received and accepted: registry.*,
ingest.submissions (statuses), core.kpi_actuals and core.budget_lines (the accepted lines) and
approval.quarter_closures, read from the open warehouse and the restricted store together (a
restricted pilot's lines live only in the latter). Every figure is exact decimal arithmetic.

marts.due_periods, marts.budget_snapshot and marts.kpi_outlier_checks are not in the spec (warehouse.md
lists only their results' marts): their rows and columns follow the warehouse's design
(docs/warehouse.md), and their values are recomputed here from the spec's rules.

Readings of the spec that are ours (where it leaves a choice), each checked against the marts:
- "Only accepted submissions count": a core line counts only if its submission's status is
  `accepted`, whatever else core holds (`core_lines_not_accepted` reports any such line).
- Reporting compliance counts accepted, superseded and held files (data-quality.md §2: a held
  file "does count for reporting compliance like an accepted file"), and rejected ones: a held
  file that the committee rejects keeps counting, because "Rejecting ... gives status rejected.
  Nothing else changes." (the agency did report; the committee refused its figures).
- History of an outlier check orders periods by (fiscal year, quarter). A blank actual is no
  value (data-quality.md §1 tests "each accepted KPI value"): neither tested nor history. Every
  tested value is a row of marts.kpi_outlier_checks, flagged or not; those flagged are
  marts.kpi_outliers. (The columns' own limit, |m| or MAD >= 10^26 stored as NULL, is not
  modelled: no story reaches it; tests/test_huge_amounts.py does.)
- marts.budget_snapshot is scoring.md §3's "lines in effect", row by row: per agency, the lines
  of its latest accepted report of the fiscal year with quarter <= q that has budget lines; "each
  agency" of p is one today's registry names for p as lead, secondary or supporting (an agency
  removed or made advisory counts in no period). Likewise only p's KPIs in today's registry are
  tested for outliers (those kpi_scores scores).
- A closed quarter is computed from today's accepted lines like any other, as the marts do: a
  valid file for an earlier quarter that is still open is accepted and reaches the closed
  quarter's year-to-date KPIs, budget snapshot and outlier history (pilot_scores then says
  changed_since_closing). data-quality.md §2 holds back only files *for* the closed (pilot,
  period); its "keeps the inputs that were counted when it was closed" may mean more. An open
  question for the committee, not settled here (see tests/test_oracle_marts.py's story: the
  2549-Q1 correction under PLT-2548-001's closed 2549-Q2).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import duckdb

EXPECTED_ROLES = ("lead", "secondary", "supporting")
COUNTED_FOR_COMPLIANCE = ("accepted", "superseded", "held", "rejected")
FOUR = Decimal("0.0001")
PRECISION = 80


# ---------------------------------------------------------------- time (agency-report-v1.md "Time")
def parse_period(period: str) -> tuple[int, int]:
    year, quarter = period.split("-Q")
    return int(year), int(quarter)


def quarter_bounds(fiscal_year: int, quarter: int) -> tuple[date, date]:
    """CE first and last day of a BE fiscal quarter (FY 2548 runs 1 Oct 2004 - 30 Sep 2005)."""
    ce_end_year = fiscal_year - 543
    if quarter == 1:
        return date(ce_end_year - 1, 10, 1), date(ce_end_year - 1, 12, 31)
    first_month = {2: 1, 3: 4, 4: 7}[quarter]
    start = date(ce_end_year, first_month, 1)
    end_next = date(ce_end_year, first_month + 3, 1) if first_month < 10 else date(ce_end_year + 1, 1, 1)
    return start, end_next - timedelta(days=1)


def due_periods(start: date, end: date, as_of: date) -> list[tuple[int, int]]:
    """Quarters overlapping [start, end] that ended on or before as_of (scoring.md, Notation)."""
    periods = []
    for fiscal_year in range(start.year + 543, end.year + 545):
        for quarter in range(1, 5):
            q_start, q_end = quarter_bounds(fiscal_year, quarter)
            if q_start <= end and q_end >= start and q_end <= as_of:
                periods.append((fiscal_year, quarter))
    return periods


def period_text(fiscal_year: int, quarter: int) -> str:
    return f"{fiscal_year}-Q{quarter}"


# ---------------------------------------------------------------- arithmetic
def round4(value: Decimal) -> Decimal:
    """4 decimals, half away from zero (ROUND_HALF_UP on Decimal rounds away from zero)."""
    return value.quantize(FOUR, rounding=ROUND_HALF_UP)


def divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return numerator / denominator


def band(score: Decimal) -> str:
    return "on_target" if score >= 3 else "at_risk" if score >= 2 else "off_track"


def kpi_score(actual: Decimal, t: list[Decimal], direction: str) -> Decimal:
    """scoring.md §1.3, unrounded."""
    if direction == "higher":
        if actual <= t[0]:
            return Decimal(1)
        if actual >= t[4]:
            return Decimal(5)
        k = max(i for i in range(5) if t[i] <= actual)
        return (k + 1) + divide(actual - t[k], t[k + 1] - t[k])
    if actual >= t[0]:
        return Decimal(1)
    if actual <= t[4]:
        return Decimal(5)
    k = max(i for i in range(5) if t[i] >= actual)
    return (k + 1) + divide(t[k] - actual, t[k] - t[k + 1])


def exact_median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return divide(ordered[n // 2 - 1] + ordered[n // 2], Decimal(2))


# ---------------------------------------------------------------- inputs
@dataclass
class Inputs:
    as_of: date
    pilots: list[dict]
    pilot_agencies: list[dict]
    kpis: list[dict]
    thresholds: dict[tuple[str, str, int], list[Decimal]]
    submissions: list[dict]
    kpi_actuals: list[dict]
    budget_lines: list[dict]
    closures: list[dict]


def _rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _stores(warehouse: Path) -> list[Path]:
    restricted = warehouse.with_name(warehouse.name.removesuffix(".duckdb") + ".restricted.duckdb")
    return [warehouse] + ([restricted] if restricted.exists() else [])


def load(warehouse: Path, as_of: date) -> Inputs:
    """Every input from both stores (a restricted pilot's KPIs, files and lines are in its own)."""
    tables: dict[str, list[dict]] = defaultdict(list)
    queries = {
        "pilots": "SELECT * FROM registry.pilots",
        "pilot_agencies": "SELECT * FROM registry.pilot_agencies",
        "kpis": "SELECT * FROM registry.kpis",
        "thresholds": "SELECT * FROM registry.kpi_thresholds",
        "submissions": "SELECT * FROM ingest.submissions",
        "kpi_actuals": "SELECT * FROM core.kpi_actuals",
        "budget_lines": "SELECT * FROM core.budget_lines",
        "closures": "SELECT * FROM approval.quarter_closures",
    }
    for path in _stores(warehouse):
        con = duckdb.connect(str(path), read_only=True)
        try:
            for name, sql in queries.items():
                tables[name].extend(_rows(con, sql))
        finally:
            con.close()
    unique = lambda rows, key: list({key(r): r for r in rows}.values())  # noqa: E731
    return Inputs(
        as_of=as_of,
        pilots=unique(tables["pilots"], lambda r: r["pilot_id"]),
        pilot_agencies=unique(tables["pilot_agencies"], lambda r: (r["pilot_id"], r["agency_code"])),
        kpis=unique(tables["kpis"], lambda r: (r["pilot_id"], r["kpi_code"])),
        thresholds={(r["pilot_id"], r["kpi_code"], r["fiscal_year"]): [r[f"t{i}"] for i in range(1, 6)]
                    for r in tables["thresholds"]},
        submissions=unique(tables["submissions"], lambda r: r["submission_id"]),
        kpi_actuals=tables["kpi_actuals"],
        budget_lines=tables["budget_lines"],
        closures=tables["closures"],
    )


# ---------------------------------------------------------------- the marts
def compute(inputs: Inputs) -> dict[str, list[dict]]:
    status = {s["submission_id"]: s["status"] for s in inputs.submissions}
    lead = {p["pilot_id"]: p["lead_agency_code"] for p in inputs.pilots}
    due = {p["pilot_id"]: due_periods(p["start_date"], p["end_date"], inputs.as_of) for p in inputs.pilots}

    # The lead's accepted KPI values: (pilot, kpi, fy, q) -> (actual, submission_id, row_number).
    values: dict[tuple, tuple] = {}
    for line in inputs.kpi_actuals:
        if status.get(line["submission_id"]) == "accepted" and line["agency_code"] == lead.get(line["pilot_id"]):
            values[(line["pilot_id"], line["kpi_code"], line["fiscal_year"], line["quarter"])] = (
                line["actual"], line["submission_id"], line["row_number"])
    accepted_lead_submission = {
        (s["pilot_id"], s["period"]): s["submission_id"] for s in inputs.submissions
        if s["status"] == "accepted" and s["agency_code"] == lead.get(s["pilot_id"])}

    kpi_rows, pilot_rows = _scores(inputs, due, values, accepted_lead_submission)
    checks = _outlier_checks(inputs, due, values)
    return {
        "due_periods": _due_periods(inputs, due),
        "kpi_scores": kpi_rows,
        "pilot_scores": pilot_rows,
        **_budget(inputs, due, status, lead),
        "reporting_compliance": (compliance := _compliance(inputs, due)),
        "reminders": _reminders(inputs, compliance),
        "kpi_outlier_checks": checks,
        "kpi_outliers": [{c: v for c, v in row.items() if c not in ("fiscal_year", "quarter", "due")}
                         for row in checks if row["rule"] is not None and row["due"]],
    }


def _report_due_days(pilot: dict) -> int:
    """agency-report-v1.md "Time": 30 days after the quarter's end, unless the registry says otherwise."""
    return 30 if pilot["report_due_days"] is None else pilot["report_due_days"]


def _due_periods(inputs, due):
    """scoring.md "Notation": each pilot's due periods, with the quarter's days and its due date."""
    rows = []
    for pilot in inputs.pilots:
        for fy, q in due[pilot["pilot_id"]]:
            start, end = quarter_bounds(fy, q)
            rows.append({"pilot_id": pilot["pilot_id"], "period": period_text(fy, q), "fiscal_year": fy,
                         "quarter": q, "period_start": start, "period_end": end,
                         "due_date": end + timedelta(days=_report_due_days(pilot))})
    return rows


def _scores(inputs, due, values, accepted_lead_submission):
    kpis_of = defaultdict(list)
    for k in inputs.kpis:
        kpis_of[k["pilot_id"]].append(k)
    closures = {(c["pilot_id"], c["period"]): c for c in sorted(inputs.closures, key=lambda c: c["closed_at"])
                if c["reopened_at"] is None}
    kpi_rows, pilot_rows = [], []
    for pilot in inputs.pilots:
        p = pilot["pilot_id"]
        for fy, q in due[p]:
            weighted_sum, reported = Decimal(0), 0
            for k in kpis_of[p]:
                registered = inputs.thresholds[(p, k["kpi_code"], fy)]
                share = Decimal(q) / 4 if k["aggregation"] == "sum" else Decimal(1)
                applied = [t * share for t in registered]
                own = values.get((p, k["kpi_code"], fy, q))
                if own is None:
                    actual, score, status_, row_number = None, Decimal("1.0000"), "no_data", None
                else:
                    if k["aggregation"] == "sum":
                        actual = sum((values[(p, k["kpi_code"], fy, i)][0] for i in range(1, q + 1)
                                      if (p, k["kpi_code"], fy, i) in values), Decimal(0))
                    else:
                        actual = own[0]
                    score = round4(kpi_score(actual, applied, k["direction"]))
                    status_, row_number = band(score), own[2]
                    reported += 1
                weighted_sum += score * k["weight"]
                kpi_rows.append({
                    "pilot_id": p, "kpi_code": k["kpi_code"], "period": period_text(fy, q),
                    "actual": actual, **{f"t{i + 1}": applied[i] for i in range(5)},
                    "score": score, "weighted_score": round4(score * k["weight"] / 100),
                    "is_missing": own is None, "status": status_, "weight": k["weight"],
                    "submission_id": accepted_lead_submission.get((p, period_text(fy, q))),
                    "row_number": row_number})
            composite = round4(weighted_sum / 100) if reported else None
            closure = closures.get((p, period_text(fy, q)))
            pilot_rows.append({
                "pilot_id": p, "period": period_text(fy, q), "composite_score": composite,
                "status": band(composite) if composite is not None else "no_data",
                "kpis_reported": reported, "kpis_expected": len(kpis_of[p]),
                "closed": closure is not None,
                "changed_since_closing": closure is not None and composite != closure["composite_at_closing"]})
    return kpi_rows, pilot_rows


def _budget(inputs, due, status, lead):
    lines_of = defaultdict(list)  # (pilot, agency, fy, q) -> accepted lines
    # scoring.md §3 "for each agency" of pilot p: the agencies today's registry names for p, in a
    # role that sends budget lines (an advisory agency's budget lines are refused by validation).
    counting = {(pa["pilot_id"], pa["agency_code"]) for pa in inputs.pilot_agencies if pa["role"] in EXPECTED_ROLES}
    for line in inputs.budget_lines:
        if status.get(line["submission_id"]) == "accepted" and (line["pilot_id"], line["agency_code"]) in counting:
            lines_of[(line["pilot_id"], line["agency_code"], line["fiscal_year"], line["quarter"])].append(line)
    expected = defaultdict(int)
    for pa in inputs.pilot_agencies:
        if pa["role"] in EXPECTED_ROLES:
            expected[pa["pilot_id"]] += 1
    totals, by_layer, snapshots = [], [], []
    for pilot in inputs.pilots:
        p = pilot["pilot_id"]
        for fy, q in due[p]:
            snapshot = []
            for agency in {a for (pp, a, y, _) in lines_of if pp == p and y == fy}:
                quarters = [i for i in range(1, q + 1) if (p, agency, fy, i) in lines_of]
                if quarters:
                    snapshot.extend(lines_of[(p, agency, fy, max(quarters))])
            integrated = lambda line: (line["agency_code"] == lead[p]  # noqa: E731
                                       or line["funding_source"] in ("lead_integrated", "support_contribution"))
            snapshots.extend({
                "pilot_id": p, "period": period_text(fy, q), "fiscal_year": fy, "quarter": q,
                **{c: line[c] for c in ("agency_code", "activity_code", "layer", "funding_source", "allocated_thb",
                                        "disbursed_thb", "submission_id")},
                "is_lead": line["agency_code"] == lead[p], "is_integrated": integrated(line)} for line in snapshot)
            row = {"pilot_id": p, "period": period_text(fy, q), **_sums(snapshot, integrated, lead[p])}
            agencies_by_activity = defaultdict(set)
            fragmented_activity = set()
            for line in snapshot:
                agencies_by_activity[line["activity_code"]].add(line["agency_code"])
                if not integrated(line):
                    fragmented_activity.add(line["activity_code"])
            row["overlapping_activities"] = sum(1 for a, ags in agencies_by_activity.items()
                                                if len(ags) >= 2 and a in fragmented_activity)
            row["agencies_reporting"] = len({line["agency_code"] for line in snapshot})
            row["agencies_expected"] = expected[p]
            totals.append(row)
            for layer in sorted({line["layer"] for line in snapshot}):
                in_layer = [line for line in snapshot if line["layer"] == layer]
                by_layer.append({"pilot_id": p, "period": period_text(fy, q), "layer": layer,
                                 **_sums(in_layer, integrated, lead[p])})
    return {"budget_snapshot": snapshots, "budget_integration": totals, "budget_integration_by_layer": by_layer}


def _sums(lines, integrated, lead_code) -> dict:
    total = sum((line["allocated_thb"] for line in lines), Decimal("0.00"))
    integrated_sum = sum((line["allocated_thb"] for line in lines if integrated(line)), Decimal("0.00"))
    lead_sum = sum((line["allocated_thb"] for line in lines if line["agency_code"] == lead_code), Decimal("0.00"))
    disbursed = sum((line["disbursed_thb"] for line in lines), Decimal("0.00"))
    ratio = lambda x: round4(divide(x, total)) if total != 0 else None  # noqa: E731
    return {
        "total_allocated_thb": total, "integrated_thb": integrated_sum, "fragmented_thb": total - integrated_sum,
        "integration_ratio": ratio(integrated_sum), "lead_share": ratio(lead_sum),
        "support_thb": sum((line["allocated_thb"] for line in lines
                            if line["funding_source"] == "support_contribution"), Decimal("0.00")),
        "disbursed_thb": disbursed, "disbursement_rate": ratio(disbursed)}


def _compliance(inputs, due):
    counted = defaultdict(list)
    quarantined = defaultdict(list)
    for s in inputs.submissions:
        key = (s["pilot_id"], s["agency_code"], s["period"])
        if s["status"] in COUNTED_FOR_COMPLIANCE:
            counted[key].append(s)
        elif s["status"] == "quarantined" and None not in key:
            quarantined[key].append(s)
    pilot = {p["pilot_id"]: p for p in inputs.pilots}
    rows = []
    for pa in inputs.pilot_agencies:
        if pa["role"] not in EXPECTED_ROLES:
            continue
        p = pa["pilot_id"]
        for fy, q in due[p]:
            key = (p, pa["agency_code"], period_text(fy, q))
            due_date = quarter_bounds(fy, q)[1] + timedelta(days=_report_due_days(pilot[p]))
            files = counted.get(key, [])
            first = min((s["submitted_on"] for s in files), default=None)
            rows.append({
                "pilot_id": p, "agency_code": pa["agency_code"], "role": pa["role"], "period": key[2],
                "submitted": bool(files), "first_submitted_on": first, "due_date": due_date,
                "on_time": first is not None and first <= due_date,
                "days_late": None if first is None else max((first - due_date).days, 0),
                "versions": len(files), "quarantined": len(quarantined.get(key, [])),
                # carried for the reminders, not compared as a column
                "_latest_quarantined": max((s["submission_id"] for s in quarantined.get(key, [])), default=None),
                "_no_reminders_until": pa.get("no_reminders_until")})
    return rows


def _reminders(inputs, compliance):
    rows = []
    for c in compliance:
        if c["submitted"] or not inputs.as_of > c["due_date"]:
            continue
        if c["_no_reminders_until"] is not None and inputs.as_of <= c["_no_reminders_until"]:
            continue
        overdue = (inputs.as_of - c["due_date"]).days
        rows.append({
            "agency_code": c["agency_code"], "pilot_id": c["pilot_id"], "role": c["role"], "period": c["period"],
            "due_date": c["due_date"], "days_overdue": overdue,
            "level": 1 if overdue < 30 else 2 if overdue < 60 else 3,
            "reason": "rejected_file" if c["quarantined"] else "missing", "quarantined": c["quarantined"],
            "latest_quarantined_submission_id": c["_latest_quarantined"]})
    return rows


def _outlier_checks(inputs, due, values):
    """data-quality.md §1: every accepted lead value (a blank is no value: neither tested nor
    history), tested against the same KPI's earlier values (by fiscal year, quarter), the most
    recent 8; fewer than 4: no test. `due`: whether its period is due; the flagged rows of due
    periods are marts.kpi_outliers (a run's validation report lists its files' flags, due or not)."""
    rows = []
    history_of = defaultdict(list)  # (pilot, kpi) -> [(fy, q, actual, submission, row)]
    registered = {(k["pilot_id"], k["kpi_code"]) for k in inputs.kpis}  # the pilot's KPIs today, as scored
    for (p, k, fy, q), (actual, submission, row_number) in values.items():
        if actual is not None and (p, k) in registered:
            history_of[(p, k)].append((fy, q, actual, submission, row_number))
    for (p, k), series in history_of.items():
        series.sort()
        due_here = set(due.get(p, []))
        for i, (fy, q, x, submission, row_number) in enumerate(series):
            earlier = series[max(0, i - 8):i]
            h = [e[2] for e in earlier]
            row = {"pilot_id": p, "kpi_code": k, "period": period_text(fy, q), "fiscal_year": fy, "quarter": q,
                   "actual": x, "history_n": len(h),
                   "history_from": period_text(*earlier[0][:2]) if earlier else None,
                   "history_median": None, "history_mad": None, "z_basis": None, "modified_z": None, "rule": None,
                   "submission_id": submission, "row_number": row_number, "due": (fy, q) in due_here}
            rows.append(row)
            if len(h) < 4:
                continue
            m = exact_median(h)
            mad = exact_median([abs(v - m) for v in h])
            with localcontext() as ctx:
                ctx.prec = PRECISION
                mean_ad = sum((abs(v - m) for v in h), Decimal(0)) / len(h)
                if mad > 0:
                    z, basis = Decimal("0.6745") * (x - m) / mad, "mad"
                elif mean_ad > 0:
                    z, basis = (x - m) / (Decimal("1.253314") * mean_ad), "mean_ad"
                else:
                    z, basis = None, "flat"
            if z is not None and abs(z) > Decimal("3.5"):
                rule = "modified_z"
            elif z is None and x != m:
                rule = "changed_after_flat"
            else:
                rule = None
            row.update({"history_median": m, "history_mad": mad, "z_basis": basis,
                        "modified_z": None if z is None else round4(z), "rule": rule})
    return rows


def core_lines_not_accepted(inputs: Inputs) -> list[tuple]:
    """Core lines whose submission is not accepted (the spec counts accepted files only)."""
    status = {s["submission_id"]: s["status"] for s in inputs.submissions}
    return [(line["submission_id"], line["row_number"], status.get(line["submission_id"]))
            for line in inputs.kpi_actuals + inputs.budget_lines if status.get(line["submission_id"]) != "accepted"]


def resubmission_rule_breaks(inputs: Inputs) -> list[str]:
    """Keys whose statuses break agency-report-v1.md's "Which file wins" (and data-quality.md §2's
    approval): at most one accepted file per (pilot, agency, period), and none of the valid
    versions (accepted or superseded) carries a later submitted_on than the accepted one."""
    versions = defaultdict(list)
    for s in inputs.submissions:
        if s["status"] in ("accepted", "superseded"):
            versions[(s["pilot_id"], s["agency_code"], s["period"])].append(s)
    breaks = []
    for key, files in versions.items():
        accepted = [s for s in files if s["status"] == "accepted"]
        if len(accepted) > 1:
            breaks.append(f"{key}: {len(accepted)} accepted files")
        elif accepted and any(s["submitted_on"] > accepted[0]["submitted_on"] for s in files):
            breaks.append(f"{key}: a superseded file is newer than the accepted {accepted[0]['submission_id']}")
        elif not accepted:
            breaks.append(f"{key}: superseded files and no accepted one")
    return breaks
