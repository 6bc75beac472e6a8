"""Defects and warnings: the catalogue in defects.yaml, and the Issue records built from it."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from pilots.personal import mask_national_ids


@dataclass(frozen=True)
class DefectType:
    code: str
    severity: str  # error | warning
    meaning: str
    params: tuple[str, ...]
    en: str
    th: str
    example: str


@dataclass(frozen=True)
class Issue:
    """One defect or warning of a file, as stored in ingest.issues."""
    code: str
    severity: str
    row_number: int | None
    column_name: str | None
    message_en: str
    message_th: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@cache
def catalogue() -> dict[str, DefectType]:
    raw = yaml.safe_load((resources.files("pilots") / "defects.yaml").read_text(encoding="utf-8"))
    return {
        code: DefectType(code, d["severity"], d["meaning"], tuple(d["params"]), d["en"], d["th"], str(d["example"]))
        for code, d in raw.items()
    }


def make_issue(code: str, row: int | None = None, column: str | None = None, /, **params: object) -> Issue:
    """Build an Issue from the catalogue; a missing or unknown parameter is a programming error.

    `row` and `column` locate the issue and are positional-only, so that a message may itself
    take a parameter called `column`.
    """
    d = catalogue()[code]
    if set(params) != set(d.params):
        raise ValueError(f"{code} takes {d.params}, got {sorted(params)}")
    values = {k: _shorten(v) for k, v in params.items()}
    return Issue(code, d.severity, row, column, d.en.format(**values), d.th.format(**values))


def _shorten(value: object, limit: int = 80) -> str:
    """Agency values are echoed in messages: mask ID numbers, keep hostile or huge values short."""
    text = mask_national_ids("" if value is None else str(value))[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def catalogue_markdown() -> str:
    """docs/defects.md, generated from defects.yaml so that the two cannot disagree."""
    lines = [
        "# Defect and warning codes",
        "",
        "Generated from `pilots/defects.yaml` by `pilotkpi docs`; do not edit by hand.",
        "A file with any **error** is quarantined whole; **warnings** are recorded and the file is accepted.",
        "Messages show their parameters in braces.",
        "",
    ]
    for severity in ("error", "warning"):
        lines += [f"## {'Errors' if severity == 'error' else 'Warnings'}", ""]
        for d in catalogue().values():
            if d.severity != severity:
                continue
            lines += [
                f"### `{d.code}`", "",
                d.meaning, "",
                f"- English: {d.en}",
                f"- ไทย: {d.th}",
                f"- Example: {d.example}", "",
            ]
    return "\n".join(lines)
