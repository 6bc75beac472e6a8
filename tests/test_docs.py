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
