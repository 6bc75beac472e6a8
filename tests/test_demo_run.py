"""The README's first command: the demo runs end to end, and the warehouse it leaves holds every
relation and column that the warehouse contract (warehouse/contract.yaml) promises analysts."""
from __future__ import annotations

import duckdb
import pytest

from warehouse.contract import gaps


@pytest.fixture(scope="module")
def demo(demo_run):
    return demo_run


def test_demo_prints_the_expected_run_summary(demo):
    _, result = demo
    assert result.exit_code == 0, result.output
    # Expected figures come from docs/demo.md, computed from the files by tests/test_demo.py.
    assert "files seen 130: accepted 121, superseded 1, duplicates 1, quarantined 7" in result.output
    assert "pilots by status: on_target 3, at_risk 2, off_track 2, no_data 0" in result.output
    folder, _ = demo
    assert f"validation report: {folder / 'out' / 'validation.html'}\n" in result.output


@pytest.mark.contract
def test_the_demo_warehouse_keeps_the_contract(demo):
    """The analysts' copy the demo leaves holds every relation and column of warehouse/contract.yaml."""
    folder, _ = demo
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        types: dict[str, dict[str, str]] = {}
        for schema, table, column, data_type in con.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns").fetchall():
            types.setdefault(f"{schema}.{table}", {})[column] = data_type
    finally:
        con.close()
    assert gaps(types) == []
    assert types["marts.budget_integration"]["integrated_thb"] == "DECIMAL(18,2)"
