"""The committee's and everyone's pilot pages: the overview of every pilot (filterable) and one
page per pilot, read live from the published copy.

The figures are the committee summary's: its model (kpis/summary/model.py `build_model`, the
same queries of the marts) is built once per published copy and kept until a new copy is
published (the copy's inode and mtime change: warehouse/publish.py replaces it by rename). At 400
pilots building it costs about a second; answering a page from it costs a few milliseconds, so a
page reads only the pilots it shows from memory, and the first request after a publish pays the
build (one request at a time: the others wait for it rather than building it again).

What each account sees (web.md):
- an agency: the pilots it takes part in (any role in registry.pilot_agencies), others answer
  404 exactly like a pilot that does not exist;
- analysts and the committee: every pilot.
- A restricted pilot shows what the open side holds (warehouse.md: name, status, composite and
  its trend, closed quarters, held files' agency and dates, and reporting compliance, which the
  summary leaves out of its restricted sections but web.md lists) to everyone who may see the
  pilot; its line-level figures (KPI table, budget, outlier flags, held files' names) only to an
  analyst or committee account marked `restricted: true`, read from the restricted store's own
  marts with the same model code.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kpis.summary import charts, labels
from kpis.summary import model as summary_model
from kpis.summary.model import STATUSES, ComplianceRow, PilotSection
from kpis.summary.pages import fmt_change, late_agencies, trend_change
from kpis.summary.render import BUDGET_FIELDS
from web.app import Page, route
from web.labels import WORDS, add_words
from web.tables import Table, download_response, wanted

add_words(
    th={
        "committee_pilots": "โครงการนำร่อง", "committee_filter": "กรองรายการ", "committee_all": "ทั้งหมด",
        "committee_apply": "แสดง", "committee_clear": "ล้างตัวกรอง",
        "committee_shown": "แสดง {n} จาก {total} โครงการ", "committee_none_shown": "ไม่มีโครงการตรงกับตัวกรอง",
        "committee_trend": "แนวโน้ม", "committee_restricted": "ชั้นความลับ",
        "committee_restricted_note": "โครงการชั้นความลับ: แสดงเฉพาะข้อมูลที่เปิดเผยได้ (ชื่อ สถานะ คะแนนรวม และการส่งรายงาน) ตัวเลขรายบรรทัดดูได้เฉพาะบัญชีที่ได้รับอนุญาต",
        "committee_cleared_note": "โครงการชั้นความลับ: บัญชีนี้ได้รับอนุญาตให้ดูตัวเลขรายบรรทัดจากคลังข้อมูลที่แยกไว้",
        "committee_explain": "ดูที่มาของคะแนน", "committee_compliance": "การส่งรายงาน: หน่วยงานที่ส่งช้าหรือไม่ส่ง",
        "committee_trend_table": "คะแนนรวมรายงวด", "committee_no_pilot": "ยังไม่มีข้อมูลโครงการในสำเนาที่เผยแพร่",
        "committee_direction": "ทิศทาง", "committee_name": "ชื่อ", "committee_held_link": "พิจารณา",
        "committee_submitted": "ส่งแล้ว", "committee_restricted_store": "อ่านจากคลังข้อมูลชั้นความลับ",
    },
    en={
        "committee_pilots": "Pilots", "committee_filter": "Filter", "committee_all": "all",
        "committee_apply": "Show", "committee_clear": "Clear the filters",
        "committee_shown": "{n} of {total} pilots shown", "committee_none_shown": "No pilot matches the filters.",
        "committee_trend": "Trend", "committee_restricted": "restricted",
        "committee_restricted_note": "Restricted pilot: only what the open side shows (name, status, composite and reporting compliance). Line-level figures are for cleared accounts only.",
        "committee_cleared_note": "Restricted pilot: this account is cleared to see its line-level figures, read from the restricted store.",
        "committee_explain": "how this score is computed", "committee_compliance": "Reporting compliance: agencies late or missing",
        "committee_trend_table": "Composite by period", "committee_no_pilot": "The published copy holds no pilot yet.",
        "committee_direction": "Direction", "committee_name": "Name", "committee_held_link": "decide",
        "committee_submitted": "submitted", "committee_restricted_store": "read from the restricted store",
    },
)

# Restricted pilots' late or missing reports: marts.reporting_compliance is one of the relations the
# open side may show of them (warehouse/open_side.py OPEN_RELATIONS; web.md: "name, status and
# compliance"). The summary's section of a restricted pilot carries them, as every section does
# (kpis/summary/model.py), so the pages take them from the section.


@dataclass
class Book:
    """Every pilot's figures of one published copy (and, for cleared accounts, of one restricted store)."""
    key: tuple
    sections: dict[str, PilotSection]  # pilot_id -> the summary's section, in the summary's order
    strategy_names: dict[int, dict[str, str]]
    participants: dict[str, set[str]]  # pilot_id -> the agency codes taking part (any role)
    leads: dict[str, str] | None = None  # pilot_id -> its lead agency's code (who may open its score pages)


