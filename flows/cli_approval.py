"""The committee's commands (data-quality.md §2): close-quarter, reopen, approve, reject.

Jobs like `rebuild`: the same --registry, --warehouse, --out, --as-of and --restricted-store
options, the run lock, one transaction, and the analysts' copy published when they commit. A refused decision (not
due, not held, already decided, a blank --by or --reason) is one line and exit 1, with nothing written.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from flows.cli_common import _as_of, printable
from flows.cli_maintenance import _as_of_option, _finished, _guarded, _out, _registry, _restricted, _wait, _warehouse

_by = click.option("--by", "by", required=True, help="Who takes the decision (recorded in approval.decisions).")


# --- refusals before Prefect starts ------------------------------------------------------------
# A refused decision took 15-20 s, most of it Prefect's start-up. These checks give the same
# refusal, with pilots/approval.py's own message, without starting Prefect (9 s instead of 20-50 s on a
# loaded machine, most of it Python and pandas starting). They only ever refuse what
# the job itself would refuse; anything they cannot judge is left to the job.

def _dry_run(warehouse_path: Path, decide, refuse: tuple[type[Exception], ...] = (LookupError, ValueError)) -> None:
    """Run a decision of pilots/approval.py on a read-only connection: its checks come before its
    writes, so a refusal (LookupError, ValueError) is raised here as Refused, and once the checks
    pass the first write fails on the read-only connection (a DuckDB error): the job then runs."""
    import duckdb

    from flows.refusals import Refused
    from warehouse.db import connect

    if not Path(warehouse_path).exists():
        return
    con = connect(warehouse_path, read_only=True)
    try:
        decide(con)
    except duckdb.Error:
        return
    except refuse as exc:
        raise Refused(str(exc)) from None
    except (LookupError, ValueError):
        return  # refused for a reason only the job can judge
    finally:
        con.close()


def _in_restricted_store(warehouse_path: Path, submission_id: int, restricted_store: Path | None) -> bool:
    """Whether the id is a restricted pilot's file: the job decides those (flows/approval.py)."""
    import duckdb

    from warehouse import restricted

    store = restricted.files_for(warehouse_path, restricted_store).store
    if not store.exists():
        return False
    con = duckdb.connect(str(store), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM ingest.submissions WHERE submission_id = ?",
                                [submission_id]).fetchone()[0])
    finally:
        con.close()


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)


def _names_precheck(by: str, reason: str | None = None, reason_required: bool = False) -> None:
    """A blank --by or --reason: refused by pilots/approval.py's own rule, which the job applies too."""
    from flows.refusals import Refused
    from pilots import approval

    try:
        approval.refuse_blank(by, reason, reason_required)
    except ValueError as exc:
        raise Refused(str(exc)) from None


# The dry runs below decide as a stand-in named DRY_RUN: the real --by and --reason were judged first.
DRY_RUN = "precheck"


def _decision_precheck(action: str, submission_id: int, warehouse_path: Path, restricted_store: Path | None,
                       by: str, note: str | None):
    def precheck(registry) -> None:
        from pilots import approval

        _names_precheck(by, note, reason_required=(action == "reject"))
        if not _in_restricted_store(warehouse_path, submission_id, restricted_store):
            _dry_run(warehouse_path, lambda con: approval.decide(con, submission_id, action, DRY_RUN, DRY_RUN, _now(), "-"))
    return precheck


def _reopen_precheck(period: str, pilot_id: str, warehouse_path: Path, by: str, reason: str):
    def precheck(registry) -> None:
        from pilots import approval

        _names_precheck(by, reason, reason_required=True)
        # The warehouse holds the last job's registry: "no such pilot" there, for a pilot of
        # today's registry, is the job's to judge.
        new_pilot = registry is not None and pilot_id in registry.pilots
        _dry_run(warehouse_path, lambda con: approval.reopen_quarter(con, period, pilot_id, DRY_RUN, DRY_RUN, _now(), "-"),
                 (ValueError,) if new_pilot else (LookupError, ValueError))
    return precheck


def _close_precheck(period: str, pilot_id: str | None, as_of: str | None, by: str):
    def precheck(registry) -> None:
        from flows.clock import today_in_bangkok
        from flows.refusals import Refused
        from pilots import approval

        _names_precheck(by)
        try:
            approval._period(period)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        day = _as_of(as_of) or today_in_bangkok()
        # A quarter that has not ended is not due whatever the marts say; the rest needs them.
        if approval.period_bounds(period)[1] > day and (pilot_id is None or pilot_id in registry.pilots):
            raise Refused(approval._not_due(None, period, pilot_id, day))
    return precheck


def _flows_with_prefect():
    """flows.approval, imported while Prefect's temporary server starts in a thread beside it.

    A decision from the CLI used to start the server (its own Python process booting Prefect's
    API, several seconds) and only then import the flows (Prefect, pandas, the job's modules,
    several seconds more). The two do not depend on each other, so they now overlap. The server is
    the one flows/ephemeral.py watches (none where PREFECT_API_URL names a running server)."""
    import contextvars
    import threading

    from flows.ephemeral import start_server_tied_to_this_process
    from flows.settings import apply_defaults

    apply_defaults()
    import prefect.context  # noqa: F401 - imported here, not in both threads at once

    failed: list[BaseException] = []

    def start() -> None:
        try:
            start_server_tied_to_this_process()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failed.append(exc)

    # In this thread's context: Prefect's settings (a test harness's server) live in context variables.
    server = threading.Thread(target=contextvars.copy_context().run, args=(start,), name="prefect-server", daemon=True)
    server.start()
    import flows.approval

    server.join()
    if failed:
        raise failed[0]
    return flows.approval


