"""The `pilotkpi` command line."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from flows import program  # first: its exit handler must run after every other one

import click

from flows.settings import apply_defaults
from warehouse.testpoints import pause_point

apply_defaults()

STATUS_ORDER = ("on_target", "at_risk", "off_track", "no_data")


from flows.cli_common import (  # noqa: E402
    EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_QUARANTINED, EXIT_REGISTRY, RefusingGroup, _as_of, check_registry,
    after_the_commit, commit_mark, files_line, library_warnings_to_log, printable,
    registry_refusal, registry_refusal_document, release, report_unfinished)

library_warnings_to_log()


@click.group(cls=RefusingGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """pilotkpi: ingest agencies' quarterly reports, score the pilots, write the committee summary."""


@main.command()
@click.option("--registry", "registry_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Registry folder (agencies.yaml, pilots/*.yaml).")
@click.option("--inbox", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of received report files.")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB warehouse file (created if missing).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the committee summaries.")
@click.option("--as-of", "as_of", default=None, help="The day the run is about (YYYY-MM-DD); default today in Bangkok.")
@click.option("--batch-size", default=750, show_default=True,  # pilots.ingest.DEFAULT_BATCH_SIZE
              help="Files read and validated together (one Great Expectations run).")
@click.option("--wait", is_flag=True, help="If another run holds the warehouse, wait for it instead of exiting 3.")
@click.option("--settle-seconds", type=float, default=None,
              help="Leave files whose size or mtime changes within this time for the next run "
                   "(default 5, or PILOTKPI_SETTLE_SECONDS).")
@click.option("--restricted-store", "restricted_store", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Restricted pilots' store (default: beside the warehouse, <name>.restricted.duckdb).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Read the files on a local Dask cluster of this many processes while this one validates "
                   "and writes; 0: all in this process. Default: one reading process when the inbox has "
                   "2,000 new files or more (PILOTKPI_DASK_MIN_FILES) and the machine two CPUs.")
@click.option("--dask-address", default=None, metavar="tcp://HOST:8786",
              help="Read the files on this existing Dask cluster.")
def run(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path, as_of: str | None, batch_size: int,
        wait: bool, settle_seconds: float | None, restricted_store: Path | None, workers: int | None,
        dask_address: str | None) -> None:
    """Run the nightly job once on the ephemeral Prefect server (from cron, or by hand)."""
    if workers is not None and dask_address:
        raise click.UsageError("give --workers (a local cluster) or --dask-address (an existing one), not both")
    from flows.settings import DaskSettingError, min_files

    try:  # the default reader's threshold, checked before the job starts (flows/parallel.py)
        min_files()
    except DaskSettingError as exc:
        raise click.UsageError(str(exc)) from None
    program.after_this_command()
    sys.exit(_run(registry_dir, inbox, warehouse_path, out_dir, _as_of(as_of), batch_size, wait, settle_seconds,
                  restricted_store, workers, dask_address))


