"""Defects and warnings: the catalogue in defects.yaml, and the Issue records built from it."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping

import yaml

from warehouse.personal import mask_national_ids


@dataclass(frozen=True)
class Text:
    """A message parameter in both languages (a reason, a role): the Thai message gets `th`."""
    en: str
    th: str


@dataclass(frozen=True)
class DefectType:
    code: str
    severity: str  # error | warning
    meaning: str
    params: tuple[str, ...]
    en: str
    th: str
    example: str
    fix_en: str    # what the agency does about it, for the format guides
    fix_th: str
    details: dict[str, Text] = field(default_factory=dict, compare=False)  # bilingual texts for `detail`


@dataclass(frozen=True)
class Issue:
    """One defect or warning of a file, as stored in ingest.issues."""
    code: str
    severity: str
    row_number: int | None
    column_name: str | None
    message_en: str
    message_th: str
    # The parameters the messages were made from, so that they can be made again with the
    # column named as the file wrote it (`relabel`). Not stored: the messages are.
    params: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __reduce__(self):
        # pickle cannot copy the read-only params view; Dask workers send Issues back pickled.
        return (_issue, (self.code, self.severity, self.row_number, self.column_name, self.message_en,
                         self.message_th, dict(self.params)))


def _issue(code, severity, row_number, column_name, message_en, message_th, params) -> Issue:
    return Issue(code, severity, row_number, column_name, message_en, message_th, MappingProxyType(params))


# libyaml's parser with the safe constructor, as pilots/registry.py reads the registry: the same
# types as yaml.safe_load (the catalogue compares equal), 15x less CPU (0.06 s against 0.004 s a
# process). A served night's forkserver parses it once (flows/warm_preload.py).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def catalogue() -> dict[str, DefectType]:
    raw = yaml.load((resources.files("pilots") / "defects.yaml").read_text(encoding="utf-8"), Loader=_LOADER)
    return {
        code: DefectType(code, d["severity"], d["meaning"], tuple(d["params"]), d["en"], d["th"], str(d["example"]),
                         d["fix_en"], d["fix_th"],
                         {k: Text(t["en"], t["th"]) for k, t in (d.get("details") or {}).items()})
        for code, d in raw.items()
    }


def detail(code: str, key: str, /, **params: object) -> Text:
    """The catalogued `detail` text `key` of defect `code`, in both languages, filled in."""
    t = catalogue()[code].details[key]
    return Text(t.en.format(**params), t.th.format(**params))


def make_issue(code: str, row: int | None = None, column: str | None = None, /, **params: object) -> Issue:
    """Build an Issue from the catalogue; a missing or unknown parameter is a programming error.

    `row` and `column` locate the issue and are positional-only, so that a message may itself
    take a parameter called `column`.
    """
    d = catalogue()[code]
    if set(params) != set(d.params):
        raise ValueError(f"{code} takes {d.params}, got {sorted(params)}")
    en = {k: _shorten(v.en if isinstance(v, Text) else v) for k, v in params.items()}
    th = {k: _shorten(v.th if isinstance(v, Text) else v) for k, v in params.items()}
    return Issue(code, d.severity, row, column, d.en.format(**en), d.th.format(**th), MappingProxyType(dict(params)))


def relabel(issue: Issue, written: Mapping[str, str]) -> Issue:
    """The issue with its messages naming the column as the file wrote it (`written`: canonical
    name -> header cell as written; for JSON, the field name). `column_name` stays canonical, for
    machines. COLUMN_MISSING names a column the file lacks: it keeps the canonical name and label."""
    column = issue.params.get("column")
    if issue.code == "COLUMN_MISSING" or not isinstance(column, str) or written.get(column, column) == column:
        return issue
    return make_issue(issue.code, issue.row_number, issue.column_name, **{**issue.params, "column": written[column]})


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
                f"- Example: {d.example}",
                f"- How to fix: {d.fix_en}",
                f"- วิธีแก้ไข: {d.fix_th}", "",
            ]
    return "\n".join(lines)
