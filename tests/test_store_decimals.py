"""Exact numbers of any size reach their DECIMAL columns (found by the national benchmark).

A baht KPI of the demo has 2549 thresholds 8,000,000,000 .. 20,000,000,000. Given as Decimal
objects, DuckDB typed the frame's column from a sample of its values (DECIMAL(10,0)) and the
national registry (400 pilots, bench/workload.py) failed on 11000000000, 11 digits, in a row
outside the sample: the run stopped with exit 1. The columns are DECIMAL(38,10): all values fit.
"""
from __future__ import annotations

from decimal import Decimal

from bench import workload
from pilots.registry import load_registry, registry_rows
from warehouse import store


def test_the_national_registry_is_stored_with_its_large_thresholds(tmp_path, warehouse):
    agencies, plans = workload.pilot_plans(400)
    for rel, text in workload.registry_files(agencies, plans).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    store.replace_registry(warehouse, registry_rows(load_registry(tmp_path)))
    # The demo's tax KPI (thresholds in the plan: 8e9, 11e9, 14e9, 17e9, 20e9 for 2549), where drawn.
    got = warehouse.execute("SELECT DISTINCT t2 FROM registry.kpi_thresholds WHERE t1 = 8000000000").fetchall()
    assert got == [(Decimal("11000000000"),)]
