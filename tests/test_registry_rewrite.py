"""A job rewrites the registry tables only when they differ from today's registry
(warehouse/registry_check.py): the same tables either way, and a change of any kind is written."""
from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots.registry import load_registry, registry_rows
from tests.test_flow import AS_OF, make_scenario
from warehouse import store
from warehouse.db import connect
from warehouse.registry_check import holds_registry


@pytest.fixture()
def stored(tmp_path):
    registry, _ = make_scenario(tmp_path)
    rows = registry_rows(load_registry(registry))
    con = connect(":memory:")
    store.replace_registry(con, rows)
    yield con, rows
    con.close()


def test_the_rows_just_written_are_held(stored):
    con, rows = stored
    assert holds_registry(con, rows)
    # Thresholds as the registry gives them (Decimal 20) and as text with another scale are the
    # same DECIMAL(38,10) value: the insert would store 20.0000000000 either way.
    as_text = copy.deepcopy(rows)
    as_text["registry.kpi_thresholds"][0]["t1"] = "20.00"
    assert rows["registry.kpi_thresholds"][0]["t1"] == Decimal(20)
    assert holds_registry(con, as_text)


def _changed(rows, table, index, column, value):
    out = copy.deepcopy(rows)
    out[table][index][column] = value
    return out


@pytest.mark.parametrize("table, column, value", [
    ("registry.pilots", "name_en", "One-stop e-citizen service (renamed)"),
    ("registry.pilots", "strategies", [1, 6, 7]),
    ("registry.pilots", "strategies", [6, 1]),
    ("registry.pilots", "end_date", date(2005, 9, 29)),
    ("registry.pilots", "layer", 4),
    ("registry.kpis", "weight", Decimal("60.0001")),
    ("registry.kpi_thresholds", "t3", Decimal("40.0000000001")),
    ("registry.kpi_thresholds", "t3", 40.0),  # a float is never taken for the stored value
    ("registry.pilot_agencies", "no_reminders_until", date(2005, 6, 1)),
    ("registry.agencies", "email", "saraban@dopa.go.th"),
])
def test_a_changed_value_of_any_type_is_not_held(stored, table, column, value):
    con, rows = stored
    assert not holds_registry(con, _changed(rows, table, 0, column, value))


def test_a_row_more_less_or_in_another_order_is_not_held(stored):
    con, rows = stored
    fewer = copy.deepcopy(rows)
    fewer["registry.kpis"].pop()
    more = copy.deepcopy(rows)
    more["registry.kpis"].append({**more["registry.kpis"][0], "kpi_code": "K3"})
    swapped = copy.deepcopy(rows)
    swapped["registry.pilot_agencies"].reverse()
    for changed in (fewer, more, swapped):
        assert not holds_registry(con, changed)


def test_a_value_equal_only_by_pythons_own_equality_is_not_held(tmp_path):
    """The column-wise fast path (registry_check._same_column) compares with Python's ==, for
    which True == 1 and 1.0 == Decimal(1): the insert would store those differently (or refuse
    them), so they are not held; an int for a DECIMAL value is, as the insert stores it."""
    registry, _ = make_scenario(tmp_path)
    rows = registry_rows(load_registry(registry))
    rows["registry.pilots"][0]["layer"] = 1
    rows["registry.kpis"][0]["weight"] = Decimal("1.0000")
    con = connect(":memory:")
    try:
        store.replace_registry(con, rows)
        assert holds_registry(con, rows)
        assert holds_registry(con, _changed(rows, "registry.kpis", 0, "weight", 1))
        assert not holds_registry(con, _changed(rows, "registry.pilots", 0, "layer", True))
        assert not holds_registry(con, _changed(rows, "registry.kpis", 0, "weight", 1.0))
        assert not holds_registry(con, _changed(rows, "registry.kpis", 0, "weight", True))
    finally:
        con.close()


def _cli(registry, inbox, root, as_of):
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", as_of,
                                       "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_night_writes_a_changed_registry_and_keeps_an_unchanged_one(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    _cli(registry, inbox, tmp_path, AS_OF)
    pilot = registry / "pilots" / "PLT-2548-003.yaml"
    # The committee moves ten points of weight from K2 to K1 and renames the pilot.
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("weight: 60", "weight: 70")
                     .replace("weight: 40", "weight: 30")
                     .replace("name_en: One-stop e-citizen service", "name_en: One-stop e-service"), encoding="utf-8")
    next_day = (date.fromisoformat(AS_OF) + timedelta(days=1)).isoformat()
    _cli(registry, inbox, tmp_path, next_day)

    def tables():
        con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
        try:
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in store.REGISTRY_TABLES}
        finally:
            con.close()

    after_change = tables()
    assert sorted((r[1], r[-1]) for r in after_change["registry.kpis"]) == [("K1", Decimal("70.0000")),
                                                                              ("K2", Decimal("30.0000"))]
    assert [r[2] for r in after_change["registry.pilots"]] == ["One-stop e-service"]
    # A night later, nothing changed: the same tables, and they hold the registry's rows.
    _cli(registry, inbox, tmp_path, (date.fromisoformat(AS_OF) + timedelta(days=2)).isoformat())
    assert tables() == after_change
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert holds_registry(con, registry_rows(load_registry(registry)))
    finally:
        con.close()