def _grouped_rows(cur, sql: str) -> dict[str, list[dict]]:
    res = cur.execute(sql)
    names = [d[0] for d in res.description]
    out: dict[str, list[dict]] = {}
    for row in res.fetchall():
        r = dict(zip(names, row))
        out.setdefault(r.pop("pilot_id"), []).append(r)
    return out


def build_open_book(cur, key: tuple, as_of: date) -> Book:
    model = summary_model.build_model(cur, as_of)
    participants = {pid: {r["agency_code"] for r in rows} for pid, rows in
                    _grouped_rows(cur, "SELECT pilot_id, agency_code FROM registry.pilot_agencies").items()}
    leads = dict(cur.execute("SELECT pilot_id, lead_agency_code FROM registry.pilots").fetchall())
    return Book(key, {p.pilot_id: p for p in model.pilots}, model.strategy_names, participants, leads)


def build_cleared_sections(cur, as_of: date) -> dict[str, PilotSection]:
    """The restricted store's pilots with their line-level figures, built by the summary's own
    section code on the restricted store's marts (which hold them, warehouse.md)."""
    return {s.pilot_id: s for s in summary_model.sections_in_full(cur, as_of)}


class Books:
    """The books of the site's stores, rebuilt when a store's copy changes (see the module's doc)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: Book | None = None
        self._cleared: tuple[tuple, dict[str, PilotSection]] | None = None

    def open(self, site) -> Book | None:
        as_of = site.as_of()
        with site.data.published.keyed_cursor() as (cur, key):
            if cur is None:
                return None
            with self._lock:
                if self._open is None or self._open.key != (key, as_of):
                    self._open = build_open_book(cur, (key, as_of), as_of)
                return self._open

    def cleared(self, site) -> dict[str, PilotSection]:
        as_of = site.as_of()
        with site.data.restricted.keyed_cursor() as (cur, key):
            if cur is None:
                return {}
            with self._lock:
                if self._cleared is None or self._cleared[0] != (key, as_of):
                    self._cleared = ((key, as_of), build_cleared_sections(cur, as_of))
                return self._cleared[1]


_SITE_BOOKS = threading.Lock()


def _books(site) -> Books:
    """The site's books, made at the first pilot page (one per site, kept on it)."""
    with _SITE_BOOKS:
        if getattr(site, "committee_books", None) is None:
            site.committee_books = Books()
        return site.committee_books


def _cleared(page: Page) -> bool:
    return page.account.cleared


def _visible(page: Page, book: Book, pilot_id: str) -> bool:
    if page.account.role != "agency":
        return True
    return bool(book.participants.get(pilot_id, set()) & set(page.account.agencies))


