"""Render the summary model to Markdown and self-contained HTML, one file per language.

Both formats are filled from the same SummaryModel, so the editions cannot disagree.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from jinja2 import BytecodeCache, Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket
from markupsafe import Markup

from kpis import steps
from warehouse.display import MdLabel, MdSafe, html_text, md_label, md_text, shown
from kpis.files import write_atomically, write_if_changed
from kpis.summary import charts, labels, pages
from kpis.summary.model import PilotSection, SummaryModel

LANGS = ("th", "en")
FORMATS = ("md", "html")
LOGGER = logging.getLogger(__name__)
SECTIONS_FILE = ".pilotkpi-sections.{lang}.{fmt}.json"  # in OUT: each pilot's rendered section (SectionCache)

# The budget-integration rows of a pilot's HTML section: (label key, marts column, format).
BUDGET_FIELDS = (
    ("total_budget", "total_allocated_thb", "money"),
    ("integrated", "integrated_thb", "money"),
    ("fragmented", "fragmented_thb", "money"),
    ("ratio", "integration_ratio", "ratio"),
    ("lead_share", "lead_share", "ratio"),
    ("support", "support_thb", "money"),
    ("disbursed", "disbursed_thb", "money"),
    ("disbursement_rate", "disbursement_rate", "ratio"),
    ("overlap", "overlapping_activities", "number"),
)


def _agency(q, lang: str) -> str:
    """A quarantined file's agency by its registry name with the code in brackets; else as the file wrote it."""
    name = getattr(q, f"agency_name_{lang}", None)
    if name and q.agency_code:
        return f"{name} ({q.agency_code})"
    return shown(q.agency_code, q.raw_agency_code)


_ENVIRONMENTS: dict[tuple, Environment] = {}


