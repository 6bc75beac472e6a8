"""Docs that cannot drift: the committed reference docs equal what the code generates."""
from __future__ import annotations

import re
from pathlib import Path

from pilots.defects import catalogue, catalogue_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_defect_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs" / "defects.md").read_text(encoding="utf-8") == catalogue_markdown(), \
        "docs/defects.md is stale: run `pilotkpi docs`"


def test_every_code_raised_is_catalogued_and_every_catalogued_code_is_raised():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "pilots").rglob("*.py"))
    raised = set(re.findall(r'make_issue\(\s*"([A-Z_]+)"', source)) | set(re.findall(r'"code":\s*"([A-Z_]+)"', source))
    raised |= set(re.findall(r'\bcode="([A-Z_]+)"', source))
    assert raised - set(catalogue()) == set()
    assert set(catalogue()) - raised == set()


def test_every_message_has_both_languages_and_its_parameters():
    for d in catalogue().values():
        assert d.severity in ("error", "warning")
        for text in (d.en, d.th):
            assert set(re.findall(r"{(\w+)}", text)) == set(d.params), d.code
        assert re.search("[ก-๛]", d.th), d.code


def test_documented_python_commands_use_the_projects_venv():
    """`python -c "import duckdb…"` fails where duckdb is not installed: the docs use .venv/bin/python."""
    found = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in doc.read_text(encoding="utf-8").splitlines():
            for m in re.finditer(r"(\S*)python3? -c \"import duckdb", line):
                found += 1
                assert m.group(1).endswith(".venv/bin/"), f"{doc.name}: {line.strip()}"
    assert found >= 3  # README, docs/analyst-guide.md, docs/operations.md