def sparkline(p: PilotSection, lang: str) -> Markup:
    """The composites of every due period as a small line on the 1-5 scale, the last point in its
    status colour (SVG presentation attributes only: the CSP allows no inline style)."""
    points = [(i, v) for i, (_, v, _) in enumerate(p.trend) if v is not None]
    if not points:
        return Markup("–")
    width, height, pad = 120, 28, 3
    n = max(len(p.trend) - 1, 1)

    def xy(i: int, v: Decimal) -> str:
        return f"{pad + (width - 2 * pad) * i / n:.1f},{pad + (height - 2 * pad) * (5 - float(v)) / 4:.1f}"

    title = "; ".join(f"{labels.fmt_period_short(per, lang)} {labels.fmt_score(v)}" for per, v, _ in p.trend)
    last_i, last_v = points[-1]
    last_status = p.trend[last_i][2]
    x, y = xy(last_i, last_v).split(",")
    body = (f'<line x1="{pad}" x2="{width - pad}" y1="{height / 2:.1f}" y2="{height / 2:.1f}" stroke="#d0d7de" stroke-width="1"/>'
            f'<polyline points="{" ".join(xy(i, v) for i, v in points)}" fill="none" stroke="#24292f" stroke-width="1.5"/>'
            f'<circle cx="{x}" cy="{y}" r="3" fill="{charts.STATUS_COLOURS.get(last_status, "#8c959f")}"/>')
    return Markup(f'<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" role="img" aria-label="{Markup.escape(title)}">'
                  f'<title>{Markup.escape(title)}</title>{body}</svg>')


def _formats(lang: str, book: Book) -> dict:
    """The summary's formatters and words, bound to the page's language."""
    return {
        "L": labels.LABELS[lang],
        "score": labels.fmt_score, "money": lambda v: labels.fmt_money(v, lang), "ratio": labels.fmt_ratio,
        "number": labels.fmt_number, "raw": labels.raw_value,
        "quantity": lambda v, unit: labels.fmt_quantity(v, unit, lang),
        "quantities": lambda values, unit: " / ".join(labels.fmt_quantity(v, unit, lang) for v in values),
        "unit": lambda u: labels.UNITS.get(u, {}).get(lang, u),
        "status_text": lambda s: labels.status_text(s, lang),
        "layer_name": lambda n: labels.layer_name(n, lang),
        "strategy_name": lambda n: labels.strategy_name(n, book.strategy_names, lang),
        "name": lambda obj: getattr(obj, f"name_{lang}"),
        "change": lambda p: fmt_change(trend_change(p)),
        "format_as": lambda v, kind: {"money": lambda x: labels.fmt_money(x, lang), "ratio": labels.fmt_ratio,
                                      "number": labels.fmt_number}[kind](v),
    }


# --- the overview ---------------------------------------------------------------------------------

@dataclass
class Filters:
    layer: int | None = None
    strategy: int | None = None
    status: str | None = None

    @classmethod
    def of(cls, query) -> Filters:
        """The form's values; one that is not a number or a known status is no filter (the form's
        "all"), so a hand-edited address shows every pilot rather than an error."""
        def number(name: str) -> int | None:
            value = query.get(name, "")
            return int(value) if value.isdecimal() and len(value) < 6 else None  # "²": no filter

        status = query.get("status")
        return cls(number("layer"), number("strategy"), status if status in STATUSES else None)

    def keep(self, p: PilotSection) -> bool:
        return ((self.layer is None or p.layer == self.layer)
                and (self.strategy is None or self.strategy in p.strategies)
                and (self.status is None or p.status == self.status))

    @property
    def any(self) -> bool:
        return self.layer is not None or self.strategy is not None or self.status is not None


def _overview_table(shown: list[PilotSection], lang: str) -> Table:
    L, W = labels.LABELS[lang], WORDS[lang]
    columns = ["pilot_id", "name", "layer", "strategies", "restricted", "period", "status", "composite_score",
               "change", "kpis_reported", "kpis_expected", "late_agencies"]
    headers = ["pilot_id", W["committee_name"], L["layer"], L["strategy"], W["committee_restricted"], L["period"],
               L["status"], L["composite"], L["change"], L["kpis_reported"], "kpis_expected", L["late_agencies"]]
    rows = []
    for p in shown:
        late = late_agencies(p)
        rows.append({"pilot_id": p.pilot_id, "name": getattr(p, f"name_{lang}"), "layer": p.layer,
                     "strategies": ", ".join(str(s) for s in p.strategies), "restricted": p.restricted,
                     "period": p.period, "status": p.status, "composite_score": p.composite,
                     "change": trend_change(p), "kpis_reported": p.kpis_reported, "kpis_expected": p.kpis_expected,
                     "late_agencies": None if late is None else ", ".join(late)})
    return Table("pilots", columns, rows, headers)


