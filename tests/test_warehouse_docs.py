"""The schema documents itself: every relation and column has a COMMENT, docs/warehouse.md is
generated from the live catalogue, and the promised columns of shared/spec/warehouse.md exist with
the spec's types."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from flows.cli import _warehouse_markdown
from kpis.build import MART_NAMES, build_marts
from warehouse.catalogue import describe, parse_table_comment
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
    assert len(catalogue) == 11 + len(MART_NAMES)
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


def spec_types(column: str) -> set[str] | None:
    """The type rules of the spec's last paragraph; None where the spec names no type."""
    if column == "period":
        return {"VARCHAR"}
    if column == "fiscal_year":
        return {"INTEGER"}
    if column.endswith("_thb"):
        return {"DECIMAL(18,2)"}
    if column in ("score", "weighted_score", "composite_score", "integration_ratio", "lead_share", "disbursement_rate"):
        return {"DECIMAL(9,4)", "DOUBLE"}
    if column in ("start_date", "end_date", "submitted_on", "first_submitted_on", "due_date", "as_of"):
        return {"DATE"}
    return None


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/spec is not next to this checkout")
def test_every_spec_column_exists_with_the_spec_type(catalogue):
    spec = spec_columns()
    assert len(spec) == 15
    for relation, columns in spec.items():
        assert relation in catalogue, relation
        actual = {c.name: c.data_type for c in catalogue[relation].columns}
        for column in columns:
            assert column in actual, f"{relation}.{column} is missing"
            expected = spec_types(column)
            if expected:
                assert actual[column] in expected, f"{relation}.{column} is {actual[column]}, spec: {expected}"