def _run(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path, as_of: date | None,
         batch_size: int = 750, wait: bool = False, settle_seconds: float | None = None,
         restricted_store: Path | None = None, workers: int | None = None, dask_address: str | None = None) -> int:
    from warehouse.lock import RunLocked, run_lock

    def stale(message: str) -> None:
        click.echo(f"pilotkpi: {message}", err=True)

    mark = commit_mark()  # the runs this call commits are those after it (flows/commits.py)
    try:
        with run_lock(warehouse_path, wait=wait, on_stale=stale):
            from flows.ephemeral import launch_server

            # Prefect's temporary server boots in its own process (seconds) while this one checks
            # its inputs and imports the job (Prefect itself among it); `server_start` is only what
            # is then left to wait. Launched once the lock is held (a locked run starts none), before
            # any other import of the job (they took 0.2-0.7 s at 400 pilots: the server's launch
            # waited for them) and before the checks: the server's process imports its code
            # meanwhile and serves only once they passed (flows/ephemeral.py, SERVE_GATE), so a
            # refused run starts no server, and the good path does not wait for the checks.
            server = launch_server()  # tied to this process: a killed or refused run leaves no server behind
            try:  # a failure at the pause point (PILOTKPI_FAIL_AT=checks) abandons the server too
                pause_point("checks")  # tests/test_refused_run_server.py: the server launched, not serving
                registry = _checked(warehouse_path, restricted_store, registry_dir, inbox, out_dir)
            except BaseException:
                if server is not None:
                    server.abandon()  # before it ever served: no Prefect server for a refused run
                pause_point("refused")  # tests/test_refused_run_server.py looks for the server's process here
                raise
            if server is not None:
                server.serve()
            with program.imports_kept():  # out of the garbage collector's walks (flows/program.py)
                from flows import early
                from flows.ephemeral import import_run_engine
                from flows.nightly import nightly, nightly_settings
                from warehouse.stages import stage

                import_run_engine()  # before early.start: no two threads import at once (flows/early.py)
            try:  # GE's build, then the Dask cluster and its read-ahead, while the server starts (flows/early.py)
                early.start(inbox, registry, workers, dask_address, batch_size)
                with stage("server_start"):
                    ours = server is not None and server.ready() is not None
                with nightly_settings(temporary_server=ours):
                    result = nightly(registry_dir, inbox, warehouse_path, out_dir, as_of, batch_size, wait,
                                     settle_seconds, restricted_store, workers, dask_address)
            finally:
                early.close()
    except RunLocked as exc:
        click.echo(f"pilotkpi: the run did not start: {exc}", err=True)
        return EXIT_LOCKED
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the operator needs the reason, and a non-zero exit
        code = after_the_commit(mark, exc, warehouse_path, out_dir, inbox, restricted_store)  # committed, or a Ctrl-C (verifier VC)
        return code if code is not None else _refused_or_failed(exc)
    files = files_line(result.counts)
    click.echo(f"run {result.run_id} as of {result.as_of.isoformat()}")
    click.echo(files)
    if result.pilots_by_status is not None:
        statuses = ", ".join(f"{s} {result.pilots_by_status.get(s, 0)}" for s in STATUS_ORDER)
        click.echo(f"pilots by status: {statuses}")
    if result.skipped_unsettled:
        click.echo(f"left for the next run, still being written: {printable(', '.join(result.skipped_unsettled))}")
    for issue in result.refused:  # left in the inbox, unread: the operator removes it (or makes it readable)
        click.echo(printable(f"{issue.code}: {issue.message_en}") + "\n  " + printable(issue.message_th))
    if result.filed_earlier:
        click.echo(f"filed away {result.filed_earlier} file(s) that an earlier run recorded but did not move")
    if result.completed:
        click.echo(f"completed the missing steps of earlier run(s): {', '.join(result.completed)}")
    if result.moved:
        click.echo(f"moved {len(result.moved)} file(s) to {inbox / 'processed'} and {inbox / 'quarantine'}")
    from kpis.summary.validation import report_name

    report = out_dir / report_name("run", result.run_id)
    if "validation_report" not in result.failed_steps and report.exists():  # written now, or kept: unchanged
        click.echo(f"validation report: {report}")
    for path in result.summaries:
        click.echo(f"summary: {path}")
    agencies = sum(p.name.endswith(".th.html") for p in result.letters)
    if agencies:  # no line: no report is overdue
        click.echo(f"reminder letters: {agencies} agenc{'y' if agencies == 1 else 'ies'} in {result.letters[-1].parent}")
    if result.published is not None:
        click.echo(f"read-only copy for analysts: {result.published}")
    return report_unfinished(result.failed_steps, f"run {result.run_id}, {files}", warehouse_path, out_dir, inbox,
                             restricted_store)


