"""The summaries' section cache keeps sizes always and texts only for a summary on one page
(kpis/summary/render.py, SectionCache): a split summary's pilot pages are what is kept. Whatever
the cache holds, every page written equals a render from scratch of the same model."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpis.summary import build_model
from kpis.summary.pages import page_names
from kpis.summary.render import render_section, write_summaries

EDITIONS = [(lang, fmt) for lang in ("th", "en") for fmt in ("html", "md")]


@pytest.fixture(scope="module")
def models(demo_run):
    con = duckdb.connect(str(demo_run[0] / "warehouse.published.duckdb"), read_only=True)
    try:
        return {d: build_model(con, date(2006, 8, d)) for d in (15, 16)}
    finally:
        con.close()


def pages(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def cache_files(folder: Path) -> dict[tuple[str, str], dict]:
    return {(lang, fmt): json.loads((folder / f".pilotkpi-sections.{lang}.{fmt}.json").read_text(encoding="utf-8"))
            for lang, fmt in EDITIONS}


def test_a_split_summary_keeps_sizes_not_texts_and_a_deleted_pilot_page_is_written_again(models, tmp_path):
    whole, cached = tmp_path / "whole", tmp_path / "cached"
    write_summaries(models[15], whole, validation_link="validation.html", max_page_bytes=1)
    first = {}
    write_summaries(models[15], cached, validation_link="validation.html", max_page_bytes=1, reuse_sections=True,
                    stats=first)
    assert first == {"sections": 28, "rendered": 28}
    for cache in cache_files(cached).values():
        entries = list(cache["sections"].values())
        assert len(entries) == 7  # the demo's 7 pilots, each [since, size, no text]
        assert all(since == "2006-08-15" and size > 0 and text is None for since, size, text in entries)
    # A section's size is in UTF-8 bytes (a Thai letter is 3), as the split is decided.
    anchors = page_names(models[15])
    texts = [render_section(models[15], p, "th", "html", anchors) for p in models[15].pilots]
    assert all(len(text) < len(text.encode("utf-8")) for text in texts)
    assert sorted(size for _, size, _ in cache_files(cached)[("th", "html")]["sections"].values()) == sorted(
        len(text.encode("utf-8")) for text in texts)
    assert pages(cached) == pages(whole)

    (cached / "pilots" / "PLT-2548-001.th.md").unlink()  # gone: its section has no text to reuse
    again = {}
    write_summaries(models[15], cached, validation_link="validation.html", max_page_bytes=1, reuse_sections=True,
                    stats=again)
    assert again == {"sections": 28, "rendered": 1}  # that page's section only, rendered anew
    assert pages(cached) == pages(whole)


def test_a_summary_back_on_one_page_renders_the_sections_whose_texts_were_not_kept(models, tmp_path):
    """Split on the 15th (no texts kept), on one page on the 16th: every section is rendered, and
    the pages are those of a render from scratch; the texts are then kept for the next night."""
    whole, cached = tmp_path / "whole", tmp_path / "cached"
    write_summaries(models[16], whole, validation_link="validation.html")
    write_summaries(models[15], cached, validation_link="validation.html", max_page_bytes=1, reuse_sections=True)
    second, third = {}, {}
    write_summaries(models[16], cached, validation_link="validation.html", reuse_sections=True, stats=second)
    assert second == {"sections": 28, "rendered": 28}
    assert pages(cached) == pages(whole)  # the pilot pages of the split summary are removed too
    assert all(isinstance(text, str) and len(text.encode("utf-8")) == size
               for cache in cache_files(cached).values() for _, size, text in cache["sections"].values())
    write_summaries(models[16], cached, validation_link="validation.html", reuse_sections=True, stats=third)
    assert third == {"sections": 28, "rendered": 0}
    assert pages(cached) == pages(whole)
