"""The key figures of a run as Markdown for Prefect's UI (a markdown artifact), linking to the HTML."""
from __future__ import annotations

from pathlib import Path

from warehouse.display import md_text, shown
from kpis.summary import labels
from kpis.summary.model import STATUSES, SummaryModel


def _agency(q) -> str:
    return f"{q.agency_name_en} ({q.agency_code})" if q.agency_name_en else shown(q.agency_code, q.raw_agency_code)


def _resolution(q) -> str:
    """The later valid version that replaced a quarantined file, or "not resolved"."""
    r = q.resolved_by
    return f"submission {r.submission_id} ({r.status})" if r else "not resolved"


def artifact_markdown(model: SummaryModel, written: list[Path]) -> str:
    """English key figures (the Prefect UI is an operators' tool) with links to every edition."""
    lines = [f"# pilotkpi summary as of {model.as_of.isoformat()}", "",
             "| status | pilots |", "|---|---:|"]
    lines += [f"| {labels.status_text(s, 'en')} | {model.by_status.get(s, 0)} |" for s in STATUSES]
    lines += ["", "| pilot | period | composite | status |", "|---|---|---:|---|"]
    lines += [f"| {p.pilot_id} | {p.period or '–'} | {labels.fmt_score(p.composite)} | "
              f"{labels.status_text(p.status, 'en')} |" for p in model.pilots]
    # File names and identities are agency text: escaped, and shown as written where unreadable.
    # Restricted pilots' sections carry no files (model.py); skipped here as well, so a restricted
    # file name cannot reach Prefect's database even if a section ever held one.
    quarantined = [(p.pilot_id, q) for p in model.pilots if not p.restricted for q in p.quarantined]
    if quarantined:
        lines += ["", "| pilot | quarantined file | agency | period | resolved by |", "|---|---|---|---|---|"]
        lines += [f"| {p} | {md_text(q.file_name)} | {md_text(_agency(q))} | "
                  f"{md_text(shown(q.period, q.raw_period))} | {_resolution(q)} |" for p, q in quarantined]
    lines += ["", "Full report:"]
    lines += [f"- [{path.name}]({path.resolve().as_uri()})" for path in written if path.suffix == ".html"]
    return "\n".join(lines) + "\n"
