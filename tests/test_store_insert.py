"""warehouse/store._insert at national scale: exact values whatever the first rows look like."""
from __future__ import annotations

from decimal import Decimal

from warehouse import store


def test_a_large_threshold_after_many_small_ones_is_stored_exactly(warehouse):
    # 400 pilots' thresholds: DuckDB typed the object column from a sample of its rows; 2,000 rows of
    # 10-digit baht thresholds made it DECIMAL(10,0), and the 11-digit one after them failed the insert.
    cols = ["pilot_id", "kpi_code", "fiscal_year", "t1", "t2", "t3", "t4", "t5"]
    small = [dict(zip(cols, [f"PLT-2548-{i % 999:03d}", f"K{i}", 2549, *map(Decimal, ("30", "6000000000", "50", "60", "70"))]))
             for i in range(2000)]
    large = dict(zip(cols, ["PLT-2548-005", "B1", 2549, *map(Decimal, ("6000000000", "11000000000", "12000000000.5",
                                                                         "13000000000", "14000000000"))]))
    # (the sample skips rows: here the large one sits where it does not look)
    assert store._insert(warehouse, "registry.kpi_thresholds", cols, [*small[:1001], large, *small[1001:]]) == 2001
    got = warehouse.execute("SELECT t1, t2, t3 FROM registry.kpi_thresholds WHERE kpi_code = 'B1'").fetchone()
    assert got == (Decimal("6000000000"), Decimal("11000000000"), Decimal("12000000000.5"))
    assert warehouse.execute("SELECT sum(t1) FROM registry.kpi_thresholds WHERE kpi_code <> 'B1'").fetchone()[0] == 60000  # 2,000 × 30
