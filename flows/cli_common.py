"""Small pieces shared by the command modules (kept apart so they import no command module)."""
from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path

import click

from flows.commits import commit_mark, committed_since, committing_since  # noqa: F401  (commit_mark: for the commands)
from flows.outcome import files_line, release  # noqa: F401  (for the command modules)
# printable: error text for the terminal. It may quote an agency's file name or values, so
# control characters are shown escaped and national ID numbers masked; ops.runs.error is stored
# through the same function. Re-exported for the command modules.
from warehouse.library_warnings import from_formatted
from warehouse.personal import printable  # noqa: F401

# Exit codes: one meaning each (README "Exit codes", docs/operations.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the job failed; nothing was committed (but for CommitUnknown: the next run decides)
EXIT_USAGE = 2  # click's usage error: a wrong option or argument
EXIT_LOCKED = 3  # another run holds the warehouse: cron shows it, and the next night runs as usual
EXIT_REGISTRY = 4  # the registry is broken: nothing was written
EXIT_COMMITTED_WITH_ERRORS = 5  # the data committed, but a later step did not finish (see ops.runs)
EXIT_QUARANTINED = 6  # `check`: at least one file would be quarantined


class RefusingGroup(click.Group):
    """Every command: a warehouse file that cannot be used is one line and exit 1, no traceback."""

    def __call__(self, *args, **kwargs):
        """The program's own command line (`pilotkpi ...`, `python -m flows.cli ...`): main() with
        no arguments. Click's test runner calls `main(args)` instead, and never gets here."""
        from flows import program

        if not args and not kwargs:
            program.started()
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as end:
            program.ended(end.code)
            raise

    def invoke(self, ctx: click.Context):
        from warehouse.errors import WarehouseRefused
        from warehouse.modes import tighten_umask

        tighten_umask()  # nothing a command writes is writable by group or others (warehouse/modes.py)
        try:
            return super().invoke(ctx)
        except WarehouseRefused as exc:
            click.echo(f"pilotkpi: {exc}", err=True)
            release(exc)  # a job's refusal (store_identity.StoreRefused): its frames hold the connection
            ctx.exit(EXIT_FAILED)


class _LibraryWarnings(logging.Handler):
    """Python warnings from libraries (openpyxl's "Unknown extension is not supported and will be
    removed", for a workbook from some producers) go to the job's log at INFO: the flow run's log
    inside a job, a plain logger outside one (`check`). At the default level (WARNING) the
    terminal shows neither the warning nor its source line; PREFECT_LOGGING_LEVEL=INFO shows them,
    control and bidi characters escaped (printable)."""

    def emit(self, record: logging.LogRecord) -> None:
        # formatwarning's text (file, line, category, message, source line) as one line: a file-reading
        # library's without its message, which may quote a restricted pilot's file (warehouse/library_warnings.py)
        message = from_formatted(record.getMessage())
        logger = logging.getLogger("pilotkpi.library")
        if "prefect" in sys.modules:  # never imported for this: `check` runs without Prefect
            try:
                logger = sys.modules["prefect"].get_run_logger()
            except Exception:  # noqa: BLE001 - not in a flow or task run
                pass
        # Printable already, as Prefect's console and log pass C1 controls and bidi characters on as they are.
        logger.info("library warning: %s", message)


def library_warnings_to_log() -> None:
    """Called once at the command line's entry; Great Expectations also turns captureWarnings on."""
    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    captured.propagate = False  # not to the root logger's console handler
    if not any(isinstance(h, _LibraryWarnings) for h in captured.handlers):
        captured.addHandler(_LibraryWarnings())


def registry_refusal(exc) -> str:
    """A broken registry (exit 4) as the operator reads it, in English and then in Thai (the
    registry's keepers are the Thai secretariat; pilots/registry_rules.yaml): one line a language,
    or a heading and one line per problem when there are several (RegistryError.problems). A job's
    error comes masked (check_registry; flows/nightly.py load_job_registry): a restricted pilot's
    file is one line, its name and a neutral sentence (MaskedProblem.said), in each language."""
    from pilots.registry_rules import part

    lines = []
    for lang in ("en", "th"):
        problems = [printable(p.said(lang)) for p in exc.problems]
        if len(problems) == 1:
            lines.append(f"pilotkpi: {getattr(part('refused'), lang)}: {problems[0]}")
        else:
            lines += [f"pilotkpi: {getattr(part('refused_many', count=len(problems)), lang)}:",
                      *(f"  - {p}" for p in problems)]
    return "\n".join(lines)