def _checked(warehouse_path: Path, restricted_store: Path | None, registry_dir: Path, inbox: Path, out_dir: Path):
    """The run's inputs checked before its flow starts: a bad warehouse file or restricted store,
    a store inside the inbox or --out, or a broken registry, is refused here (before the server
    serves); the registry, loaded."""
    from warehouse.db import check_warehouse
    from warehouse.paths import refuse_in_job_folders
    from warehouse.restricted import check_restricted

    refuse_in_job_folders(warehouse_path, restricted_store, inbox, out_dir)  # one file, one role (warehouse.md)
    check_warehouse(warehouse_path)  # a bad file is refused before the flow starts
    check_restricted(warehouse_path, restricted_store)
    return check_registry(registry_dir, warehouse_path)  # a broken registry is refused before the flow starts


def _refused_or_failed(exc: Exception) -> int:
    """The exit code of a run that did not commit (or whose COMMIT could not be read back:
    CommitUnknown), its reason said on stderr."""
    from pilots.registry import RegistryError
    from warehouse.errors import CommitUnknown, WarehouseRefused

    if isinstance(exc, RegistryError):
        click.echo(registry_refusal(exc), err=True)
        release(exc)
        return EXIT_REGISTRY
    if isinstance(exc, WarehouseRefused):
        click.echo(f"pilotkpi: {exc}", err=True)
        release(exc)  # refused inside the job (store_identity.StoreRefused): its frames hold the connection
        return EXIT_FAILED
    if isinstance(exc, CommitUnknown):  # its COMMIT raised, and whether it was kept is not known yet
        click.echo(f"pilotkpi: the run failed: {printable(str(exc))}", err=True)
        release(exc)
        return EXIT_FAILED
    # Else true: the flow returns normally once its transaction committed (failed steps after the
    # commit are in result.failed_steps), so an exception here means nothing was committed.
    click.echo(f"pilotkpi: the run failed and the warehouse is unchanged: {printable(f'{type(exc).__name__}: {exc}')}",
               err=True)
    release(exc)
    return EXIT_FAILED


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--registry", "registry_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Registry folder (agencies.yaml, pilots/*.yaml).")
@click.option("--as-of", "as_of", default=None, help="Judge dates as of this day (YYYY-MM-DD); default today in Bangkok.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(files: tuple[Path, ...], registry_dir: Path, as_of: str | None, fmt: str) -> None:
    """Check report FILES before sending them: every defect and warning, in Thai and English.

    Exits 6 if any file would be quarantined. Uses the same code as the nightly run.
    """
    import json

    from flows.clock import today_in_bangkok
    from pilots.ingest import check_files
    from pilots.registry import RegistryError, load_registry

    try:
        registry = load_registry(registry_dir)
    except RegistryError as exc:
        if fmt == "json":  # a document on stdout as for any other answer, the same exit code
            click.echo(json.dumps(registry_refusal_document(exc), ensure_ascii=False, indent=2))
        click.echo(registry_refusal(exc), err=True)
        sys.exit(EXIT_REGISTRY)
    day = _as_of(as_of) or today_in_bangkok()
    outcomes = check_files(files, registry, day)
    if fmt == "json":
        click.echo(json.dumps([{
            "file": o.file_name, "sha256": o.sha256, "status": o.status,
            "issues": [{"row": i.row_number, "column": i.column_name, "code": i.code, "severity": i.severity,
                        "message_en": i.message_en, "message_th": i.message_th} for i in o.issues],
        } for o in outcomes], ensure_ascii=False, indent=2))
    else:
        from flows.cli_check import outcome_text

        for o in outcomes:
            click.echo(outcome_text(o))
    sys.exit(EXIT_QUARANTINED if any(o.status == "quarantined" for o in outcomes) else EXIT_OK)


@main.command()
@click.option("--check", "check_only", is_flag=True, help="Fail if the committed docs differ from the code.")
@click.option("--out", "docs_dir", default="docs", type=click.Path(file_okay=False, path_type=Path), show_default=True)
def docs(check_only: bool, docs_dir: Path) -> None:
    """Generate the reference docs (defect catalogue, registry format, warehouse schema, agency format guides)."""
    from pilots.defects import catalogue_markdown
    from pilots.guide import guides
    from pilots.registry_schema import registry_markdown

    generated = {docs_dir / "defects.md": catalogue_markdown(), docs_dir / "warehouse.md": _warehouse_markdown(),
                 docs_dir / "registry.md": registry_markdown()}
    generated.update({docs_dir / name: text for name, text in guides().items()})
    stale = [p for p, text in generated.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if check_only:
        for p in stale:
            click.echo(f"{p} is out of date: run `pilotkpi docs`", err=True)
        sys.exit(EXIT_FAILED if stale else EXIT_OK)
    docs_dir.mkdir(parents=True, exist_ok=True)
    for p, text in generated.items():
        p.write_text(text, encoding="utf-8")
        click.echo(f"wrote {p}")


def _warehouse_markdown() -> str:
    """The schema of a new warehouse with every mart built: the live catalogue, not a hand list."""
    from kpis.build import build_marts
    from warehouse.catalogue import catalogue_markdown
    from warehouse.contract import contract_markdown
    from warehouse.db import connect

    con = connect(":memory:")
    try:
        build_marts(con, date(2006, 8, 15))  # any date: an empty warehouse gives the same schema
        return catalogue_markdown(con) + "\n" + contract_markdown()
    finally:
        con.close()


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default="demo-output")
def demo(folder: Path) -> None:
    """Write a demo registry and inbox into FOLDER and run the nightly job on them."""
    from pilots.demo import write_demo

    paths = write_demo(folder)
    program.after_this_command()
    click.echo(f"demo registry: {paths.registry}\ndemo inbox: {paths.inbox}")
    code = _run(paths.registry, paths.inbox, folder / "warehouse.duckdb", folder / "out", paths.as_of,
                settle_seconds=0)  # the demo wrote its files itself: nothing is being copied in
    from flows.cli_web import DEMO_ACCOUNTS, write_demo_accounts

    secrets_file = write_demo_accounts(folder, folder / "warehouse.duckdb")
    click.echo(f"web accounts: {', '.join(a[0] for a in DEMO_ACCOUNTS)}; their passwords are in {secrets_file}")
    sys.exit(code)


# `pilotkpi --help`: one line per command (click would cut each docstring at its first full stop,
# "(e.g." included). A command without one here keeps its own short_help (tests/test_cli_words.py).
SUMMARIES = {
    "run": "Run the nightly job once: read, score, write summaries.",
    "check": "Check report files before sending them, as a run would.",
    "demo": "Write a demo registry and inbox, and run the job on them.",
    "docs": "Regenerate the reference docs in docs/ from the code.",
    "explain": "Show how one KPI score was reached, from the file rows.",
    "sql": "A read-only SQL shell on the analysts' published copy.",
    "export": "Export registry, core and marts to Parquet, CSV or Excel.",
    "report": "Write the committee summary from the warehouse.",
    "letters": "Write the reminder letters and reminders.csv.",
    "serve": "Serve the nightly job on its schedule (needs a server).",
    "server": "Run the Prefect server in the foreground, for `serve`.",
    "reprocess": "Re-read a quarantined file with today's code, after a fix.",
    "rebuild": "Recompute every mart (new registry or as-of date).",
    "publish": "Publish the analysts' copy, completing committed runs.",
    "close-quarter": "Close a due quarter: its figures change only by decision.",
    "reopen": "Reopen a closed quarter for one pilot.",
    "approve": "Approve a held file under the resubmission rules.",
    "reject": "Reject a held file: nothing else changes.",
    "web": "Serve the agencies' web pages (docs/web.md).",
    "accounts": "Manage the web's accounts: add, set-password, disable, list.",
}


def _register_command_groups() -> None:
    """Commands for each audience live in their own module; they are attached to `main` here."""
    from flows import cli_analyst, cli_approval, cli_maintenance, cli_ops, cli_report, cli_web

    for module in (cli_analyst, cli_report, cli_ops, cli_maintenance, cli_approval, cli_web):
        for command in module.COMMANDS:
            main.add_command(command)
    for name, command in main.commands.items():
        command.short_help = SUMMARIES.get(name, command.short_help)


_register_command_groups()

if __name__ == "__main__":
    main()
