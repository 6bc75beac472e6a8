"""How the demo's summary and validation report lay out when headless Chromium prints them to A4
(issue 23 item 5), read back with pdftotext -layout:
- page 2 is not the contents table alone: the glossary, the contents and the table of every
  pilot follow one another;
- a KPI's name takes at most two lines in the KPI table (it took four);
- in the validation report a file name breaks only where line breaking allows, never inside its
  extension.

Skipped without Chromium or pdftotext, like tests/test_browser.py (CI installs both).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from kpis.summary.browser import BrowserMissing, find_chromium, print_pdf

PDFTOTEXT = shutil.which("pdftotext")


def _missing() -> str | None:
    try:
        find_chromium()
    except BrowserMissing:
        return "headless Chromium is not installed"
    return None if PDFTOTEXT else "pdftotext (poppler-utils) missing"


MISSING = _missing()
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI must install chromium and poppler-utils (.ci/run): {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def pages_of(html, pdf) -> list[str]:
    print_pdf(html, pdf)
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [p for p in text.split("\f") if p.strip()]


@pytest.fixture(scope="module")
def english(demo_run, tmp_path_factory):
    return pages_of(demo_run[0] / "out" / "summary.en.html", tmp_path_factory.mktemp("pdf") / "summary.en.pdf")


def test_the_contents_do_not_stand_alone_on_a_page(english):
    contents = next(i for i, p in enumerate(english) if "Contents by layer and status" in p)
    assert contents == 1  # page 2, after the overview
    page = english[contents]
    headings = [h for h in ("Glossary", "Contents by layer and status", "All pilots") if h in page]
    assert headings == ["Glossary", "Contents by layer and status", "All pilots"], headings
    assert "Flag (figure to confirm)" in page and "PLT-2548-001 Government" in page


def _kpi_name_lines(page: str) -> dict[str, int]:
    """Each KPI row of a page's KPI table: how many lines its name column takes."""
    lines = page.splitlines()
    header = next(i for i, line in enumerate(lines) if re.match(r"\s*KPI\s+Weight\s+Unit", line))
    name_width = lines[header].index("Weight") - 2
    rows: dict[str, int] = {}
    current = None
    for line in lines[header + 1:]:
        if re.match(r"\s*(Budget integration|Page \d)", line):
            break
        name = line[:name_width].strip()
        start = re.match(r"\s?([A-Z][0-9]) ", line)
        if start:
            current = start.group(1)
            rows[current] = 1
        elif current and name:
            rows[current] += 1
        elif not line.strip():
            current = None
    return rows


def test_a_kpi_name_takes_at_most_two_lines(english):
    """The demo's KPI names (pilots/demo.py), e.g. G1 "Share of departments connected to GIN" and
    C2 "Share of requests answered within 15 days", on A4 beside six other columns."""
    tables = [p for p in english if re.search(r"KPI\s+Weight\s+Unit", p)]
    assert len(tables) >= 5  # the six open pilots with KPIs (one may run over)
    seen = {}
    for page in tables:
        seen.update(_kpi_name_lines(page))
    assert {"G1", "G2", "C1", "C2", "K1"} <= set(seen), seen
    assert max(seen.values()) <= 2, seen


def test_validation_report_file_names_never_break_inside_the_extension(demo_run, tmp_path):
    pages = pages_of(demo_run[0] / "out" / "validation.html", tmp_path / "validation.pdf")
    text = "\n".join(pages)
    names = re.findall(r"PLT-2548-0\d\d_\d{5}_25\d\d-Q[1-4](?:_v2)?\.(?:csv|json|xlsx)", text)
    assert names  # most names fit a line whole
    # On A4 the quarantined table's file column is narrow: its names wrap after a hyphen
    # ("PLT-2548-" / "001_11002_2548-Q3.csv"), and the rest ends with the whole extension.
    lines = text.split("Every file of this run", 1)[0].splitlines()  # the quarantined files' table
    broken = [(a, b) for a, b in zip(lines, lines[1:]) if re.match(r"\s*PLT-2548-(\s|$)", a)]
    assert len(broken) == 6, broken  # the six quarantined files
    for first, rest in broken:
        assert re.match(r"\s*[0-9]{3}_[0-9]{5}_25[0-9]{2}-Q[1-4](_v2)?\.(csv|json)\b", rest), (first, rest)
    for ext in ("csv", "json"):
        for m in re.finditer(rf"\b{ext}\b", text):
            assert text[m.start() - 1] == ".", text[m.start() - 40:m.end() + 5]
    assert not re.search(r"\.(c|cs|j|js|jso)\s*\n", text)