def registry_refusal_document(exc) -> dict:
    """A broken registry as `pilotkpi check --format json` gives it (exit 4): the refusal and each
    problem's file, subject and rule in both languages, through printable as the text is (a rule
    quotes the registry's own text, repr-escaped already; a file name may hold anything)."""
    from pilots.registry_rules import part

    refused = part("refused")
    return {"status": "refused", "reason": "broken_registry", "message_en": refused.en, "message_th": refused.th,
            "problems": [{"file": printable(p.file), "subject": printable(p.subject),
                          "rule_en": printable(p.rule), "rule_th": printable(p.rule_th or p.rule)}
                         for p in exc.problems]}


def check_registry(registry_dir: Path | None, warehouse_path: Path):
    """Load the registry before the flow starts: a broken one is refused in a second (exit 4), not
    after the server's start-up (`pilotkpi run` launches its temporary server just before this
    check, and a refusal stops it with the job), and no task logs its traceback. The job loads it
    again itself. Its problems are as the open side may print them: a restricted pilot's file is
    its name and a neutral sentence (pilots/registry_problems.py; `pilotkpi check` prints them whole)."""
    if registry_dir is None:
        return None
    from pilots.registry_problems import load_for_job
    from warehouse.publish import published_path

    return load_for_job(registry_dir, published_path(warehouse_path))


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


# How an operator completes the steps after the commit that a job did not finish: one
# `pilotkpi publish` does those it can, with the options they need, and marks the job completed
# in ops.runs when no other step is missing (flows/completion.py). The others only a run does.
_PUBLISH_OPTIONS = {"summaries": "--out {out}", "letters": "--out {out}", "file_away": "--inbox {inbox}", "publish": ""}
_NEXT_RUN_ONLY = {
    "validation_report": "the next run writes its own",
    "artifact": "the next run creates it",
    "record": "the next run records its own outcome",
}


def completing_command(failed_steps, warehouse: Path, out: Path, inbox: Path | None = None,
                       restricted_store: Path | None = None) -> str:
    """The one command that does every step of failed_steps that a command can do. The job's
    --restricted-store is named too: without it publish would look for the store beside the
    warehouse, not know the restricted pilots' unfiled files, and leave them (verifier VJ F3)."""
    options = dict.fromkeys(_PUBLISH_OPTIONS[s] for s in _PUBLISH_OPTIONS if s in failed_steps)
    words = ["pilotkpi publish --warehouse {warehouse}", *(o for o in options if o)]
    if restricted_store is not None:
        words.append("--restricted-store {restricted}")
    return " ".join(words).format(warehouse=warehouse, out=out, inbox=inbox or "INBOX", restricted=restricted_store)


def report_unfinished(failed_steps: dict[str, str], what: str, warehouse: Path, out: Path,
                      inbox: Path | None = None, restricted_store: Path | None = None) -> int:
    """Tell the operator that the data committed but some later steps were not done; exit 5.

    `what` says what was committed (counts). Every step is completed by the next run; the
    command given completes now those that a command can do.
    """
    if not failed_steps:
        return EXIT_OK
    click.echo(f"pilotkpi: committed to the warehouse: {printable(what)}.\n"
               f"These steps after the commit were NOT done (ops.runs: status committed_with_errors):", err=True)
    for step, error in failed_steps.items():
        click.echo(f"  {step}: {printable(error)}", err=True)
    click.echo("To complete them: the next run does them all, or now:", err=True)
    if any(step in _PUBLISH_OPTIONS for step in failed_steps):
        click.echo(f"  {completing_command(failed_steps, warehouse, out, inbox, restricted_store)}", err=True)
    for step in failed_steps:
        if step not in _PUBLISH_OPTIONS:
            click.echo(f"  {step}: {_NEXT_RUN_ONLY.get(step, 'the next run does it')}", err=True)
    return EXIT_COMMITTED_WITH_ERRORS


