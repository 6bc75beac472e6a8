"""Maintenance commands: reprocess a quarantined file after a fix, rebuild the marts, and publish
(complete what a committed run left undone)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from flows.cli_common import (EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_REGISTRY, _as_of, after_the_commit,
                              check_registry, commit_mark, printable,
                              registry_refusal, release, report_unfinished)

_registry = click.option("--registry", "registry_dir", required=True,
                         type=click.Path(exists=True, file_okay=False, path_type=Path), help="Registry folder.")
_warehouse = click.option("--warehouse", "warehouse_path", required=True,
                          type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The warehouse file.")
_out = click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                    help="Folder for the summaries.")
_as_of_option = click.option("--as-of", "as_of", default=None, help="YYYY-MM-DD; default today in Bangkok.")
_wait = click.option("--wait", is_flag=True, help="Wait for a run in progress instead of exiting 3.")
_restricted = click.option("--restricted-store", "restricted_store", default=None,
                           type=click.Path(dir_okay=False, path_type=Path),
                           help="Restricted pilots' store (default: beside the warehouse, <name>.restricted.duckdb).")


def _guarded(job, warehouse_path: Path, wait: bool, needs_prefect: bool = True,
             restricted_store: Path | None = None, registry_dir: Path | None = None, precheck=None,
             out_dir: Path | None = None, inbox: Path | None = None, new_store: bool = False) -> int:
    """Run a job under the run lock, with the same exit codes as `pilotkpi run`.

    job() returns its exit code (0, or 5 when it committed but a later step was not done); an
    exception from it means nothing was committed (the flows return once they have committed), but
    for CommitUnknown: its COMMIT raised and whether it was kept is not known until the next run.
    An expected refusal is one line on stderr (flows/refusals.py keeps Prefect's traceback out).
    precheck(registry), if given, may refuse (Refused) before Prefect starts. `out_dir` and `inbox`,
    the job's folders: no store may lie inside them (warehouse/paths.refuse_in_job_folders).
    """
    from flows.refusals import Refused
    from pilots.registry import RegistryError
    from warehouse.db import check_warehouse
    from warehouse.errors import CommitUnknown, WarehouseRefused
    from warehouse.lock import RunLocked, run_lock
    from warehouse.paths import refuse_in_job_folders
    from warehouse.restricted import check_restricted

    mark = commit_mark()  # a job that fails after its commit says so (committed_then_failed)
    try:
        with run_lock(warehouse_path, wait=wait, on_stale=lambda m: click.echo(f"pilotkpi: {m}", err=True)):
            refuse_in_job_folders(warehouse_path, restricted_store, inbox, out_dir)  # one file, one role
            check_warehouse(warehouse_path)  # refused (WarehouseRefused, exit 1) before Prefect starts
            check_restricted(warehouse_path, restricted_store, new_store)
            registry = check_registry(registry_dir, warehouse_path)
            if precheck is not None:
                precheck(registry)
            if needs_prefect:
                from flows.ephemeral import start_server_tied_to_this_process

                start_server_tied_to_this_process()  # so a killed job leaves no server behind
            return job()
    except RegistryError as exc:
        click.echo(registry_refusal(exc), err=True)
        release(exc)
        return EXIT_REGISTRY
    except RunLocked as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        return EXIT_LOCKED
    except WarehouseRefused:
        raise  # one line and exit 1, said by the command group (flows/cli_common.RefusingGroup)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        code = after_the_commit(mark, exc, warehouse_path, None)  # committed, or a Ctrl-C (verifier VC, RV6)
        if code is not None:
            return code
        release(exc)  # the failed flow's frames hold the job's connection (flows/cli_common.py)
        if isinstance(exc, (Refused, LookupError, ValueError)):
            click.echo(f"pilotkpi: {printable(str(exc))}", err=True)
        elif isinstance(exc, CommitUnknown):  # its COMMIT raised, and whether it was kept is not known yet
            click.echo(f"pilotkpi: failed: {printable(str(exc))}", err=True)
        else:
            click.echo(f"pilotkpi: failed, the warehouse is unchanged: {printable(f'{type(exc).__name__}: {exc}')}",
                       err=True)
        return EXIT_FAILED


@click.command()
@click.argument("submission_id", type=int)
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
@_restricted
def reprocess(submission_id: int, registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: str | None,
              wait: bool, restricted_store: Path | None) -> None:
    """Re-read quarantined SUBMISSION_ID from the evidence store with today's code.

    Use it after a fix to pilotkpi (a file wrongly refused). A file the agency corrected and sent
    again needs nothing: the next run takes it. Exits 1, writing nothing, if the file still fails.
    """
    def job():
        from flows.nightly import reprocess as reprocess_flow  # Prefect only after the warehouse passed

        result = reprocess_flow(submission_id, registry_dir, warehouse_path, out_dir, _as_of(as_of), wait,
                                restricted_store)
        o = result.outcomes[0]
        # The file name and the values the messages quote are the agency's text: control
        # characters shown escaped (printable), as `pilotkpi check` shows them.
        name = printable(o.file_name)
        if o.status == "quarantined":
            click.echo(f"submission {submission_id} ({name}) is still quarantined, nothing was written:")
            for i in o.issues:
                click.echo(f"  {i.severity} {i.code} row {i.row_number or '-'} column {printable(i.column_name or '-')}\n"
                           f"    th: {printable(i.message_th)}\n    en: {printable(i.message_en)}")
            raise ValueError(f"submission {submission_id} still has defects")
        what = f"submission {submission_id} ({name}) reprocessed as submission {o.submission_id}: {o.status}"
        click.echo(what)
        return _finished(result, what, warehouse_path, out_dir, restricted_store)

    sys.exit(_guarded(job, warehouse_path, wait, restricted_store=restricted_store, registry_dir=registry_dir,
                      out_dir=out_dir))


@click.command()
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
@_restricted
@click.option("--new-restricted-store", "new_store", is_flag=True,
              help="The restricted store is lost for good (no backup): make a new empty one and record it. Every "
                   "restricted pilot's figures are then no data until their files are sent again "
                   "(docs/operations.md). Refused while a store is there.")
def rebuild(registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: str | None, wait: bool,
            restricted_store: Path | None, new_store: bool) -> None:
    """Recompute every mart from core.* with today's registry, for a new as-of date or new thresholds.

    Reads no inbox file. The same warehouse, registry and as-of date give the same marts, byte for byte.
    """
    def job():
        from flows.nightly import rebuild as rebuild_flow

        result = rebuild_flow(registry_dir, warehouse_path, out_dir, _as_of(as_of), wait, restricted_store,
                              new_store)
        click.echo(f"rebuilt the marts as of {result.as_of.isoformat()} (run {result.run_id})")
        if result.pilots_by_status is not None:
            statuses = ", ".join(f"{s} {n}" for s, n in result.pilots_by_status.items())
            click.echo(f"pilots by status: {statuses}")
        return _finished(result, f"the marts rebuilt as of {result.as_of.isoformat()} (run {result.run_id})",
                         warehouse_path, out_dir, restricted_store)

    sys.exit(_guarded(job, warehouse_path, wait, restricted_store=restricted_store, registry_dir=registry_dir,
                      out_dir=out_dir, new_store=new_store))


def _finished(result, what: str, warehouse_path: Path, out_dir: Path, restricted_store: Path | None = None) -> int:
    if result.completed:
        click.echo(f"completed the missing steps of earlier run(s): {', '.join(result.completed)}")
    if result.published is not None:
        click.echo(f"read-only copy for analysts: {result.published}")
    return report_unfinished(result.failed_steps, what, warehouse_path, out_dir, restricted_store=restricted_store)


@click.command()
@_warehouse
@click.option("--inbox", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Also file away the inbox files that committed runs recorded but did not move.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the summaries and reminder letters into this folder, as of the last committed job.")
@_wait
@_restricted
def publish(warehouse_path: Path, inbox: Path | None, out_dir: Path | None, wait: bool,
            restricted_store: Path | None) -> None:
    """Publish the analysts' copy now, completing runs that committed but did not publish.

    With --inbox, also file away the inbox files such runs left behind (no new rows are added);
    with --out, also write the summaries and the reminder letters. A run whose every missing step
    is done is marked completed (ops.runs completed_at, completed_by). The next run does every step anyway.
    A restricted store not beside the warehouse is named with --restricted-store, as for the run.
    """
    from flows.completion import complete
    from flows.cli_report import write_letters_from, write_summaries_from

    def job() -> int:
        if out_dir is not None:  # read before publishing, so the copy carries the completion
            for path in write_summaries_from(warehouse_path, out_dir) + write_letters_from(warehouse_path, out_dir):
                click.echo(f"wrote {path}")
        done = complete(warehouse_path, inbox, frozenset({"summaries", "letters"} if out_dir is not None else ()),
                        restricted_store)
        if done.moved:
            click.echo(f"filed away {len(done.moved)} file(s) left in {inbox} by earlier runs")
        for why in done.not_filed:  # file_away is then not done: the runs stay unfinished
            click.echo(f"pilotkpi: not filed away: {why}", err=True)
        if done.completed:
            click.echo(f"completed run(s): {', '.join(done.completed)}")
        click.echo(f"read-only copy for analysts: {done.published}")
        for run_id, steps in done.still_missing.items():
            click.echo(f"run {run_id} still misses: {', '.join(steps)} (the next run does them)", err=True)
        return EXIT_OK  # publish itself finished; what it cannot do is listed above

    sys.exit(_guarded(job, warehouse_path, wait, needs_prefect=False, out_dir=out_dir, inbox=inbox,
                      restricted_store=restricted_store))


COMMANDS: list[click.Command] = [reprocess, rebuild, publish]