class CompiledTemplates(BytecodeCache):
    """Each template compiled once per process, shared by every environment (two languages, two
    formats, the registries' strategy names). They differ only in globals and filters, which a
    compiled template looks up when it renders; they compile alike (the same options:
    _new_environment). A quiet night at 400 pilots compiled summary.html.j2 and its parts once for
    Thai and again for English: 0.08 s of its 0.3 s of rendering. Jinja keys a template by its name
    and file, and checks the checksum of its source: a template changed on disk compiles again."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        self._code.clear()


COMPILED = CompiledTemplates()


def compile_templates() -> int:
    """Compile every summary template into COMPILED now; the number compiled. The forkserver of
    `pilotkpi serve` calls it (flows/warm_preload.py), so a served night renders without compiling."""
    report = {Path(f).name for f in steps.OUTPUTS["validation_report"].files}  # compiled by its own environment
    compiled = 0
    for html in (True, False):
        env = _new_environment("en", html)
        for name in env.list_templates(filter_func=lambda n: n.endswith(".html.j2" if html else ".md.j2")):
            if name not in report:
                env.get_template(name)
                compiled += 1
    return compiled


def _environment(lang: str, html: bool, strategy_names: dict | None = None) -> Environment:
    """One environment per language, format and strategy names, kept: compiling the templates
    again for each of 400 pilot pages cost more than rendering them."""
    key = (lang, html, repr(sorted((strategy_names or {}).items())))
    if key not in _ENVIRONMENTS:
        if len(_ENVIRONMENTS) > 16:  # a long-lived process that saw many registries
            _ENVIRONMENTS.clear()
        _ENVIRONMENTS[key] = _new_environment(lang, html, strategy_names)
    return _ENVIRONMENTS[key]


def _new_environment(lang: str, html: bool, strategy_names: dict | None = None) -> Environment:
    # Every {{ value }} passes through `finalize`: Markdown escaping, or control characters made
    # visible before HTML autoescape, so no template can print agency text unescaped.
    env = Environment(loader=PackageLoader("kpis.summary", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html.j2"]), trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=html_text if html else md_text, bytecode_cache=COMPILED)
    formats = {
        "money": lambda v: labels.fmt_money(v, lang),
        "ratio": labels.fmt_ratio,
        "number": labels.fmt_number,
    }
    env.globals.update(L=labels.LABELS[lang], lang=lang, z_limit=labels.Z_LIMIT,
                       # canonical value formatted, else the agency's text as received
                       shown=lambda canonical, raw, kind="text": shown(
                           canonical, raw, (lambda p: labels.fmt_period(p, lang)) if kind == "period" else str))
    env.filters.update(
        status=lambda s: labels.status_label(s, lang),
        status_text=lambda s: labels.status_text(s, lang),
        day=lambda d: labels.fmt_date(d, lang),
        period=lambda p: labels.fmt_period(p, lang),
        money=formats["money"],
        number=formats["number"],
        score=labels.fmt_score,
        ratio=formats["ratio"],
        format_as=lambda v, kind: formats[kind](v),
        raw=labels.raw_value,
        cell=md_text if not html else str,  # md_text is idempotent: `finalize` applies it again
        name=lambda obj: getattr(obj, f"name_{lang}"),
        layer_name=lambda n: labels.layer_name(n, lang),
        strategy_name=lambda n: labels.strategy_name(n, strategy_names or {}, lang),
        unit=lambda u: labels.UNITS.get(u, {}).get(lang, u),
        quantity=lambda v, unit: labels.fmt_quantity(v, unit, lang),
        quarter=labels.quarter_of,
        column=lambda c: labels.column_label(c, lang),
        agency=lambda q: _agency(q, lang),
        change=lambda p: pages.fmt_change(pages.trend_change(p)),
        late_agencies=pages.late_agencies,
        # A macro's output, escaped as it was rendered (finalize applied inside): not escaped again.
        rendered=(lambda text: text) if html else MdSafe,
    )
    env.globals.update(contents=pages.contents)
    if not html:
        _markdown_filters(env, lang)
    return env


_LINK = re.compile(r"[A-Za-z0-9._/#-]+")


def _ours(fn, typed=lambda value: True):
    """A formatter whose output is the project's own text (a figure, a date, a label), marked as
    escaped for Markdown with md_label so that it stays readable (1,234.50 THB, 15 Feb 2005, FY2005 Q2),
    where its input is what the formatter expects (`typed`); anything else is escaped as agency text."""
    def formatted(value, *args):
        text = fn(value, *args)
        return md_label(text) if typed(value) else md_text(text)
    return formatted


def _markdown_filters(env: Environment, lang: str) -> None:
    """The Markdown editions' escaping (warehouse/display.py): `finalize` (md_text) escapes every ASCII
    punctuation character of agency text. The project's own words and the figures its formatters
    write are marked escaped already (md_label), so they stay readable: the labels (L, `words`),
    the formatted figures and dates, the links to the project's own pages."""
    figure = lambda v: v is None or isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)  # noqa: E731
    f = env.filters
    for name in ("money", "number", "score", "ratio", "quantity"):
        f[name] = _ours(f[name], figure)
    f["format_as"] = _ours(f["format_as"], figure)
    f["day"] = _ours(f["day"], lambda v: v is None or isinstance(v, date))
    f["period"] = _ours(f["period"], lambda v: not v or isinstance(v, str) and labels.is_period(v))
    f["status"] = _ours(f["status"])  # a label looked up (an unknown status is a KeyError)
    f["status_text"] = _ours(f["status_text"])
    f["unit"] = _ours(f["unit"], lambda u: u in labels.UNITS)
    f["layer_name"] = _ours(f["layer_name"], lambda n: n in labels.LAYERS)
    f["change"] = _ours(f["change"])  # ▲ +0.3000: a difference of two composites
    # A link to one of the project's own pages or anchors (pages.page_names): as written, where it
    # is one; a macro's output (href) is escaped already.
    f["link"] = lambda t: MdSafe(t) if isinstance(t, str) and _LINK.fullmatch(t) else md_text(t)
    # join: each item escaped (unless it already is), the template's own separator as it is.
    f["join"] = lambda items, sep="": MdSafe(sep.join(md_text(i) for i in items))
    # A template's own table of words (_reminders.md.j2's R): labels, as L's.
    f["words"] = lambda table: {k: MdLabel(md_label(v)) for k, v in table.items()}
    # A canonical period formatted is the project's text (ไตรมาส 1/2548); the agency's own, escaped.
    as_shown = env.globals["shown"]
    env.globals.update(L={k: MdLabel(md_label(v)) for k, v in labels.LABELS[lang].items()},
                       z_limit=md_label(labels.Z_LIMIT),
                       shown=lambda canonical, raw, kind="text": (
                           md_label(as_shown(canonical, raw, kind)) if kind == "period" and canonical is not None
                           and labels.is_period(canonical) else as_shown(canonical, raw, kind)))


