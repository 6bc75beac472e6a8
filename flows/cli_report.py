"""The committee report and reminder-letter commands: HTML and Markdown (and PDF where Chromium is
installed) from the marts, without a run."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click


@click.command()
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The warehouse file, or its published copy (opened read-only either way).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for summary.<lang>.{html,md} (and .pdf).")
@click.option("--lang", "langs", type=click.Choice(["th", "en"]), multiple=True,
              help="Edition(s) to write; both by default.")
@click.option("--as-of", "as_of", default=None, help="The as-of date printed on the report (default: that of the last committed job, whose marts it reads).")
@click.option("--pdf", is_flag=True, help="Also print each edition to PDF with headless Chromium.")
def report(warehouse_path: Path, out_dir: Path, langs: tuple[str, ...], as_of: str | None, pdf: bool) -> None:
    """Write the committee summary from an existing warehouse, without a run.

    Point it at the published copy (`<warehouse>.published.duckdb`) to use it while a nightly run
    is writing.
    """
    from kpis.summary.browser import BrowserMissing, print_pdf

    written = write_summaries_from(warehouse_path, out_dir, langs or ("th", "en"),
                                   date.fromisoformat(as_of) if as_of else None)
    for path in written:
        click.echo(f"wrote {path}")
    if not pdf:
        return
    try:
        for path in written:
            if path.suffix == ".html":
                click.echo(f"wrote {print_pdf(path, path.with_suffix('.pdf'))}")
    except BrowserMissing as exc:
        click.echo(f"pilotkpi report --pdf: {exc}", err=True)
        sys.exit(1)


def write_summaries_from(warehouse_path: Path, out_dir: Path, langs: tuple[str, ...] = ("th", "en"),
                         day: date | None = None) -> list[Path]:
    """The committee summaries as of `day` (default: that of the last committed job), from the marts."""
    from kpis.summary import build_model, write_summaries
    from kpis.summary.validation import report_for
    from warehouse.db import connect

    con = connect(warehouse_path, read_only=True)
    try:
        job = _last_committed_job(con)
        model = build_model(con, day or _as_of_of(job, "give --as-of"))
        # A job that read no file wrote no validation report: the last one that read files did.
        reader = con.execute("SELECT kind, run_id FROM ops.runs WHERE status IN ('succeeded', 'committed_with_errors') "
                             "AND files_seen > 0 ORDER BY started_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    # The link to that report, if it is in --out.
    link = report_for(out_dir, reader[0], reader[1]) if reader else None
    return write_summaries(model, out_dir, langs, validation_link=link)


def write_letters_from(warehouse_path: Path, out_dir: Path) -> list[Path]:
    """OUT/reminders/ as the last committed job would have written it (dated and counted as of it)."""
    from kpis.letters import build_letters, write_letters
    from warehouse.db import connect

    con = connect(warehouse_path, read_only=True)
    try:
        batch = build_letters(con, _as_of_of(_last_committed_job(con), "run `pilotkpi run` first"))
    finally:
        con.close()
    return write_letters(batch, out_dir)


def _last_committed_job(con) -> tuple[str, str, date] | None:
    """(kind, run_id, as_of) of the last job that committed: the marts are its, so its as-of date
    is theirs (a rebuild may have gone back in time). A job that committed but did not finish its
    summaries or letters is exactly what `report` and `letters` complete."""
    return con.execute("SELECT kind, run_id, as_of FROM ops.runs WHERE status IN ('succeeded', 'committed_with_errors') "
                       "ORDER BY started_at DESC LIMIT 1").fetchone()


def _as_of_of(job: tuple[str, str, date] | None, hint: str) -> date:
    if job is None:
        raise click.ClickException(f"the warehouse has no committed run yet: {hint}")
    return job[2]


@click.command()
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The warehouse file, or its published copy (opened read-only either way).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The run's output folder: the letters go to OUT/reminders/, as a run writes them.")
@click.option("--pdf", is_flag=True, help="Also print each letter to PDF with headless Chromium.")
def letters(warehouse_path: Path, out_dir: Path, pdf: bool) -> None:
    """Write the reminder letters and reminders.csv (follow-up.md) from an existing warehouse.

    They are dated and counted as of the last committed job, whose marts they read. Point it at
    the published copy to use it while a nightly run is writing. It waits while the night's
    letters step writes the register (a flock on OUT/reminders). When the register already
    holds letters of a later date (the night wrote today's letters, the published copy is still
    yesterday's), the letters go to OUT/reminders/<as-of date>/ and today's are left as they are.
    """
    from kpis.letters.register import RegisterBusy, RegisterError
    from kpis.letters.render import FOLDER, letter_pdfs
    from kpis.summary.browser import BrowserMissing

    try:
        written = write_letters_from(warehouse_path, out_dir)
    except (RegisterBusy, RegisterError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    if written and written[-1].parent.name != FOLDER:
        click.echo(f"pilotkpi letters: the register holds letters of a later date than {written[-1].parent.name} "
                   f"(this warehouse's as-of date): these were written to {written[-1].parent}, and the later "
                   f"letters in {written[-1].parent.parent} were left as they are", err=True)
    if not pdf:
        return
    try:
        for path in letter_pdfs(written):
            click.echo(f"wrote {path}")
    except BrowserMissing as exc:
        click.echo(f"pilotkpi letters --pdf: {exc}", err=True)
        sys.exit(1)


COMMANDS: list[click.Command] = [report, letters]
