"""The pilot registry (shared/spec/pilot-registry.md): load the YAML folder and enforce its rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class Agency:
    code: str
    name_th: str
    name_en: str
    ministry: str | None


@dataclass(frozen=True)
class Participant:
    code: str
    role: str  # lead | secondary | supporting | advisory


@dataclass(frozen=True)
class Kpi:
    code: str
    name_th: str
    name_en: str
    unit: str          # percent | count | baht | days | score
    direction: str     # higher | lower
    aggregation: str   # last | sum
    weight: Decimal
    thresholds: dict[int, tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]  # BE fiscal year -> t1..t5


@dataclass(frozen=True)
class Pilot:
    pilot_id: str
    name_th: str
    name_en: str
    layer: int
    strategies: tuple[int, ...]
    classification: str  # open | restricted
    start: date
    end: date
    report_due_days: int
    agencies: tuple[Participant, ...]
    kpis: tuple[Kpi, ...]

    @property
    def lead_agency_code(self) -> str:
        return next(p.code for p in self.agencies if p.role == "lead")

    def role_of(self, agency_code: str) -> str | None:
        return next((p.role for p in self.agencies if p.code == agency_code), None)

    def kpi(self, code: str) -> Kpi | None:
        return next((k for k in self.kpis if k.code == code), None)


@dataclass(frozen=True)
class Registry:
    agencies: dict[str, Agency]
    pilots: dict[str, Pilot]
    content_sha256: str = field(default="")  # hash of the folder's YAML files, for ops.runs


@dataclass(frozen=True)
class RegistryProblem:
    file: str      # path relative to the registry folder
    subject: str   # the pilot, KPI or agency concerned, e.g. "PLT-2548-003 / K1"
    rule: str      # the rule broken, in words of pilot-registry.md

    def __str__(self) -> str:
        return f"{self.file}: {self.subject}: {self.rule}"


class RegistryError(Exception):
    """A broken registry: the run stops before anything is written."""

    def __init__(self, problems: list[RegistryProblem]):
        self.problems = problems
        super().__init__("broken registry:\n" + "\n".join(f"  - {p}" for p in problems))


def load_registry(folder: str | Path) -> Registry:
    """Read agencies.yaml and pilots/*.yaml, check every rule, and return the registry.

    Raises RegistryError listing every problem found.
    """
    raise NotImplementedError
