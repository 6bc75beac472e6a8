"""The committee summary at national scale (issue 12 item 6): the overview table's figures, the
contents by layer and status, and the split into one file per pilot when a page grows too big.

A summary of 400 pilots was 6-7 MB of HTML: slow to open and to e-mail. When any edition of the
single page would pass MAX_PAGE_BYTES, every edition is split the same way (so the Thai and the
English editions, HTML and Markdown, always link alike): `summary.<lang>.<fmt>` keeps the overview,
the contents, budget and reminders, and links each pilot to `pilots/<name>.<lang>.<fmt>`.
"""
from __future__ import annotations

import re
from decimal import Decimal

from kpis.summary.model import STATUSES, PilotSection, SummaryModel

MAX_PAGE_BYTES = 5_000_000  # "about 5 MB" (issue 12): a page an e-mail client still opens quickly
PILOTS_DIR = "pilots"
PAGE_SUFFIX = re.compile(r"\.(th|en)\.(html|md)$")
# A pilot id is registry text (only the YAML file's stem constrains it): used as a file name or a
# Markdown anchor only when plainly safe; otherwise the pilot's place in the model, `_<n>`, which
# no safe id can equal (a safe id starts with a letter or digit).
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def page_names(model: SummaryModel) -> dict[str, str]:
    """pilot_id -> the stem of its page and its Markdown anchor; unique even on a case-blind disk."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for n, p in enumerate(model.pilots, start=1):
        stem = p.pilot_id if _SAFE.fullmatch(p.pilot_id) and p.pilot_id.casefold() not in used else f"_{n}"
        used.add(stem.casefold())
        names[p.pilot_id] = stem
    return names


def trend_change(p: PilotSection) -> Decimal | None:
    """The headline composite minus the previous period's; None where either is missing."""
    if len(p.trend) < 2:
        return None
    before, now = p.trend[-2][1], p.trend[-1][1]
    return None if before is None or now is None else now - before


def fmt_change(value: Decimal | None) -> str:
    """▲ +0.3000 / ▼ −0.2500 / = 0.0000: a shape as well as a sign, for black-and-white prints."""
    if value is None:
        return "–"
    if value > 0:
        return f"▲ +{value:.4f}"
    if value < 0:
        return f"▼ −{-value:.4f}"
    return f"= {Decimal(0):.4f}"


def late_agencies(p: PilotSection) -> list[str] | None:
    """Agency codes late or missing in the pilot's headline period (a restricted pilot's too:
    warehouse.md puts reporting_compliance on the open side); None for a pilot without a due
    period."""
    if p.period is None:
        return None
    return sorted({c.agency_code for c in p.late_or_missing if c.period == p.period})


def contents(model: SummaryModel) -> list[tuple[int, list[tuple[str, list[PilotSection]]]]]:
    """[(layer, [(status, pilots)])]: every layer with a pilot, every status in the fixed order."""
    layers = sorted({p.layer for p in model.pilots}, key=lambda x: (not isinstance(x, int), str(x)))
    statuses = list(STATUSES) + sorted({p.status for p in model.pilots} - set(STATUSES))
    return [(layer, [(s, [p for p in model.pilots if p.layer == layer and p.status == s]) for s in statuses])
            for layer in layers]


def too_big(pages: list[str], max_page_bytes: int) -> bool:
    return any(len(page.encode("utf-8")) > max_page_bytes for page in pages)