# validation_link: the file name of the validation report of the job whose figures these are
# (kpis/summary/validation.py `report_for`), or None for no link. pilot_pages: pilot_id -> the
# relative link of its own page when the summary is split (kpis/summary/pages.py), else None:
# the pilots' sections are then on the page itself, linked by anchor.
# sections: pilot_id -> its section already rendered for this edition (SectionCache), else None:
# every section is rendered here, from _pilot.<fmt>.j2, as the page includes it.
def render_markdown(model: SummaryModel, lang: str, *, validation_link: str | None = None,
                    pilot_pages: dict[str, str] | None = None, sections: dict[str, str] | None = None,
                    rows: dict[str, str] | None = None) -> str:
    return _environment(lang, False, model.strategy_names).get_template("summary.md.j2").render(
        m=model, validation_link=validation_link, pilot_pages=pilot_pages, anchors=pages.page_names(model),
        sections=sections, rows=rows)


def _charts(pilots: list[PilotSection], lang: str) -> dict:
    L = labels.LABELS[lang]
    trend_charts = {
        p.pilot_id: Markup(charts.trend_chart(
            [(labels.fmt_period_short(period, lang), score, status) for period, score, status in p.trend],
            f"{L['trend']} {p.pilot_id}"))
        for p in pilots if p.trend
    }
    budget_charts = {
        p.pilot_id: Markup(charts.stacked_bars(
            [(labels.fmt_period(p.period, lang), p.budget["integrated_thb"], p.budget["total_allocated_thb"])],
            f"{L['integrated_vs_total']} {p.pilot_id}", (L["integrated"], L["fragmented"])))
        for p in pilots if p.budget and not p.restricted
    }
    return {"trend_charts": trend_charts, "budget_charts": budget_charts, "budget_fields": BUDGET_FIELDS}


def render_html(model: SummaryModel, lang: str, *, validation_link: str | None = None,
                pilot_pages: dict[str, str] | None = None, sections: dict[str, str] | None = None,
                rows: dict[str, str] | None = None) -> str:
    L = labels.LABELS[lang]
    layer_chart = Markup(charts.stacked_bars(
        [(f"{L['layer']} {b['layer']}", b["integrated_thb"], b["total_allocated_thb"]) for b in model.budget_by_layer],
        L["budget_by_layer"], (L["integrated"], L["fragmented"])))
    return _environment(lang, True, model.strategy_names).get_template("summary.html.j2").render(
        m=model, validation_link=validation_link, layer_chart=layer_chart, pilot_pages=pilot_pages,
        anchors=pages.page_names(model), sections=sections, rows=rows,
        **_charts([] if pilot_pages or sections else model.pilots, lang))


def render_pilot_page(model: SummaryModel, p: PilotSection, lang: str, fmt: str, *, summary_link: str,
                      validation_link: str | None = None, anchors: dict[str, str] | None = None,
                      env: Environment | None = None, section: str | None = None, dated: date | None = None) -> str:
    """One pilot's own page (a split summary): its section as on the single page, and a link back.
    A caller writing many pages passes `anchors` (pages.page_names) and `env` (pilot_environment)
    once, instead of recomputing and recompiling them for every pilot; and `section`, the pilot's
    section already rendered (SectionCache), where it has it. dated: the date on the page, the
    night its figures were first shown (SectionCache.since); default the model's as-of date."""
    html = fmt == "html"
    env = env or pilot_environment(model, lang, fmt)
    return env.get_template(f"pilot.{fmt}.j2").render(
        m=model, p=p, summary_link=summary_link, validation_link=validation_link, section=section,
        dated=dated or model.as_of,
        anchors=anchors if anchors is not None else pages.page_names(model),
        **(_charts([p], lang) if html and section is None else {}))


def render_section(model: SummaryModel, p: PilotSection, lang: str, fmt: str, anchors: dict[str, str],
                   env: Environment | None = None) -> str:
    """One pilot's section (_pilot.<fmt>.j2) alone: the very text the summary's loop and the pilot's
    own page include (the same template, the same context it reads)."""
    env = env or pilot_environment(model, lang, fmt)
    return env.get_template(f"_pilot.{fmt}.j2").render(
        m=model, p=p, anchors=anchors, **(_charts([p], lang) if fmt == "html" else {}))


