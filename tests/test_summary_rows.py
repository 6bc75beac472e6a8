"""The national table's rows kept between nights (kpis/summary/render.py, SectionCache.national_rows):
a night renders again only the rows of pilots whose figures changed, and its summary pages are
byte for byte those of a render that keeps nothing (`pilotkpi report`), on one page and split.

Three pilots, hand-made sections (no warehouse): P-1 on target at 3.9000 after 3.1800 (change
+0.7200), P-2 off track at 1.1600 after 3.1800 (-2.0200), P-3 without a scored period. No agency
is late in any (the last column: 0 agencies).
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kpis.summary.model import PilotSection, SummaryModel
from kpis.summary.render import SECTIONS_FILE, write_summaries

SUMMARIES = [f"summary.{lang}.{fmt}" for lang in ("th", "en") for fmt in ("html", "md")]


def pilot(pid: str, composite: str | None, status: str, before: str | None = "3.1800") -> PilotSection:
    trend = [] if composite is None else [("2548-Q1", Decimal(before), "on_target"),
                                          ("2548-Q2", Decimal(composite), status)]
    return PilotSection(pilot_id=pid, name_th="ก", name_en=f"pilot {pid}", layer=1, strategies=[1],
                        restricted=False, period=None if composite is None else "2548-Q2",
                        composite=None if composite is None else Decimal(composite), status=status,
                        kpis_reported=2, kpis_expected=2, trend=trend)


def model(as_of: date, *pilots: PilotSection) -> SummaryModel:
    by_status = {s: sum(p.status == s for p in pilots) for s in ("on_target", "at_risk", "off_track", "no_data")}
    return SummaryModel(as_of, list(pilots), by_status, {1: len(pilots)}, {1: len(pilots)}, [])


def summaries(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in SUMMARIES}


def overview_row(out: Path, pid: str) -> str:
    md = (out / "summary.en.md").read_text(encoding="utf-8")
    return next(line for line in md.splitlines() if line.startswith(f"| [{pid}]("))


def kept_rows(out: Path) -> int:
    return len(json.loads((out / SECTIONS_FILE.format(lang="en", fmt="md")).read_text(encoding="utf-8"))["rows"])


@pytest.mark.parametrize("max_page_bytes", [None, 1], ids=["one page", "split"])
def test_kept_rows_give_the_pages_a_render_that_keeps_nothing_gives(tmp_path, max_page_bytes):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    first = model(date(2005, 5, 15), pilot("P-1", "3.9000", "on_target"), pilot("P-2", "1.1600", "off_track"),
                  pilot("P-3", None, "no_data"))
    write_summaries(first, out, max_page_bytes=max_page_bytes, reuse_sections=True)
    link = "pilots/P-1.en.md" if max_page_bytes else "#P-1"
    assert overview_row(out, "P-1") == f"| [P-1]({link}) pilot P-1 | 1 | 🟢 on target | 3.9000 | ▲ +0.7200 | 0 |"
    assert kept_rows(out) == 3

    # The next night: P-2 at risk at 2.1000 (-1.0800), the others unchanged; the date line changes.
    second = model(date(2005, 5, 16), first.pilots[0], pilot("P-2", "2.1000", "at_risk"), first.pilots[2])
    stats: dict = {}
    write_summaries(second, out, max_page_bytes=max_page_bytes, reuse_sections=True, stats=stats)
    write_summaries(second, fresh, max_page_bytes=max_page_bytes)
    assert summaries(out) == summaries(fresh)
    assert overview_row(out, "P-2") == (f"| [P-2]({link.replace('P-1', 'P-2')}) pilot P-2 | 1 | 🟡 at risk | 2.1000 "
                                        "| ▼ −1.0800 | 0 |")
    assert stats == {"sections": 12, "rendered": 4}  # P-2's section in each of the four editions
    assert kept_rows(out) == 3  # P-2's old row is not kept


def test_a_row_is_kept_for_its_link_only(tmp_path):
    """The same figures on one page (rows link to the sections' anchors), then split (rows link to
    the pilots' own pages): the rows are rendered again, never taken with the other link."""
    out = tmp_path / "out"
    night = model(date(2005, 5, 15), pilot("P-1", "3.9000", "on_target"), pilot("P-2", "1.1600", "off_track"))
    write_summaries(night, out, reuse_sections=True)
    write_summaries(replace(night), out, max_page_bytes=1, reuse_sections=True)
    md = (out / "summary.en.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| \[(P-\d)\]\(([^)]+)\)", md, re.M) == [("P-1", "pilots/P-1.en.md"),
                                                                    ("P-2", "pilots/P-2.en.md")]
    assert "(#P-1)" not in md
