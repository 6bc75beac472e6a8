"""The arithmetic of the outlier test (data-quality.md §1, steps 2–4), in exact fractions.

kpis/kpi_outlier_checks.sql chooses the value x and its history H; it calls `outlier_test(x, H)`,
which kpis.build registers on the connection while it builds the marts. Why Python: a KPI actual is
DECIMAL(38,10), so the medians and 6745 × (x − m) of a large value (an agency's typo of 10^20)
overflow DuckDB's 38-digit DECIMAL and would stop the whole mart build. Python's Fraction is exact
at any size, so no rounding happens before the one the spec asks for (z to 4 decimals).
"""
from __future__ import annotations

from contextlib import contextmanager, suppress
from decimal import Decimal
from fractions import Fraction
from itertools import count
from math import floor
from typing import Iterator

import duckdb
from duckdb.sqltypes import DuckDBPyType

MIN_HISTORY = 4
THRESHOLD = Fraction(7, 2)                 # flagged when |z| > 3.5
MAD_FACTOR = Fraction("0.6745")
MEAN_AD_FACTOR = Fraction("1.253314")

# What a stored figure can hold; a figure beyond it (only with values above 10^26, or |z| above
# 10^34) is stored as NULL, while the rule is still decided on the exact value.
MEDIAN_TYPE, MEDIAN_PLACES, MEDIAN_LIMIT = "DECIMAL(38,12)", 12, Fraction(10) ** 26
Z_TYPE, Z_PLACES, Z_LIMIT = "DECIMAL(38,4)", 4, Fraction(10) ** 34

_registrations = count(1)
RESULT_TYPE = (f"STRUCT(history_median {MEDIAN_TYPE}, history_mad {MEDIAN_TYPE}, z_basis VARCHAR, "
               f"modified_z {Z_TYPE}, rule VARCHAR)")
NO_TEST = {"history_median": None, "history_mad": None, "z_basis": None, "modified_z": None, "rule": None}


def median(values: list[Fraction]) -> Fraction:
    """The middle value; an even count takes the mean of the two middle values."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def round_half_away(value: Fraction, places: int) -> Fraction:
    scaled = abs(value) * 10 ** places
    rounded = Fraction(floor(scaled + Fraction(1, 2)), 10 ** places)
    return rounded if value >= 0 else -rounded


def _decimal(value: Fraction, places: int, limit: Fraction) -> Decimal | None:
    """A Fraction with at most `places` decimals as an exact Decimal; None beyond the column's range."""
    if abs(value) >= limit:
        return None
    scaled = value * 10 ** places
    assert scaled.denominator == 1, value  # callers pass exact short decimals only
    return Decimal(scaled.numerator).scaleb(-places)


def outlier_test(x: Decimal, history: list[Decimal]) -> dict:
    """m, MAD, how z was computed, z rounded to 4 decimals, and the rule (None: not flagged)."""
    if len(history) < MIN_HISTORY:
        return dict(NO_TEST)
    h = [Fraction(v) for v in history]
    x_ = Fraction(x)
    m = median(h)
    deviations = [abs(v - m) for v in h]
    mad = median(deviations)
    mean_ad = sum(deviations) / len(deviations)
    if mad > 0:
        basis, z = "mad", MAD_FACTOR * (x_ - m) / mad
    elif mean_ad > 0:
        basis, z = "mean_ad", (x_ - m) / (MEAN_AD_FACTOR * mean_ad)
    else:
        basis, z = "flat", None
    if z is None:
        rule = "changed_after_flat" if x_ != m else None
    else:
        rule = "modified_z" if abs(z) > THRESHOLD else None  # the unrounded z
    return {
        # m and MAD of DECIMAL(38,10) values have at most 11 and 12 decimals: exact here.
        "history_median": _decimal(m, MEDIAN_PLACES, MEDIAN_LIMIT),
        "history_mad": _decimal(mad, MEDIAN_PLACES, MEDIAN_LIMIT),
        "z_basis": basis,
        "modified_z": None if z is None else _decimal(round_half_away(z, Z_PLACES), Z_PLACES, Z_LIMIT),
        "rule": rule,
    }


@contextmanager
def outlier_test_function(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """`outlier_test(x, history)` callable from SQL on this connection while the marts are built.

    The Python function is registered under a name of its own for each build, behind a temporary
    macro `outlier_test`, and removed afterwards:
    - left registered, it keeps the connection alive until the interpreter exits, and the DuckDB
      module then reports leaked objects on stderr;
    - DuckDB 2.0 cannot register a name again on a connection whose transaction rolled back a
      registration, so a fixed name would break the next build after a failed one. The macro,
      like the marts, is rolled back with the caller's transaction.
    """
    name = f"outlier_test_{next(_registrations)}"
    con.create_function(name, outlier_test, [DuckDBPyType("DECIMAL(38,10)"), DuckDBPyType("DECIMAL(38,10)[]")],
                        DuckDBPyType(RESULT_TYPE), side_effects=False)
    con.execute(f"CREATE OR REPLACE TEMP MACRO outlier_test(x, history) AS {name}(x, history)")
    try:
        yield
    except BaseException:
        # In an aborted transaction the removal fails; its error must not hide the build's own.
        with suppress(duckdb.Error):
            con.remove_function(name)
        raise
    con.execute("DROP MACRO temp.outlier_test")
    con.remove_function(name)