def _job_lines(result, what: str, warehouse_path: Path, out_dir: Path) -> int:
    click.echo(f"{what} (run {result.job.run_id})")
    return _finished(result.job, what, warehouse_path, out_dir)


@click.command(name="close-quarter")
@click.argument("period")
@click.option("--pilot", "pilot_id", default=None, help="Close it for this pilot only (default: every pilot).")
@_by
@click.option("--note", default=None, help="A note kept with the closure.")
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
@_restricted
def close_quarter(period: str, pilot_id: str | None, by: str, note: str | None, registry_dir: Path,
                  warehouse_path: Path, out_dir: Path, as_of: str | None, wait: bool,
                  restricted_store: Path | None) -> None:
    """Close PERIOD (e.g. 2549-Q3) for one pilot or for all: its figures no longer change without a decision.

    Records who closed it, when, the note, and the composite score and status at that moment.
    Only a due period (its quarter ended by --as-of) can be closed.
    """
    def job():
        close_flow = _flows_with_prefect().close_quarter
        result = close_flow(period, pilot_id, by, note, registry_dir, warehouse_path, out_dir, _as_of(as_of), wait,
                            restricted_store=restricted_store)
        for c in result.closed:
            composite = "–" if c.composite is None else f"{c.composite:.4f}"
            click.echo(f"closed {period} for {c.pilot_id}: composite {composite}, {c.status}")
        for pid in result.skipped:
            click.echo(f"{period} was already closed for {pid}")
        return _job_lines(result, f"closed {period} for {len(result.closed)} pilot(s)", warehouse_path, out_dir)

    sys.exit(_guarded(job, warehouse_path, wait, needs_prefect=False, restricted_store=restricted_store,
                      registry_dir=registry_dir, out_dir=out_dir, precheck=_close_precheck(period, pilot_id, as_of, by)))


@click.command()
@click.argument("period")
@click.option("--pilot", "pilot_id", required=True, help="The pilot whose period is reopened.")
@_by
@click.option("--reason", required=True, help="Why it is reopened.")
@_registry
@_warehouse
@_out
@_as_of_option
@_wait
@_restricted
def reopen(period: str, pilot_id: str, by: str, reason: str, registry_dir: Path, warehouse_path: Path,
           out_dir: Path, as_of: str | None, wait: bool, restricted_store: Path | None) -> None:
    """End the closure of PERIOD for --pilot. Held files stay held until approved or rejected."""
    def job():
        reopen_flow = _flows_with_prefect().reopen
        result = reopen_flow(period, pilot_id, by, reason, registry_dir, warehouse_path, out_dir, _as_of(as_of), wait,
                             restricted_store=restricted_store)
        return _job_lines(result, f"reopened {period} for {pilot_id}", warehouse_path, out_dir)

    sys.exit(_guarded(job, warehouse_path, wait, needs_prefect=False, restricted_store=restricted_store,
                      registry_dir=registry_dir, out_dir=out_dir,
                      precheck=_reopen_precheck(period, pilot_id, warehouse_path, by, reason)))


def _decision_command(action: str, help_text: str, note_option: click.Option):
    @click.command(name=action, help=help_text)
    @click.argument("submission_id", type=int)
    @_by
    @note_option
    @_registry
    @_warehouse
    @_out
    @_as_of_option
    @_wait
    @_restricted
    def command(submission_id: int, by: str, note: str | None, registry_dir: Path, warehouse_path: Path,
                out_dir: Path, as_of: str | None, wait: bool, restricted_store: Path | None) -> None:
        def job():
            decide_held = _flows_with_prefect().decide_held
            result = decide_held(action, submission_id, by, note, registry_dir, warehouse_path, out_dir,
                                 _as_of(as_of), wait, restricted_store=restricted_store)
            d, past = result.decided, {"approve": "approved", "reject": "rejected"}[action]
            what = f"submission {submission_id} ({d.pilot_id} {d.agency_code} {d.period}) {past}: {d.status}"
            if d.replaced is not None:
                what += f", replacing submission {d.replaced} (now superseded)"
            if d.kept is not None:
                what += f": accepted submission {d.kept} has a later or equal submitted_on and stays"
            return _job_lines(result, printable(what), warehouse_path, out_dir)

        sys.exit(_guarded(job, warehouse_path, wait, needs_prefect=False, restricted_store=restricted_store,
                          registry_dir=registry_dir, out_dir=out_dir,
                          precheck=_decision_precheck(action, submission_id, warehouse_path, restricted_store,
                                                      by, note)))

    return command


approve = _decision_command(
    "approve",
    "Apply held SUBMISSION_ID under the resubmission rules: it becomes accepted and replaces the accepted "
    "version, unless that one has a later or equal submitted_on (then it becomes superseded).",
    click.option("--note", default=None, help="A note kept with the decision."))
reject = _decision_command(
    "reject",
    "Refuse held SUBMISSION_ID: it becomes rejected and nothing else changes.",
    click.option("--reason", "note", required=True, help="Why it is rejected."))

COMMANDS: list[click.Command] = [close_quarter, reopen, approve, reject]
