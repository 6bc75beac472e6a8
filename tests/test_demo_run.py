"""The README's first command: the demo runs end to end, and the warehouse it leaves holds every
relation and column that shared/spec/warehouse.md promises analysts."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest


SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "warehouse.md"


@pytest.fixture(scope="module")
def demo(demo_run):
    return demo_run


def test_demo_prints_the_expected_run_summary(demo):
    _, result = demo
    assert result.exit_code == 0, result.output
    # Expected figures come from docs/demo.md, computed from the files by tests/test_demo.py.
    assert "files seen 130: accepted 121, superseded 1, duplicates 1, quarantined 7" in result.output
    assert "pilots by status: on_target 3, at_risk 2, off_track 2, no_data 0" in result.output


def spec_relations() -> dict[str, list[str]]:
    relations = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `(\w+\.\w+)` \| [^|]+ \| (.+) \|$", line)
        if m:
            cols = re.sub(r"\([^)]*\)", "", m.group(2))
            names = []
            for c in (c.strip() for c in cols.split(",")):
                if c == "t1..t5":
                    names += [f"t{i}" for i in range(1, 6)]
                elif c:
                    names.append(c)
            relations[m.group(1)] = names
    return relations


@pytest.mark.skipif(not SPEC.exists(), reason="shared/spec is not beside this checkout")
def test_every_spec_relation_and_column_exists(demo):
    folder, _ = demo
    relations = spec_relations()
    assert len(relations) == 15
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        for relation, columns in relations.items():
            schema, table = relation.split(".")
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [schema, table]).fetchall()}
            assert set(columns) <= have, (relation, set(columns) - have)
        money = con.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'marts' "
                            "AND table_name = 'budget_integration' AND column_name = 'integrated_thb'").fetchone()
        assert money == ("DECIMAL(18,2)",)
    finally:
        con.close()
