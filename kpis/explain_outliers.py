"""The outlier part of `pilotkpi explain` (data-quality.md §1): the history H a value was tested
against, m, MAD (or MeanAD), z and the rule, with the numbers filled in.

z and the rule shown are marts.kpi_outlier_checks' own. The history values are read back from
core.*, and m, the deviations, MAD and MeanAD are worked out again with the mart's own median
(kpis/outliers.py), only to print the working.
"""
from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import duckdb

from kpis.outliers import median

THRESHOLD = "3.5"


def _num(value) -> str:
    """A figure as plain decimal text; a fraction that is no finite decimal (MeanAD = 3/7) to 6 places with ≈."""
    q = Fraction(value)
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    with localcontext() as ctx:
        ctx.prec = 100  # a terminating quotient of numbers of at most 40 digits is exact at this precision
        quotient = Decimal(q.numerator) / Decimal(q.denominator)
    if d != 1:
        return "≈ " + str(quotient.quantize(Decimal("0.000001")))
    return format(quotient.normalize(), "f")


def _shown(text: str) -> str:
    """Agency text (a file name) for a terminal: control characters escaped, never interpreted."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in str(text))


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

    history = _history(con, pilot_id, kpi_code, lead, c["history_from"], c["fiscal_year"], c["quarter"])
    x = Fraction(c["actual"])
    m = median([Fraction(h) for _, h, *_ in history])
    deviations = sorted(abs(Fraction(h) - m) for _, h, *_ in history)
    mad = median(deviations)
    z = c["modified_z"] if c["modified_z"] is not None else "(too large to store)"
    verdict = f"flagged, rule {c['rule']}" if c["rule"] else "not flagged"
    own = " (the quarter's own value, not the year to date)" if aggregation == "sum" else ""

    lines = [f"outlier check (data-quality.md §1): {verdict}",
             f"  x = {_num(x)}{own}",
             f"  history H: {n} earlier values (the most recent 8 at most), {c['history_from']} onwards:"]
    lines += [f"    {p}: {_num(h)} from {_shown(name)} row {r} (submission {sid})" for p, h, sid, name, r in history]
    lines.append(f"  m = median(H) = {_num(m)}")
    lines.append(f"  MAD = median(|h − m|) = median of {', '.join(_num(d) for d in deviations)} = {_num(mad)}")
    if c["z_basis"] == "mad":
        lines.append(f"  z = 0.6745 × (x − m) / MAD = 0.6745 × ({_num(x)} − {_num(m)}) / {_num(mad)}"
                     f" = {z} (rounded half away from zero to 4 decimals)")
    elif c["z_basis"] == "mean_ad":
        mean_ad = _num(sum(deviations) / n)
        lines.append(f"  MAD = 0, so MeanAD = mean(|h − m|) = {_num(sum(deviations))} / {n}"
                     f"{' ' if mean_ad.startswith('≈') else ' = '}{mean_ad}")
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