@route("agency", "analyst", "committee")
async def pilots(request: Request, page: Page) -> Response:
    book = await run_in_threadpool(_books(page.site).open, page.site)
    visible = [p for p in book.sections.values() if _visible(page, book, p.pilot_id)] if book else []
    filters = Filters.of(request.query_params)
    shown = [p for p in visible if filters.keep(p)]
    table = _overview_table(shown, page.lang) if book else Table("pilots", [])
    asked = wanted(request.query_params, [table])
    if asked:
        return page.finish(download_response(*asked))
    strategies = sorted({s for p in visible for s in p.strategies} | set(book.strategy_names if book else ()))
    return page.render("pilots.html", shown=shown, total=len(visible), filters=filters, table=table,
                       layers=sorted({p.layer for p in visible} | set(labels.LAYERS)), strategies=strategies,
                       statuses=STATUSES, late=late_agencies, spark=lambda p: sparkline(p, page.lang),
                       **_formats(page.lang, book or Book((), {}, {}, {})))


# --- one pilot --------------------------------------------------------------------------------------

def _pilot_tables(p: PilotSection, line_level: bool, late: list[ComplianceRow], lang: str) -> dict[str, Table]:
    """The page's tables as downloads: the same rows and raw values the page shows."""
    L, W = labels.LABELS[lang], WORDS[lang]
    tables = {
        "trend": Table("trend", ["period", "composite_score", "status"],
                       [{"period": per, "composite_score": v, "status": s} for per, v, s in p.trend],
                       [L["period"], L["composite"], L["status"]]),
        "compliance": Table("compliance", ["period", "agency_code", "agency", "role", "due_date", "submitted",
                                           "first_submitted_on", "days_late"],
                            [{"period": c.period, "agency_code": c.agency_code, "agency": getattr(c, f"name_{lang}"),
                              "role": c.role, "due_date": c.due_date, "submitted": c.submitted,
                              "first_submitted_on": c.first_submitted_on, "days_late": c.days_late} for c in late],
                            [L["period"], "agency_code", L["agency"], L["role"], L["due"], W["committee_submitted"],
                             L["submitted_on"], L["days_late"]]),
        "closed-quarters": Table("closed-quarters", ["period", "closed_at", "closed_by", "composite_at_closing",
                                                     "composite", "changed_since_closing"],
                                 [vars(c) for c in p.closures],
                                 [L["period"], L["closed_on"], L["closed_by"], L["composite_at_closing"],
                                  L["composite_now"], L["changed_since_closing"]], bangkok_times=True),
    }
    if not line_level:
        return tables
    tables["kpis"] = Table(
        "kpis", ["period", "kpi_code", "name", "weight", "unit", "direction", "aggregation", "actual",
                 "t1", "t2", "t3", "t4", "t5", "score", "status"],
        [{"period": p.period, "kpi_code": k.kpi_code, "name": getattr(k, f"name_{lang}"), "weight": k.weight,
          "unit": k.unit, "direction": k.direction, "aggregation": k.aggregation, "actual": k.actual,
          **{f"t{i + 1}": t for i, t in enumerate(k.thresholds)}, "score": k.score, "status": k.status}
         for k in p.kpis],
        [L["period"], "kpi_code", L["kpi"], L["weight"], L["unit"], W["committee_direction"], "aggregation",
         L["actual"], "t1", "t2", "t3", "t4", "t5", L["score"], L["status"]])
    budget = p.budget or {}
    tables["budget"] = Table(
        "budget", ["period", *(column for _, column, _ in BUDGET_FIELDS), "agencies_reporting", "agencies_expected"],
        [{"period": p.period, **{c: budget.get(c) for _, c, _ in BUDGET_FIELDS},
          "agencies_reporting": budget.get("agencies_reporting"), "agencies_expected": budget.get("agencies_expected")}]
        if p.budget else [],
        [L["period"], *(L[label] for label, _, _ in BUDGET_FIELDS), L["agencies_reporting"], "agencies_expected"])
    tables["flags"] = Table(
        "flags", ["kpi_code", "period", "actual", "history_median", "modified_z", "rule"],
        [vars(f) for f in p.to_confirm],
        [L["kpi"], L["period"], L["actual"], L["history_median"], L["modified_z"], L["rule"]])
    return tables


