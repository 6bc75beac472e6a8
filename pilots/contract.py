"""The report file's column contract (shared/spec/agency-report-v1.md), said once.

Readers, the normaliser, the Great Expectations suite and the docs all take the columns from here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str       # canonical header
    thai: str       # Thai header label
    kind: str       # text | agency_code | period | date | line_type | layer | number | amount | funding_source
    required: str   # always | kpi | budget | never  (which rows must carry a value)


COLUMNS: tuple[Column, ...] = (
    Column("pilot_id", "รหัสโครงการ", "text", "always"),
    Column("agency_code", "รหัสหน่วยงาน", "agency_code", "always"),
    Column("period", "งวดรายงาน", "period", "always"),
    Column("submitted_on", "วันที่ส่ง", "date", "always"),
    Column("line_type", "ประเภทรายการ", "line_type", "always"),
    Column("item_code", "รหัสรายการ", "text", "always"),
    Column("layer", "ชั้น", "layer", "budget"),
    Column("actual", "ผลการดำเนินงาน", "number", "kpi"),
    Column("allocated_thb", "งบจัดสรร", "amount", "budget"),
    Column("disbursed_thb", "เบิกจ่าย", "amount", "budget"),
    Column("funding_source", "แหล่งงบประมาณ", "funding_source", "budget"),
    Column("note", "หมายเหตุ", "text", "never"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}

# Fields that must be the same on every row of a file (the submission's identity).
HEADER_FIELDS: tuple[str, ...] = ("pilot_id", "agency_code", "period", "submitted_on")

LINE_TYPES: dict[str, str] = {"kpi": "ตัวชี้วัด", "budget": "งบประมาณ"}
FUNDING_SOURCES: dict[str, str] = {
    "own": "งบของหน่วยงาน",
    "lead_integrated": "งบบูรณาการ",
    "support_contribution": "งบสนับสนุน",
}
ROLES: tuple[str, ...] = ("lead", "secondary", "supporting", "advisory")
# Roles that must report and whose budget counts (scoring.md §3, §4).
REPORTING_ROLES: tuple[str, ...] = ("lead", "secondary", "supporting")


def required_columns(line_types: set[str]) -> list[str]:
    """Columns a file must have, given the line types it holds (spec: "Required columns")."""
    wanted = {"always"} | (line_types & {"kpi", "budget"})
    return [c.name for c in COLUMNS if c.required in wanted]


def column_as_written(column: str | None, headers: dict[str, str], lang: str | None) -> str | None:
    """An issue's column as `pilotkpi check` names it (flows/cli_check.py): the header cell as the
    file wrote it; a column the file lacks by its Thai label in Thai, else by its canonical name.
    The web's check (web/templates/upload.html) names it the same way (web.md: same messages, row
    and column)."""
    if column and lang == "th":
        return headers.get(column) or (BY_NAME[column].thai if column in BY_NAME else column)
    if column:
        return headers.get(column, column)
    return column
