"""kpis/outliers.py's outlier_test, the whole-number arithmetic the marts call once per accepted
lead value, against data-quality.md §1 worked by hand, and against outlier_test_fractions (the
spec's steps in exact fractions) over many values, large and small. The marts' own cases are in
tests/test_marts_outliers.py."""
from __future__ import annotations

import random
from decimal import Decimal as D

from kpis.build import read_sql
from kpis.outliers import outlier_test, outlier_test_fractions, outlier_test_function
from warehouse.db import connect


def test_hand_worked_cases():
    # H = 12, 10, 12, 10, 12, 10, 12, 17 sorted 10, 10, 10, 12, 12, 12, 12, 17: m = (12 + 12)/2 = 12;
    # |h − m| sorted 0, 0, 0, 0, 2, 2, 2, 5: MAD = (0 + 2)/2 = 1; x = 1000: z = 0.6745 × 988 = 666.406.
    history = [D(v) for v in (12, 10, 12, 10, 12, 10, 12, 17)]
    assert outlier_test(D(1000), history) == {"history_median": D(12), "history_mad": D(1), "z_basis": "mad",
                                              "modified_z": D("666.4060"), "rule": "modified_z"}
    # H = 5, 5, 5, 9: m = 5, MAD = 0, MeanAD = 4/4 = 1; x = 9: z = 4 / 1.253314 = 3.19154… → 3.1915, no flag.
    assert outlier_test(D(9), [D(5), D(5), D(5), D(9)]) == {
        "history_median": D(5), "history_mad": D(0), "z_basis": "mean_ad", "modified_z": D("3.1915"), "rule": None}
    # Flat: H = 7, 7, 7, 7: m = 7, MAD = MeanAD = 0: no z; x = 7 not flagged, x = 7.0000000001 flagged.
    assert outlier_test(D(7), [D(7)] * 4)["rule"] is None
    assert outlier_test(D("7.0000000001"), [D(7)] * 4) == {
        "history_median": D(7), "history_mad": D(0), "z_basis": "flat", "modified_z": None,
        "rule": "changed_after_flat"}
    # Half away from zero: H = 10, 10.6745, 11.349, 12.0235: m = 11.01175, MAD = 0.6745, so z = x − m;
    # x = 0.67450 → z = −10.33725 → −10.3373 (not −10.3372).
    steps = [D("10"), D("10.6745"), D("11.349"), D("12.0235")]
    assert outlier_test(D("0.6745"), steps)["modified_z"] == D("-10.3373")
    # |z| exactly 3.5 is not above 3.5: x = 14.51175 → z = 3.5; one step of 10^-10 above is flagged.
    assert outlier_test(D("14.51175"), steps)["rule"] is None
    assert outlier_test(D("14.5117500001"), steps)["rule"] == "modified_z"


def test_a_large_median_keeps_all_its_decimals():
    # H = 10^20 + 1, 3, 5, 7 (× 10^-10): m = 10^20 + 4·10^-10; |h − m| = 3, 1, 1, 3 (× 10^-10): MAD = 2·10^-10;
    # x = 10^20: z = 0.6745 × (−4·10^-10) / (2·10^-10) = −1.349. m has 21 digits before the point and
    # 12 after: 33 digits, which Decimal's default 28-digit context would have rounded away.
    history = [D(f"100000000000000000000.000000000{n}") for n in (1, 3, 5, 7)]  # built exactly, from text
    result = outlier_test(D(10 ** 20), history)
    assert result == {"history_median": D("100000000000000000000.000000000400"), "history_mad": D("2E-10"),
                      "z_basis": "mad", "modified_z": D("-1.3490"), "rule": None}
    assert str(result["history_median"]) == "100000000000000000000.000000000400"


def test_the_mart_stores_a_large_median_exactly():
    # The same H in the mart's own SQL: DECIMAL(38,12) holds m's 33 digits.
    con = connect(":memory:")
    con.execute("CREATE TEMP TABLE h AS SELECT unnest(?::DECIMAL(38,10)[]) AS v",
                [[f"100000000000000000000.000000000{n}" for n in (1, 3, 5, 7)]])
    with outlier_test_function(con):
        row = con.execute("SELECT t.history_median FROM (SELECT outlier_test(100000000000000000000::DECIMAL(38,10), "
                          "list(v ORDER BY v)) AS t FROM h)").fetchone()
    con.execute("CREATE TEMP TABLE kept (m DECIMAL(38,12))")  # the mart's column type
    con.execute("INSERT INTO kept VALUES (?)", [row[0]])
    assert con.execute("SELECT m::VARCHAR FROM kept").fetchone()[0] == "100000000000000000000.000000000400"
    assert "outlier_test(" in read_sql("kpi_outlier_checks")  # the mart calls this very function


def _value(rng: random.Random) -> D:
    """A DECIMAL(38,10) value: mostly everyday figures, some with 10 decimals, some near 10^27."""
    kind = rng.random()
    if kind < 0.5:
        return D(rng.randint(-10 ** 6, 10 ** 6)).scaleb(-2)
    if kind < 0.8:
        return D(rng.randint(-10 ** 14, 10 ** 14)).scaleb(-10)
    if kind < 0.9:
        return D(rng.choice([5, 7, 12]))  # repeated values: MAD = 0 and flat histories
    return D(rng.randint(-10 ** 37, 10 ** 37)).scaleb(-10)


def test_same_figures_as_the_exact_fractions_over_many_histories():
    rng = random.Random(20261208)
    seen = set()
    for _ in range(20000):
        history = [_value(rng) for _ in range(rng.randint(0, 8))]
        if rng.random() < 0.05:  # a flat history: one value repeated
            history = [history[0]] * len(history) if history else history
        x = _value(rng) if rng.random() < 0.8 else (history[0] if history else D(0))
        expected = outlier_test_fractions(x, history)
        assert outlier_test(x, history) == expected, (x, history)
        seen.add((expected["z_basis"], expected["rule"], expected["modified_z"] is None))
    # Every branch was taken: each basis, flagged and not, a z too large to store.
    assert {("mad", "modified_z", False), ("mad", None, False), ("mean_ad", "modified_z", False),
            ("mean_ad", None, False), ("flat", None, True), ("flat", "changed_after_flat", True),
            (None, None, True)} <= seen
