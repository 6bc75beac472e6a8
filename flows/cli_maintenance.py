"""Maintenance commands: reprocess a quarantined file after a fix, rebuild the marts."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from flows.cli_common import EXIT_LOCKED, _as_of, release

_registry = click.option("--registry", "registry_dir", required=True,
                         type=click.Path(exists=True, file_okay=False, path_type=Path), help="Registry folder.")
_warehouse = click.option("--warehouse", "warehouse_path", required=True,
                          type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The warehouse file.")
_out = click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                    help="Folder for the summaries.")
_as_of_option = click.option("--as-of", "as_of", default=None, help="YYYY-MM-DD; default today in Bangkok.")
_wait = click.option("--wait", is_flag=True, help="Wait for a run in progress instead of exiting 3.")


def _guarded(job, warehouse_path: Path, wait: bool) -> int:
    """Run a job under the run lock, with the same exit codes as `pilotkpi run`."""
    from pilots.registry import RegistryError
    from warehouse.db import check_warehouse
    from warehouse.lock import RunLocked, run_lock

    try:
        with run_lock(warehouse_path, wait=wait, on_stale=lambda m: click.echo(f"pilotkpi: {m}", err=True)):
            check_warehouse(warehouse_path)  # refused (WarehouseRefused, exit 1) before Prefect starts
            from flows.ephemeral import start_server_tied_to_this_process

            start_server_tied_to_this_process()  # so a killed job leaves no server behind
            job()
        return 0
    except RegistryError as exc:
        click.echo(f"pilotkpi: nothing was written.\n{exc}", err=True)
        release(exc)
        return 2
    except RunLocked as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        return EXIT_LOCKED
    except (LookupError, ValueError) as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        release(exc)  # the failed flow's frames hold the job's connection (flows/cli_common.py)
        return 1


@click.command()
@click.argument("submission_id", type=int)
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
def reprocess(submission_id: int, registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: str | None,
              wait: bool) -> None:
    """Re-read quarantined SUBMISSION_ID from the evidence store with today's code.

    Use it after a fix to pilotkpi (a file wrongly refused). A file the agency corrected and sent
    again needs nothing: the next run takes it. Exits 1, writing nothing, if the file still fails.
    """
    def job():
        from flows.nightly import reprocess as reprocess_flow  # Prefect only after the warehouse passed

        result = reprocess_flow(submission_id, registry_dir, warehouse_path, out_dir, _as_of(as_of), wait)
        o = result.outcomes[0]
        if o.status == "quarantined":
            click.echo(f"submission {submission_id} ({o.file_name}) is still quarantined, nothing was written:")
            for i in o.issues:
                click.echo(f"  {i.severity} {i.code} row {i.row_number or '-'} column {i.column_name or '-'}\n"
                           f"    th: {i.message_th}\n    en: {i.message_en}")
            raise ValueError(f"submission {submission_id} still has defects")
        click.echo(f"submission {submission_id} ({o.file_name}) reprocessed as submission {o.submission_id}: {o.status}")
        click.echo(f"read-only copy for analysts: {result.published}")

    sys.exit(_guarded(job, warehouse_path, wait))


@click.command()
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
def rebuild(registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: str | None, wait: bool) -> None:
    """Recompute every mart from core.* with today's registry, for a new as-of date or new thresholds.

    Reads no inbox file. The same warehouse, registry and as-of date give the same marts, byte for byte.
    """
    def job():
        from flows.nightly import rebuild as rebuild_flow

        result = rebuild_flow(registry_dir, warehouse_path, out_dir, _as_of(as_of), wait)
        click.echo(f"rebuilt the marts as of {result.as_of.isoformat()} (run {result.run_id})")
        statuses = ", ".join(f"{s} {n}" for s, n in result.pilots_by_status.items())
        click.echo(f"pilots by status: {statuses}")
        click.echo(f"read-only copy for analysts: {result.published}")

    sys.exit(_guarded(job, warehouse_path, wait))


COMMANDS: list[click.Command] = [reprocess, rebuild]
