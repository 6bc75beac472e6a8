"""The warehouse contract (warehouse/contract.yaml): what pilotkpi promises analysts.

The YAML is the project's own statement of the spec's relation table, kept in the repository so
that a fresh clone tests against it. `gaps` compares it with a live catalogue; `contract_markdown`
is the "Contract" section of docs/warehouse.md.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class PromisedRelation:
    name: str
    grain: str
    columns: tuple[str, ...]
    planned_issue: int | None            # the whole relation is still to be built
    planned_columns: tuple[str, ...]     # columns still to be built
    planned_columns_issue: int | None
    beyond_spec: bool = False            # promised by the project, not named by the spec

    @property
    def built_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.planned_columns)


@cache
def _raw() -> dict:
    return yaml.safe_load((resources.files("warehouse") / "contract.yaml").read_text(encoding="utf-8"))


def promised_relations() -> list[PromisedRelation]:
    out = []
    for name, spec in _raw()["relations"].items():
        later = spec.get("planned_columns") or {}
        out.append(PromisedRelation(name, spec["grain"], tuple(spec["columns"]) + tuple(later.get("columns", ())),
                                    spec.get("planned"), tuple(later.get("columns", ())), later.get("issue"),
                                    bool(spec.get("beyond_spec"))))
    return out


def allowed_types(column: str) -> set[str] | None:
    """The types the contract allows for a column, or None where it names none."""
    for pattern, types in _raw()["types"].items():
        if fnmatch.fnmatchcase(column, pattern):
            return set(types)
    return None


def gaps(types_by_relation: dict[str, dict[str, str]]) -> list[str]:
    """Every promise the catalogue breaks: {relation: {column: data_type}} in, messages out.

    Planned relations and columns are not checked (a later issue builds them).
    """
    problems = []
    for rel in promised_relations():
        if rel.planned_issue is not None:
            continue
        actual = types_by_relation.get(rel.name)
        if actual is None:
            problems.append(f"{rel.name} is missing")
            continue
        for column in rel.built_columns:
            if column not in actual:
                problems.append(f"{rel.name}.{column} is missing")
            elif (allowed := allowed_types(column)) and actual[column] not in allowed:
                problems.append(f"{rel.name}.{column} is {actual[column]}, the contract allows {sorted(allowed)}")
    return problems


def contract_markdown() -> str:
    lines = ["## The contract", "",
             "What pilotkpi promises analysts (`warehouse/contract.yaml`, checked against the live schema by",
             "`tests/test_warehouse_docs.py`). Planned entries are promised by the spec and built by the issue named;",
             "entries beyond the spec are the project's own additions, promised all the same.", "",
             "| relation | grain | columns | state |", "|---|---|---|---|"]
    for rel in promised_relations():
        if rel.planned_issue is not None:
            state = f"planned (issue {rel.planned_issue})"
        elif rel.planned_columns:
            state = f"built; {', '.join(rel.planned_columns)} planned (issue {rel.planned_columns_issue})"
        else:
            state = "built"
        if rel.beyond_spec:
            state += ", beyond the spec"
        lines.append(f"| `{rel.name}` | {rel.grain} | {', '.join(rel.columns)} | {state} |")
    return "\n".join(lines) + "\n"
