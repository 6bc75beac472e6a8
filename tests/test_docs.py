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
    assert found >= 2  # README, docs/analyst-guide.md (operations.md reads ops.runs with `pilotkpi sql --working`)


def test_registry_docs_are_generated_from_the_loaders_schema():
    from pilots.registry_schema import registry_markdown

    assert (ROOT / "docs" / "registry.md").read_text(encoding="utf-8") == registry_markdown(), \
        "docs/registry.md is stale: run `pilotkpi docs`"


def test_the_schema_is_what_the_loader_accepts(tmp_path):
    """Every documented example passes the loader, and every key the loader accepts is documented:
    a key outside the schema is refused, naming the file and the key."""
    import pytest

    from pilots import registry_schema as schema
    from pilots.registry import RegistryError, load_registry

    for rel, text in schema.example_registry().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    registry = load_registry(tmp_path)
    assert registry.secretariat.letter_prefix == "นร 1200" and registry.strategies[1].name_en
    [pilot] = registry.pilots.values()
    assert (pilot.pilot_id, pilot.kpis[0].code, pilot.agencies[0].role) == ("PLT-2548-003", "K1", "lead")
    secretariat = tmp_path / "secretariat.yaml"
    secretariat.write_text(secretariat.read_text(encoding="utf-8") + "telex: 0 2356 9998\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="secretariat.yaml: secretariat: unknown field 'telex'"):
        load_registry(tmp_path)
    documented = (ROOT / "docs" / "registry.md").read_text(encoding="utf-8")
    for part in schema.PARTS:
        for key in part.keys:
            assert f"| `{key.name}` |" in documented


def test_docs_for_users_do_not_send_readers_outside_the_repository():
    """A clone has no ../shared: the README and the guides for operators, the committee, analysts and
    agencies say the rules in the project's own words (docs/registry.md, the committee guide's rules).
    Only developers' documents (security.md, scale-out.md) may cite the contract."""
    developers = {"security.md", "scale-out.md"}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.name in developers:
            continue
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/spec" not in text, doc.name
