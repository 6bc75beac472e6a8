"""Render the summary model to Markdown files, one per language."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from kpis.summary import labels
from kpis.summary.model import SummaryModel

LANGS = ("th", "en")


def _md_cell(value: object) -> str:
    """Agency text inside a Markdown table: no pipes or newlines that would break the table."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _environment(lang: str) -> Environment:
    env = Environment(loader=PackageLoader("kpis.summary", "templates"), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(L=labels.LABELS[lang], lang=lang)
    env.filters.update(
        status=lambda s: labels.status_label(s, lang),
        day=lambda d: labels.fmt_date(d, lang),
        period=lambda p: labels.fmt_period(p, lang),
        money=lambda v: labels.fmt_money(v, lang),
        number=labels.fmt_number,
        score=labels.fmt_score,
        ratio=labels.fmt_ratio,
        cell=_md_cell,
        name=lambda obj: getattr(obj, f"name_{lang}"),
    )
    return env


def render_markdown(model: SummaryModel, lang: str) -> str:
    return _environment(lang).get_template("summary.md.j2").render(m=model)


def write_summaries(model: SummaryModel, out_dir: Path, langs: tuple[str, ...] = LANGS) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in langs:
        path = out_dir / f"summary.{lang}.md"
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(render_markdown(model, lang), encoding="utf-8")
        tmp.replace(path)  # readers never see a half-written summary
        written.append(path)
    return written
