"""The registry's rule messages in English and Thai, from the one catalogue registry_rules.yaml.

pilots/registry.py notes each problem as `said(key, **params)`: the rule in both languages, filled
in. The registry's keepers are the Thai secretariat; the operator and the logs read English
(pilots/registry.py RegistryProblem keeps `rule` English, and `rule_th`).
"""
from __future__ import annotations

import string
from functools import cache
from importlib import resources

import yaml

from pilots.defects import Text

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def catalogue() -> tuple[dict[str, Text], dict[str, Text]]:
    """(rules, parts): key -> Text of templates."""
    raw = yaml.load((resources.files("pilots") / "registry_rules.yaml").read_text(encoding="utf-8"), Loader=_LOADER)
    return ({k: Text(t["en"], t["th"]) for k, t in raw["rules"].items()},
            {k: Text(t["en"], t["th"]) for k, t in raw["parts"].items()})


def fields(template: str) -> set[str]:
    """The parameters a template takes."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _fill(t: Text, key: str, params: dict[str, object]) -> Text:
    if fields(t.en) != set(params) or fields(t.th) != set(params):  # a programming error, not a registry's
        raise ValueError(f"registry rule {key} takes {sorted(fields(t.en))}, got {sorted(params)}")
    en = {k: v.en if isinstance(v, Text) else v for k, v in params.items()}
    th = {k: v.th if isinstance(v, Text) else v for k, v in params.items()}
    return Text(t.en.format(**en), t.th.format(**th))


def said(key: str, /, **params: object) -> Text:
    """Rule `key` in both languages; a parameter given as a Text (a `part`) goes in language by language."""
    return _fill(catalogue()[0][key], key, params)


def part(key: str, /, **params: object) -> Text:
    """A text that a rule takes as a parameter (`expect`, `read`, `at`), in both languages."""
    return _fill(catalogue()[1][key], key, params)