def after_the_commit(mark: int, exc: BaseException, warehouse_path: Path, out_dir: Path | None,
                     inbox: Path | None = None, restricted_store: Path | None = None) -> int | None:
    """The exit code of a job that raised, or was interrupted, where its commit decides what to say:
    committed (committed_then_failed, exit 5); stopped by a Ctrl-C during its COMMIT (not known:
    exit 1, ops.runs and the next run decide, as for CommitUnknown); stopped by a Ctrl-C before it
    (unchanged, exit 1). None: an error before any commit, for the caller to say."""
    if committed_since(mark):
        release(exc)
        return committed_then_failed(committed_since(mark)[-1], exc, warehouse_path, out_dir, inbox,
                                     restricted_store)
    if not isinstance(exc, KeyboardInterrupt):
        return None
    release(exc)
    committing = committing_since(mark)
    if committing:
        click.echo(f"pilotkpi: run {committing[-1]} was interrupted (Ctrl-C) during its commit: whether the commit "
                   "was kept is not known; ops.runs says (kept if the run is listed there), and the next run "
                   "finishes the job if it was", err=True)
    else:
        click.echo("pilotkpi: the run was interrupted (Ctrl-C) before its commit: the warehouse is unchanged", err=True)
    return EXIT_FAILED


def committed_then_failed(run_id: str, exc: BaseException, warehouse_path: Path, out_dir: Path | None,
                          inbox: Path | None = None, restricted_store: Path | None = None) -> int:
    """A run that failed, or was interrupted, after its commit (its Prefect server gone, a Ctrl-C in
    the steps after it): the data is in the warehouse, so exit 5 with the steps ops.runs says were
    not done, never "the warehouse is unchanged" (verifier VC: a night whose temporary server was
    killed committed, filed and published, then said so and exited 1)."""
    how = "was interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else \
        f"failed: {printable(f'{type(exc).__name__}: {exc}')}"
    click.echo(f"pilotkpi: run {run_id} {how}, after its commit", err=True)
    what, failed = f"run {run_id}", {}
    try:
        from warehouse.db import connect

        con = connect(warehouse_path, read_only=True)
        try:
            row = con.execute("SELECT files_seen, accepted, superseded, duplicates, quarantined, held, failed_steps, "
                              "error FROM ops.runs WHERE run_id = ?", [run_id]).fetchone()
        finally:
            con.close()
    except Exception as read_error:  # noqa: BLE001 - what is known is said; ops.runs has the rest
        click.echo(f"pilotkpi: committed to the warehouse: {what}; its record in ops.runs could not be read "
                   f"({printable(str(read_error))}): the next run completes the steps it did not finish", err=True)
        return EXIT_COMMITTED_WITH_ERRORS
    if row is not None:
        counts = dict(zip(("files_seen", "accepted", "superseded", "duplicates", "quarantined", "held"), row[:6]))
        what = f"run {run_id}, {files_line(counts)}"
        steps = [step for step in (row[6] or "").split(",") if step]
        failed = {step: (row[7] if i == 0 and row[7] else "not done") for i, step in enumerate(steps)}
    if not failed:  # every step of ours was done: only Prefect's own record of the run failed
        click.echo(f"pilotkpi: committed to the warehouse: {printable(what)}; every step after the commit was "
                   "done (ops.runs: succeeded); Prefect's record of the flow run may not say so", err=True)
        return EXIT_COMMITTED_WITH_ERRORS
    if out_dir is None:  # a command that names no --out: the next run does them
        click.echo(f"pilotkpi: committed to the warehouse: {printable(what)}. These steps after the commit were NOT "
                   f"done (ops.runs: status committed_with_errors); the next run does them: "
                   f"{', '.join(failed)}", err=True)
        return EXIT_COMMITTED_WITH_ERRORS
    return report_unfinished(failed, what, warehouse_path, out_dir, inbox, restricted_store)
