"""strategies.yaml (optional): the names of the public-sector development strategies, loaded and
checked like the rest of the registry, written to registry.strategies, and shown by the summary."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pilots import demo
from pilots.registry import RegistryError, Strategy, load_registry, registry_rows
from tests.test_registry import VALID

GOOD = """\
- number: 1
  name_th: การพัฒนากระบวนการทำงาน
  name_en: Reengineering work processes
- number: 6
  name_th: การเสริมสร้างระบบราชการให้ทันสมัย
  name_en: Modernising the public sector
"""


def with_strategies(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "registry"
    shutil.copytree(VALID, folder)
    (folder / "strategies.yaml").write_text(text, encoding="utf-8")
    return folder


def test_strategies_load_into_the_registry_and_its_rows(tmp_path):
    registry = load_registry(with_strategies(tmp_path, GOOD))
    assert registry.strategies == {
        1: Strategy(1, "การพัฒนากระบวนการทำงาน", "Reengineering work processes"),
        6: Strategy(6, "การเสริมสร้างระบบราชการให้ทันสมัย", "Modernising the public sector"),
    }
    assert registry_rows(registry)["registry.strategies"] == [
        {"number": 1, "name_th": "การพัฒนากระบวนการทำงาน", "name_en": "Reengineering work processes"},
        {"number": 6, "name_th": "การเสริมสร้างระบบราชการให้ทันสมัย", "name_en": "Modernising the public sector"},
    ]
    # The file is part of what the committee decided: it changes the registry's hash.
    assert registry.content_sha256 != load_registry(VALID).content_sha256


def test_without_the_file_no_strategy_is_named():
    assert load_registry(VALID).strategies == {}


@pytest.mark.parametrize("text, subject, rule", [
    ("- {number: 8, name_th: ก, name_en: A}\n", "strategy 8", "number must be a whole number from 1 to 7"),
    ("- {number: '1', name_th: ก, name_en: A}\n", "entry 1", "number must be a whole number from 1 to 7"),
    ("- {number: 2, name_th: ก}\n", "strategy 2", "name_en is missing"),
    ("- {number: 2, name_th: ' ', name_en: A}\n", "strategy 2", "name_th must be non-empty text"),
    ("- {number: 2, name_th: ก, name_en: A, name_fr: B}\n", "strategy 2", "unknown field 'name_fr'"),
    ("- {number: 3, name_th: ก, name_en: A}\n- {number: 3, name_th: ข, name_en: B}\n", "strategy 3",
     "strategy numbers must be unique in strategies.yaml"),
    ("number: 3\n", "strategies", "strategies.yaml must be a non-empty list of {number, name_th, name_en}"),
    ("- {number: 3, name_th: [unclosed\n", "strategies", None),
])
def test_a_broken_strategies_file_stops_the_run_naming_file_entry_and_rule(tmp_path, text, subject, rule):
    with pytest.raises(RegistryError) as caught:
        load_registry(with_strategies(tmp_path, text))
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert (problems[0].file, problems[0].subject) == ("strategies.yaml", subject)
    if rule is None:
        assert problems[0].rule.startswith("the file must be readable YAML")
    else:
        assert problems[0].rule == rule


def test_the_demo_names_the_seven_strategies_of_the_2546_2550_plan():
    registry = load_registry_of_demo()
    assert sorted(registry.strategies) == [1, 2, 3, 4, 5, 6, 7]
    # The three the 2004 resolution names (strategies 1, 3 and 6), by the plan's own titles.
    assert registry.strategies[1].name_th == "การพัฒนากระบวนการทำงาน"
    assert registry.strategies[3].name_th == "การรื้อปรับระบบการเงินและการงบประมาณ"
    assert registry.strategies[6].name_th == "การเสริมสร้างระบบราชการให้ทันสมัย"
    assert registry.strategies[6].name_en == "Modernising the public sector"


def load_registry_of_demo():
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        return load_registry(demo.write_demo(Path(folder)).registry)