class SectionCache:
    """Each pilot's rendered section of one edition, kept in OUT between nights (issue 22 item 3).

    A section is a function of the pilot's part of the model (PilotSection: its figures, trend,
    budget, late agencies, files, controls, and `ended`, the only thing in it that reads the as-of
    date), the edition, its Markdown anchor, the registry's strategy names, and the code (the
    summaries step's templates and modules, kpis/steps.py). Its key is SHA-256 over all of those,
    so a night renders again only the pilots whose sections changed; the page around them (the
    date line, the overview, the national tables) is rendered every time. The file is a cache: if
    it is missing, unreadable or made by other code, every section is rendered.

    Each section keeps `since`, the as-of date of the night it was first rendered: a pilot's own
    page (a split summary) is dated by it, so a pilot whose figures did not change keeps its page,
    byte for byte (see write_summaries). `pages` notes each pilot page this cache's edition wrote:
    its key, size and mtime; a page whose key and file are as noted is neither rendered nor read.

    Each section keeps its size (UTF-8 bytes), which decides whether the summary is split. Its text
    is kept only for a summary on one page, which includes every section: a split summary's pilot
    pages are themselves what is kept, and a section is rendered only for a page written again.
    At 400 pilots the four files were 15 MB of texts, read on every night (0.05 s) and written on
    every night with a changed pilot; now 0.35 MB, and 0.6 MB more with `rows`.

    `rows` keeps each pilot's row of the summary's national table, by the section's key and the
    row's link (national_rows): the summary pages themselves are rendered every night (their date
    line), and at 400 pilots their 400 rows in four editions were a third of the summaries' CPU.
    """

    def __init__(self, out_dir: Path, lang: str, fmt: str, code: str):
        self.path = Path(out_dir) / SECTIONS_FILE.format(lang=lang, fmt=fmt)
        self.lang, self.fmt, self.code = lang, fmt, code
        self.old: dict[str, list] = {}
        self.new: dict[str, list] = {}  # key -> [since (ISO date), size, text or None]
        self.old_pages: dict[str, list] = {}
        self.pages: dict[str, list] = {}  # page file name -> [page key, size, mtime_ns]
        self.since: dict[str, date] = {}  # pilot_id -> the night its section was first rendered
        self.keys: dict[str, str] = {}  # pilot_id -> its section's key
        self.texts: dict[str, str] = {}  # pilot_id -> its section, where cached or rendered
        self.old_rows: dict[str, str] = {}
        self.rows: dict[str, str] = {}  # row key -> the pilot's row of the national table (national_rows)
        self.rendered = 0
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("code") == code and isinstance(data.get("sections"), dict):
                self.old = data["sections"]
                self.old_pages = data.get("pages") if isinstance(data.get("pages"), dict) else {}
                self.old_rows = data.get("rows") if isinstance(data.get("rows"), dict) else {}
        except (OSError, ValueError):
            pass

    def key(self, pilot_inputs: str, anchor: str) -> str:
        """pilot_inputs: section_inputs()'s digest of the pilot's part of the model."""
        return fingerprint_of(self.code, self.lang, self.fmt, anchor, pilot_inputs)

    def sizes(self, model: SummaryModel, anchors: dict[str, str],
              inputs: dict[str, str] | None = None) -> dict[str, int]:
        """pilot_id -> the size of its section, from the cache or rendered now (only a section
        whose key is new is rendered here). inputs: section_inputs(model), computed once for
        every edition."""
        env = pilot_environment(model, self.lang, self.fmt)
        inputs = inputs or section_inputs(model)
        sizes = {}
        for p in model.pilots:
            key = self.key(inputs[p.pilot_id], anchors[p.pilot_id])
            since, size, text = self._cached(key)
            if since is None:
                text = render_section(model, p, self.lang, self.fmt, anchors, env)
                since, size = model.as_of, len(text.encode("utf-8"))
                self.rendered += 1
            self.new[key] = [since.isoformat(), size, text]
            self.since[p.pilot_id], self.keys[p.pilot_id] = since, key
            if text is not None:
                self.texts[p.pilot_id] = text
            sizes[p.pilot_id] = size
        return sizes

    def section(self, model: SummaryModel, p: PilotSection, anchors: dict[str, str]) -> str:
        """The pilot's section (as Markup or MdSafe: already escaped): kept or rendered above, else
        rendered now (a section whose text was not kept; sizes() first)."""
        text = self.texts.get(p.pilot_id)
        if text is None:
            text = render_section(model, p, self.lang, self.fmt, anchors, pilot_environment(model, self.lang, self.fmt))
            self.texts[p.pilot_id] = text
            self.new[self.keys[p.pilot_id]][2] = text
            self.rendered += 1
        return (Markup if self.fmt == "html" else MdSafe)(text)

    def national_rows(self, model: SummaryModel, anchors: dict[str, str],
                      pilot_pages: dict[str, str] | None) -> dict[str, str]:
        """pilot_id -> its row of the summary's national table (_national_row.<fmt>.j2), kept where
        its key is (sizes() first). A row shows the pilot's part of the model and its link, nothing
        else: its key is the section's (code, edition, anchor, the pilot's inputs) and the link.
        At 400 pilots the rows were most of the summary pages' rendering, every night (0.04 s)."""
        module = None
        rows = {}
        for p in model.pilots:
            key = fingerprint_of(self.keys[p.pilot_id], "row", (pilot_pages or {}).get(p.pilot_id, ""))
            text = self.old_rows.get(key)
            if not isinstance(text, str):
                if module is None:
                    module = pilot_environment(model, self.lang, self.fmt).get_template(
                        f"_national_row.{self.fmt}.j2").make_module({"m": model, "pilot_pages": pilot_pages,
                                                                     "anchors": anchors})
                text = str(module.row(p))
            self.rows[key] = text
            rows[p.pilot_id] = (Markup if self.fmt == "html" else MdSafe)(text)
        return rows

    def _cached(self, key: str) -> tuple[date | None, int | None, str | None]:
        entry = self.old.get(key)
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[1], int)
                and isinstance(entry[2], (str, type(None)))):
            return None, None, None
        try:
            return date.fromisoformat(entry[0]), entry[1], entry[2]
        except (TypeError, ValueError):
            return None, None, None

    def page_kept(self, name: str, path: Path, page_key: str) -> bool:
        """The pilot page was written with this key and is still that file (size, mtime)."""
        noted = self.old_pages.get(name)
        try:
            st = path.stat()
            kept = isinstance(noted, list) and noted == [page_key, st.st_size, st.st_mtime_ns]
        except OSError:
            return False
        if kept:
            self.pages[name] = noted
        return kept

    def page_written(self, name: str, path: Path, page_key: str) -> None:
        st = path.stat()
        self.pages[name] = [page_key, st.st_size, st.st_mtime_ns]

    def save(self, with_texts: bool) -> None:
        """Written only when a section or a page changed: a quiet night leaves it as it is.
        with_texts: the summary is on one page (its sections' texts are kept for the next night)."""
        sections = {key: [since, size, text if with_texts else None] for key, (since, size, text) in self.new.items()}
        if sections == self.old and self.pages == self.old_pages and self.rows == self.old_rows:
            return
        text = json.dumps({"code": self.code, "sections": sections, "pages": self.pages, "rows": self.rows},
                          ensure_ascii=False)
        write_atomically(self.path, text.encode("utf-8"), self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp"))


def section_inputs(model: SummaryModel) -> dict[str, str]:
    """pilot_id -> SHA-256 of what its section shows: its PilotSection (every field, nested rows
    included, by their repr) and the registry's strategy names."""
    strategies = repr(sorted(model.strategy_names.items()))
    return {p.pilot_id: fingerprint_of(strategies, repr(p)) for p in model.pilots}


def fingerprint_of(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8") + b"\x00")
    return h.hexdigest()


def pilot_environment(model: SummaryModel, lang: str, fmt: str) -> Environment:
    return _environment(lang, fmt == "html", model.strategy_names)


RENDERERS = {"md": render_markdown, "html": render_html}


def write_summaries(model: SummaryModel, out_dir: Path, langs: tuple[str, ...] = LANGS,
                    formats: tuple[str, ...] = FORMATS, validation_link: str | None = None,
                    max_page_bytes: int | None = None, reuse_sections: bool = False,
                    stats: dict | None = None) -> list[Path]:
    """Write summary.<lang>.<fmt> for each language and format; return the paths written.

    validation_link names the validation report (in out_dir) of the job whose figures these are.
    When any single page would pass max_page_bytes (default pages.MAX_PAGE_BYTES), each pilot gets
    its own page under out_dir/pilots/ (written first, so no summary links to a page not there yet) and the summary
    pages link to them. Pilot pages this call did not write (a pilot gone from the registry, or a
    summary no longer split) are removed; other files there are left alone. Only the summary pages
    are returned: they link to everything else.

    reuse_sections: each pilot's section comes from the SectionCache in out_dir where its inputs
    did not change, and the cache is kept there (the nightly job: flows/cheap.py). False (a one-off
    `pilotkpi report`): every section rendered, nothing cached; the pages are the same bytes.
    stats, if given, gets {"sections": sections in all editions, "rendered": those rendered now}.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    editions = [(lang, fmt) for lang in langs for fmt in formats]
    names = pages.page_names(model)
    caches = {}
    if reuse_sections:
        code = steps.code_digest(steps.OUTPUTS["summaries"])
        caches = {(lang, fmt): SectionCache(out_dir, lang, fmt, code) for lang, fmt in editions}
    inputs = section_inputs(model) if caches else {}
    sizes = {edition: cache.sizes(model, names, inputs) for edition, cache in caches.items()}
    pilots_dir = out_dir / pages.PILOTS_DIR
    kept: set[str] = set()
    limit = pages.MAX_PAGE_BYTES if max_page_bytes is None else max_page_bytes
    # A page holds every section of its edition: sections already over the limit split it without
    # rendering the single page first (at 400 pilots, two 6 MB pages rendered for nothing).
    split = any(sum(s.values()) > limit for s in sizes.values())
    sections = {} if split else {edition: {p.pilot_id: cache.section(model, p, names) for p in model.pilots}
                                 for edition, cache in caches.items()}
    texts = {} if split else {
        (lang, fmt): RENDERERS[fmt](model, lang, validation_link=validation_link, sections=sections.get((lang, fmt)),
                                    rows=caches[(lang, fmt)].national_rows(model, names, None) if caches else None)
        for lang, fmt in editions}
    split = split or pages.too_big(list(texts.values()), limit)
    if split:
        pilots_dir.mkdir(exist_ok=True)
        back = f"../{validation_link}" if validation_link else None
        for lang, fmt in editions:
            env = pilot_environment(model, lang, fmt)
            cache = caches.get((lang, fmt))
            for p in model.pilots:
                name, link = f"{names[p.pilot_id]}.{lang}.{fmt}", f"../summary.{lang}.{fmt}"
                kept.add(name)
                if cache is None:
                    _write(pilots_dir / name, render_pilot_page(model, p, lang, fmt, summary_link=link,
                                                                validation_link=back, anchors=names, env=env))
                    continue
                since = cache.since[p.pilot_id]
                page_key = fingerprint_of(cache.keys[p.pilot_id], since.isoformat(), link, back or "")
                if cache.page_kept(name, pilots_dir / name, page_key):
                    continue
                _write(pilots_dir / name, render_pilot_page(model, p, lang, fmt, summary_link=link, validation_link=back,
                                                            anchors=names, env=env, section=cache.section(model, p, names),
                                                            dated=since))
                cache.page_written(name, pilots_dir / name, page_key)
            links = {p.pilot_id: f"{pages.PILOTS_DIR}/{names[p.pilot_id]}.{lang}.{fmt}" for p in model.pilots}
            texts[(lang, fmt)] = RENDERERS[fmt](model, lang, validation_link=validation_link, pilot_pages=links,
                                                rows=cache.national_rows(model, names, links) if cache else None)
    written = []
    for cache in caches.values():
        cache.save(with_texts=not split)
    rendered = sum(c.rendered for c in caches.values())
    if caches:
        LOGGER.info("summaries: %d of %d pilot sections rendered, the others unchanged", rendered,
                    len(model.pilots) * len(caches))
    if stats is not None:
        stats.update(sections=len(model.pilots) * len(editions),
                     rendered=rendered if caches else len(model.pilots) * len(editions))
    for lang, fmt in editions:
        path = out_dir / f"summary.{lang}.{fmt}"
        _write(path, texts[(lang, fmt)])
        written.append(path)
    _remove_stale_pages(pilots_dir, kept, langs, formats)
    return written


def _write(path: Path, text: str) -> None:
    write_if_changed(path, text)  # atomic; a page whose bytes did not change is left as it is


def _remove_stale_pages(pilots_dir: Path, kept: set[str], langs: tuple[str, ...], formats: tuple[str, ...]) -> None:
    """Pilot pages of the editions just written that this run did not write; the folder too if empty."""
    if not pilots_dir.is_dir():
        return
    for path in pilots_dir.iterdir():
        match = pages.PAGE_SUFFIX.search(path.name)
        if (match and match[1] in langs and match[2] in formats and path.name not in kept
                and path.is_file() and not path.is_symlink()):
            path.unlink()
    if not any(pilots_dir.iterdir()):
        pilots_dir.rmdir()
