"""Every query of docs/analyst-guide.md runs on the demo warehouse and returns the answer written
under it (rows as `a | b | c`, NULL as empty)."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analyst-guide.md"
PAIR = re.compile(r"```sql\n(.*?)```\s*\n```text\n(.*?)```", re.S)


def worked_examples() -> list[tuple[str, str]]:
    return PAIR.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_at_least_eight_worked_questions():
    assert len(worked_examples()) >= 8
    assert len(re.findall(r"^## \d+\. ", GUIDE.read_text(encoding="utf-8"), re.M)) == len(worked_examples())


@pytest.fixture(scope="module")
def published(demo_run):
    con = duckdb.connect(str(demo_run[0] / "warehouse.published.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.mark.parametrize("index", range(len(worked_examples())))
def test_query_returns_the_answer_in_the_guide(published, index):
    sql, answer = worked_examples()[index]
    rows = published.execute(sql).fetchall()
    got = [" | ".join("" if v is None else str(v) for v in row) for row in rows]
    assert got == answer.rstrip("\n").split("\n"), f"question {index + 1}"
