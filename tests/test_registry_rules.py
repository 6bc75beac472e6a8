"""The registry's rule messages: one catalogue (pilots/registry_rules.yaml), each rule in English and
Thai with the same parameters, every rule the loader notes catalogued and every catalogued one noted.
The messages themselves, on broken registries: tests/test_registry_refused_run.py, tests/test_registry.py."""
from __future__ import annotations

import re
import string
from collections import Counter

from pilots.registry_rules import catalogue, fields
from tests.support import ROOT


def placeholders(template: str) -> Counter:
    """Each replacement field of a template as (name, conversion, format spec), counted: `{value!r}`
    quotes registry text escaped, `{length:,}` groups digits; a language that drops either differs."""
    return Counter((name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(template)
                   if name is not None)


def test_every_rule_has_both_languages_and_the_same_parameters():
    rules, parts = catalogue()
    for key, t in {**rules, **parts}.items():
        assert fields(t.en) == fields(t.th), key
        assert placeholders(t.en) == placeholders(t.th), key  # the same conversions and specs, too
        assert re.search("[ก-๛]", t.th), key
        assert not re.search("[ก-๛]", t.en), key


def test_a_thai_template_without_the_english_conversion_is_told():
    assert placeholders("got {value!r}") != placeholders("พบ {value}")
    assert placeholders("got {length:,}") != placeholders("พบ {length}")
    assert placeholders("got {value!r}") == placeholders("พบ {value!r}")


def test_every_rule_noted_is_catalogued_and_every_catalogued_rule_is_noted():
    source = "\n".join((ROOT / "pilots" / name).read_text(encoding="utf-8")
                       for name in ("registry.py", "registry_problems.py"))
    source += (ROOT / "flows" / "cli_common.py").read_text(encoding="utf-8")
    rules, parts = catalogue()
    used_rules = set(re.findall(r"""(?<![.\w])said\(["'](\w+)["']""", source))
    used_parts = set(re.findall(r"""(?<![.\w])part\(["'](\w+)["']""", source))
    assert used_rules == set(rules)
    assert used_parts == set(parts)


def test_a_rule_given_other_parameters_is_a_programming_error():
    import pytest

    from pilots.registry_rules import said

    with pytest.raises(ValueError, match="lead_count takes"):
        said("lead_count", leads=2)
