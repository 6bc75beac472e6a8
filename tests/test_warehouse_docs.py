"""The schema documents itself: every relation and column has a COMMENT, docs/warehouse.md is
generated from the live catalogue, and the columns promised by the contract (warehouse/contract.yaml,
the project's statement of the spec's relation table) exist with their types."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from flows.cli import _warehouse_markdown
from kpis.build import MART_NAMES, build_marts
from warehouse.catalogue import describe, parse_table_comment
from warehouse.contract import gaps, promised_relations
from warehouse.db import connect

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "warehouse.md"


@pytest.fixture(scope="module")
def catalogue():
    con = connect(":memory:")
    build_marts(con, date(2006, 8, 15))
    yield {r.qualified: r for r in describe(con)}
    con.close()


def test_committed_docs_equal_the_live_catalogue():
    assert (ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8") == _warehouse_markdown(), \
        "docs/warehouse.md is stale: run `pilotkpi docs`"


def test_every_relation_and_column_has_a_comment(catalogue):
    assert len(catalogue) == 25 + len(MART_NAMES)  # 24 tables (strategies 0006, secretariat 0007, approval.* and ingest.held_* 0008, ingest.status_changes 0009, ops.restricted_job 0010, ops.mart_inputs 0011, approval.restricted_held 0012, ops.mart_partitions 0015, ops.publish_afresh 0020, ops.restricted_store 0021), the view ops.run_history, and the marts
    for name, rel in catalogue.items():
        assert parse_table_comment(rel.comment), f"{name}: comment lacks [grain: …; keys: …; joins: …]"
        assert rel.description and rel.grain and rel.keys, name
        for col in rel.columns:
            assert col.comment.strip(), f"{name}.{col.name} has no COMMENT"


def test_keys_and_joins_name_real_columns(catalogue):
    for name, rel in catalogue.items():
        own = {c.name for c in rel.columns}
        assert set(rel.keys) <= own, (name, rel.keys)
        for other, cols in rel.joins:
            assert other in catalogue, f"{name} joins to unknown {other}"
            target = {c.name for c in catalogue[other].columns}
            assert set(cols) <= own and set(cols) <= target, (name, other, cols)


def test_mart_yaml_documents_exactly_the_built_columns(catalogue):
    for name in MART_NAMES:
        doc = yaml.safe_load((ROOT / "kpis" / f"{name}.yml").read_text(encoding="utf-8"))
        assert [c["name"] for c in doc["columns"]] == [c.name for c in catalogue[f"marts.{name}"].columns], name


def _types(catalogue) -> dict[str, dict[str, str]]:
    return {name: {c.name: c.data_type for c in rel.columns} for name, rel in catalogue.items()}


@pytest.mark.contract
def test_every_contract_column_exists_with_its_type(catalogue):
    """The in-repo contract (warehouse/contract.yaml) holds on a new warehouse: no skip on a fresh clone."""
    assert gaps(_types(catalogue)) == []
    built = [r for r in promised_relations() if r.planned_issue is None]
    # 19 = 17 + approval.quarter_closures and approval.decisions; 173 = 154 + their 10 + 7 columns + pilot_scores.closed/changed_since_closing;
    # + ingest.status_changes (beyond the spec) and its 9 columns: 20 relations, 182 columns
    assert len(built) == 20 and sum(len(r.built_columns) for r in built) == 182


def test_the_contract_check_fails_on_a_missing_or_mistyped_column(catalogue):
    types = _types(catalogue)
    types["marts.budget_integration"] = {**types["marts.budget_integration"], "integrated_thb": "DOUBLE"}
    del types["core.kpi_actuals"]["actual"]
    del types["ops.runs"]
    assert gaps(types) == [
        "core.kpi_actuals.actual is missing",
        "marts.budget_integration.integrated_thb is DOUBLE, the contract allows ['DECIMAL(18,2)']",
        "ops.runs is missing",
    ]


def spec_columns() -> dict[str, list[str]]:
    out = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `(\w+\.\w+)` \| [^|]+ \| (.+) \|$", line)
        if m:
            names = []
            for c in (c.strip() for c in re.sub(r"\([^)]*\)", "", m.group(2)).split(",")):
                names += [f"t{i}" for i in range(1, 6)] if c == "t1..t5" else [c]
            out[m.group(1)] = names
    return out


@pytest.mark.skipif(not SPEC.exists(), reason="a developer check: ../shared/spec is not next to this checkout")
def test_the_contract_states_every_relation_and_column_of_the_spec():
    """In a checkout beside ../shared, the in-repo contract says what the spec says (built or planned)."""
    promised = {r.name: list(r.columns) for r in promised_relations() if not r.beyond_spec}
    assert promised == spec_columns()
    assert [r.name for r in promised_relations() if r.beyond_spec] == ["ingest.status_changes"]