def _held_names(page: Page, p: PilotSection) -> dict[int, str]:
    """The names as sent of an open pilot's held files that came through the site (submission id ->
    name), so that the page names them as /submissions and /held do; a restricted pilot's files
    are known by their inbox name everywhere (web/agency.py `send`)."""
    if p.restricted or not p.held:
        return {}
    ids = [h.submission_id for h in p.held]
    sends = page.site.data.sends_by_sha()
    rows = page.site.data.published.rows("SELECT submission_id, sha256 FROM ingest.submissions WHERE submission_id IN "
                                         f"({', '.join('?' * len(ids))})", ids)
    return {r["submission_id"]: sends[r["sha256"]]["file_name"] for r in rows if r["sha256"] in sends}


def _find(page: Page, book: Book | None, pilot_id: str) -> tuple[PilotSection, bool] | None:
    """(section, line-level shown) of a pilot the account may see, else None. Every section holds
    its pilot's compliance rows, a restricted pilot's too (who reported when: warehouse.md)."""
    if book is None or pilot_id not in book.sections or not _visible(page, book, pilot_id):
        return None
    p = book.sections[pilot_id]
    if not p.restricted:
        return p, True
    if _cleared(page):
        full = _books(page.site).cleared(page.site).get(pilot_id)
        if full is not None:
            return full, True
    return p, False


@route("agency", "analyst", "committee")
async def pilot(request: Request, page: Page) -> Response:
    site = page.site
    book = await run_in_threadpool(_books(site).open, site)
    found = await run_in_threadpool(_find, page, book, request.path_params["pilot_id"])
    if found is None:
        return page.error(404, "not_found")
    p, line_level = found
    late = p.late_or_missing
    tables = _pilot_tables(p, line_level, late, page.lang)
    asked = wanted(request.query_params, list(tables.values()))
    if asked:
        return page.finish(download_response(*asked))
    L = labels.LABELS[page.lang]
    trend = Markup(charts.trend_chart([(labels.fmt_period_short(per, page.lang), v, s) for per, v, s in p.trend],
                                      f"{L['trend']} {p.pilot_id}")) if p.trend else None
    budget_chart = Markup(charts.stacked_bars(
        [(labels.fmt_period(p.period, page.lang), p.budget["integrated_thb"], p.budget["total_allocated_thb"])],
        f"{L['integrated_vs_total']} {p.pilot_id}", (L["integrated"], L["fragmented"]))) if line_level and p.budget else None
    # A score links to its page only where that page would open (web/drilldown.py `may_see_score`:
    # an agency that is not the pilot's lead is refused it), else it is shown as text: no dead link.
    from web.drilldown import may_see_score

    score_links = may_see_score(page, {"classification": "restricted" if p.restricted else "open",
                                       "lead_agency_code": (book.leads or {}).get(p.pilot_id)})
    held_names = await run_in_threadpool(_held_names, page, p) if line_level and page.account.role != "agency" else {}
    return page.render("pilot.html", p=p, line_level=line_level, late=late, tables=tables, trend_chart=trend,
                       score_links=score_links, held_names=held_names,
                       budget_chart=budget_chart, budget_fields=BUDGET_FIELDS,
                       quarter=labels.quarter_of,
                       **_formats(page.lang, book))


ROUTES: list = [
    Route("/pilots", pilots, methods=["GET"]),
    Route("/pilots/{pilot_id}", pilot, methods=["GET"]),
]
