"""The outlier part of `pilotkpi explain` (data-quality.md §1): the history H a value was tested
against, m, MAD (or MeanAD), z and the rule, with the numbers filled in.

The median, MAD, z and rule shown are marts.kpi_outlier_checks' own; the history values are read
back from core.* and the deviations and MeanAD are re-derived here only to be printed.
"""
from __future__ import annotations

from decimal import Decimal, localcontext

import duckdb

THRESHOLD = "3.5"


def _num(value) -> str:
    d = Decimal(value).normalize()
    return format(d, "f")


def _shown(text: str) -> str:
    """Agency text (a file name) for a terminal: control characters escaped, never interpreted."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in str(text))


def _mean(total: Decimal, n: int) -> str:
    """total / n, exact when it is a short decimal, else to 6 decimals with ≈ (MeanAD = 3/7)."""
    with localcontext() as ctx:
        ctx.prec = 50
        q = total / n
    if q * n == total and q.as_tuple().exponent >= -12:
        return f"{_num(total)} / {n} = {_num(q)}"
    return f"{_num(total)} / {n} ≈ {q.quantize(Decimal('0.000001'))}"


def _has_checks(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' "
                       "AND table_name = 'kpi_outlier_checks'").fetchone()[0] > 0


def outlier_lines(con: duckdb.DuckDBPyConnection, pilot_id: str, kpi_code: str, period: str, lead: str,
                  aggregation: str) -> list[str]:
    if not _has_checks(con):
        return ["outlier check: not in this warehouse (made before outlier flags; the next run adds them)"]
    res = con.execute("SELECT * FROM marts.kpi_outlier_checks WHERE pilot_id = ? AND kpi_code = ? AND period = ?",
                      [pilot_id, kpi_code, period])
    row = res.fetchone()
    if row is None:
        return [f"outlier check: no value in the lead agency's accepted report for {period}, nothing to check"]
    c = dict(zip([d[0] for d in res.description], row))
    n = c["history_n"]
    if c["z_basis"] is None:
        return [f"outlier check: {n} earlier value(s) in the history, fewer than 4: no flag"]

    x, m = Decimal(c["actual"]), Decimal(c["history_median"])
    history = _history(con, pilot_id, kpi_code, lead, c["history_from"], c["fiscal_year"], c["quarter"])
    deviations = sorted(abs(h - m) for _, h, *_ in history)
    verdict = f"flagged, rule {c['rule']}" if c["rule"] else "not flagged"
    own = " (the quarter's own value, not the year to date)" if aggregation == "sum" else ""
    lines = [f"outlier check (data-quality.md §1): {verdict}",
             f"  x = {_num(x)}{own}",
             f"  history H: {n} earlier values (the most recent 8 at most), {c['history_from']} onwards:"]
    lines += [f"    {p}: {_num(h)} from {_shown(name)} row {r} (submission {sid})" for p, h, sid, name, r in history]
    lines.append(f"  m = median(H) = {_num(m)}")
    lines.append(f"  MAD = median(|h − m|) = median of {', '.join(_num(d) for d in deviations)} = "
                 f"{_num(c['history_mad'])}")
    z = c["modified_z"]
    if c["z_basis"] == "mad":
        lines.append(f"  z = 0.6745 × (x − m) / MAD = 0.6745 × ({_num(x)} − {_num(m)}) / {_num(c['history_mad'])}"
                     f" = {z} (rounded half away from zero to 4 decimals)")
    elif c["z_basis"] == "mean_ad":
        lines.append(f"  MAD = 0, so MeanAD = mean(|h − m|) = {_mean(sum(deviations, Decimal(0)), n)}")
        lines.append(f"  z = (x − m) / (1.253314 × MeanAD) = ({_num(x)} − {_num(m)}) / (1.253314 × MeanAD)"
                     f" = {z} (rounded half away from zero to 4 decimals)")
    else:
        lines.append("  all of H equal (MAD = 0 and MeanAD = 0): z is empty")
    if c["rule"] == "modified_z":
        lines.append(f"  |z| > {THRESHOLD} (compared before rounding): the lead agency is asked to confirm the figure")
    elif c["rule"] == "changed_after_flat":
        lines.append(f"  x = {_num(x)} ≠ m = {_num(m)} after a flat history: the lead agency is asked to confirm "
                     "the figure")
    elif c["z_basis"] == "flat":
        lines.append(f"  x = m = {_num(m)}: no flag")
    else:
        lines.append(f"  |z| ≤ {THRESHOLD} (compared before rounding): no flag")
    return lines


def _history(con, pilot_id: str, kpi_code: str, lead: str, first: str, fiscal_year: int,
             quarter: int) -> list[tuple]:
    """The lead's accepted values from `first` to the period before (fiscal_year, quarter): H."""
    start = int(first[:4]) * 4 + int(first[-1])
    end = fiscal_year * 4 + quarter
    return con.execute("""
        SELECT a.period, a.actual, a.submission_id, s.file_name, a.row_number
        FROM core.kpi_actuals a JOIN ingest.submissions s USING (submission_id)
        WHERE a.pilot_id = ? AND a.kpi_code = ? AND s.agency_code = ? AND s.status = 'accepted'
          AND a.actual IS NOT NULL AND a.fiscal_year * 4 + a.quarter >= ? AND a.fiscal_year * 4 + a.quarter < ?
        ORDER BY a.fiscal_year, a.quarter""", [pilot_id, kpi_code, lead, start, end]).fetchall()
