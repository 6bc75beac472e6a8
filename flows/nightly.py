"""The Prefect flows: the nightly run, and the two maintenance jobs (reprocess, rebuild).

Thin orchestration: every task calls library code in pilots/, warehouse/ and kpis/. Tasks are
coarse (a few per run, never one per file or row). Each job holds the warehouse's run lock, and
does all its writing in one warehouse transaction, so a crash before the commit leaves the
warehouse as it was; only a committed job moves inbox files and publishes the analysts' copy.

After the commit come the output steps of the declared graph (kpis/steps.py), run by
flows/cheap.py. One that fails does not stop the others; the job then ends as
`committed_with_errors` (ops.runs.failed_steps, error) and the next job, or `pilotkpi publish`,
completes them.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

from flows.settings import apply_defaults

apply_defaults()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from flows import cheap  # noqa: E402
from flows.commits import commit_mark, committed_since, note_commit  # noqa: E402
from flows.outcome import files_line  # noqa: E402
from warehouse.personal import printable  # noqa: E402
from flows.clock import BANGKOK, today_in_bangkok  # noqa: E402,F401  (BANGKOK: kept importable from here)
from flows import parallel  # noqa: E402
from flows.parallel import DaskOptions  # noqa: E402
from flows.progress import Progress  # noqa: E402
from flows.refusals import refusals_as_state, refusing  # noqa: E402
from kpis import fingerprint  # noqa: E402
from warehouse.stages import stage  # noqa: E402
from kpis.build import build_marts  # noqa: E402
from kpis.steps import POST_COMMIT_ORDER  # noqa: E402
from pilots import filing, inbox as inbox_folder  # noqa: E402
from pilots.ingest import DEFAULT_BATCH_SIZE, FileOutcome, IngestCounts, Ingestor, RestrictedSide  # noqa: E402
from warehouse.personal import masked  # noqa: E402
from pilots.registry import Registry, registry_rows  # noqa: E402
from pilots.registry_problems import load_for_job  # noqa: E402
from warehouse import evidence, moves, restricted, store, store_identity  # noqa: E402
from warehouse.db import connect, evidence_dir_for, limit_memory, memory_for_queries, transaction  # noqa: E402
from warehouse.errors import CommitUnknown, MessageGuard, Refusal, error_log_of, stored_file_names, unguarded  # noqa: E402
from warehouse.lock import run_lock  # noqa: E402
from warehouse.paths import refuse_in_job_folders  # noqa: E402
from warehouse.publish import published_path  # noqa: E402
from warehouse.registry_check import LeadChange, holds_registry, lead_changes  # noqa: E402
from warehouse.open_side import HIDDEN_NAME, hidden_names, names_hidden, redact  # noqa: E402
from warehouse.testpoints import pause_point  # noqa: E402

SUMMARY_ARTIFACT_KEY = cheap.SUMMARY_ARTIFACT_KEY
SETTLE_SECONDS = float(os.environ.get("PILOTKPI_SETTLE_SECONDS", inbox_folder.DEFAULT_SETTLE_SECONDS))


def software_version() -> str:
    try:
        return version("pilotkpi")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RunResult:
    run_id: str
    as_of: date
    counts: dict[str, int]
    pilots_by_status: dict[str, int] | None  # None when the summaries could not be built
    summaries: list[Path] = field(default_factory=list)
    published: Path | None = None
    outcomes: list[FileOutcome] = field(default_factory=list)
    skipped_unsettled: list[str] = field(default_factory=list)
    moved: list[Path] = field(default_factory=list)
    failed_steps: dict[str, str] = field(default_factory=dict)  # step after the commit -> its error
    completed: list[str] = field(default_factory=list)  # earlier runs whose missing steps this job did
    filed_earlier: int = 0  # inbox files of earlier committed runs that this run filed away
    letters: list[Path] = field(default_factory=list)  # OUT/reminders/: the letters and reminders.csv
    refused: list = field(default_factory=list)  # FILE_NOT_REGULAR/FILE_ACCESS_DENIED issues: entries left unread


@dataclass
class JobResult:
    run_id: str
    counts: dict
    summaries: list[Path]
    by_status: dict[str, int] | None
    published: Path | None
    failed_steps: dict[str, str]
    completed: list[str]
    letters: list[Path] = field(default_factory=list)
    # (English, Thai) of each pilot whose lead this job's registry changed: a decision from the web
    # shows them on its page (its job may be the one that stores the new registry: reviewer RV7 F4).
    lead_changes: list[tuple[str, str]] = field(default_factory=list)


class Live:
    """The job's connection as tasks receive it; the job empties it when it ends.

    Prefect keeps a task's parameters beyond the task: a log worker started during a failing task
    copies that task's context (parameters included) into a call it keeps until exit. A DuckDB
    connection still referenced at exit, even closed, makes DuckDB's bindings print "leaked
    instance" lines; this wrapper is all Prefect gets, and it lets go of the connection.
    """

    def __init__(self, con):
        self._con = con
        self.restricted: RestrictedSide | None = None  # the job's restricted store, if it has one
        self.messages: MessageGuard | None = None  # with a restricted store: errors as the open side sees them

    def guarded(self, fn: Callable, *args, **kwargs):
        """fn(*args, **kwargs), whose errors may quote restricted data: they leave as the open side
        may see them (warehouse/errors.py)."""
        return (self.messages.call if self.messages is not None else unguarded)(fn, *args, **kwargs)

    def open_error(self, exc: Exception) -> Exception:
        return self.messages.open_error(exc) if self.messages is not None else exc

    def open_text(self, exc: Exception) -> str:
        return self.messages.open_text(exc) if self.messages is not None else f"{type(exc).__name__}: {exc}"

    @property
    def con(self):
        if self._con is None:
            raise RuntimeError("the job's warehouse connection is closed")
        return self._con

    def reopen(self, open_again: Callable[[], object]) -> None:
        """Close the job's connection, then open the file again (_committed_after_all). In this
        order: DuckDB keeps one instance per file in a process, and a connection opened while an
        invalidated one is still open gets that invalidated instance."""
        self.close()
        self._con = open_again()

    def close(self) -> None:
        con, self._con = self._con, None
        self.restricted = None
        if con is not None:
            con.close()


def _transient(task, task_run, state) -> bool:
    """Retry only I/O errors that may pass (a file locked or briefly unreadable)."""
    return inbox_folder.is_transient(state.result(raise_on_failure=False))


def load_job_registry(registry_dir: Path, warehouse_path: Path) -> Registry:
    """The job's registry. A broken one raises its RegistryError masked: whatever the open side
    keeps of it (the flow run's Failed message and log in Prefect's database, a task's traceback,
    the served night's line, the CLI's output) has a restricted pilot's file as its name and a
    neutral sentence, never its values (pilots/registry_problems.py says which files)."""
    return load_for_job(registry_dir, published_path(warehouse_path))


@task(name="load-registry", cache_policy=NO_CACHE)
def load_registry_task(registry_dir: Path, warehouse_path: Path) -> Registry:
    with stage("registry"):
        return load_job_registry(registry_dir, warehouse_path)


@task(name="receive-inbox", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 10, 30],
      retry_condition_fn=_transient)
def receive_task(inbox: Path, evidence_dir: Path, settle_seconds: float,
                 open_evidence_dir: Path | None = None) -> tuple[list, list[str], list]:
    """Settled files' bytes into evidence_dir (the open evidence store, or the restricted store's
    staging folder), idempotent, so a retry is safe; entries that are not regular files are
    refused, named, and left in place (pilots/inbox.py), as are files the night may not open; a
    file gone since the listing is skipped with a warning. The open store is made owner-only first."""
    logger = get_run_logger()
    store_dir = open_evidence_dir or evidence_dir
    secured = evidence.secure_store(store_dir)
    if any(secured):
        logger.warning("evidence store %s made owner-only: %d folder(s) set to 0700, %d file(s) to 0400",
                       store_dir, *secured)
    signatures: dict = {}
    with stage("settle"):
        ready, changing = inbox_folder.settled(inbox, settle_seconds, signatures=signatures)
    refused, gone, writing, unchecked = inbox_folder.refused(inbox), [], [], []
    with stage("receive"):
        files = inbox_folder.receive(ready, evidence_dir, refused, gone, writing, signatures, unchecked)
    # Open for writing by another program (a stalled upload), or changed since the settle check:
    # left for the next night, named as the files still changing are (pilots/inbox.py).
    changing = sorted([*changing, *writing], key=lambda p: inbox_folder.inbox_name(p))
    if unchecked:  # once a night: the operator knows the settle time is the only guard
        logger.warning("could not tell whether %d file(s) were still open for writing (%s): only the settle "
                       "time guards against a stalled upload (docs/operations.md)", len(unchecked), unchecked[0])
    if changing:
        # (Names are the agencies' text: printable, as Prefect's console passes ESC to the terminal.)
        logger.warning("left %d file(s) still being written for the next run: %s", len(changing),
                       ", ".join(printable(inbox_folder.name_as_text(p.name)) for p in changing))
    for path in gone:  # nothing of it to record; named, as a vanished report may puzzle its sender
        logger.warning("%s was removed from the inbox before it was read: nothing of it recorded",
                       printable(masked(inbox_folder.name_as_text(inbox_folder.inbox_name(path)))))
    issues = [inbox_folder.refusal(path, kind) for path, kind in refused]
    for issue in issues:
        logger.warning("%s (%s)", printable(issue.message_en), issue.code)
    return files, [masked(inbox_folder.name_as_text(p.name)) for p in changing], issues


@task(name="ingest-inbox", cache_policy=NO_CACHE)
def ingest_task(live: Live, registry: Registry, files: list, evidence_dir: Path, run_id: str, as_of: date,
                batch_size: int, read_batches=None) -> Ingestor:
    """read_batches: where the pure stage runs (flows.parallel; default: in this process)."""
    ingestor = Ingestor(live.con, registry, evidence_dir=evidence_dir, run_id=run_id, as_of=as_of, received_at=_utcnow(),
                        restricted=live.restricted, outcomes=StatusesOnly())
    with Progress(len(files), "files", get_run_logger()) as progress:  # a failure still ends the bar

        def on_batch(n: int) -> None:
            progress.advance(n)
            pause_point("ingest")

        with stage("ingest"):
            live.guarded(ingestor.ingest, files, batch_size, on_batch=on_batch, read_batches=read_batches)
    return ingestor


@task(name="build-marts", cache_policy=NO_CACHE)
def build_marts_task(live: Live, as_of: date, kind: str = "run", run_id: str | None = None) -> cheap.JobState:
    """The marts whose inputs changed (every one for a rebuild); returns what the job committed,
    as the keys of the steps after the commit need it (its state digest among it).

    With a restricted store, its marts are built first, from its line-level data (per pilot, as the
    open ones: kpis/build.py, ops.mart_partitions); each open mart then takes the allowed rows as it is built (warehouse/restricted.merge_mart), with those
    rows among its inputs, so a change of a restricted pilot's score or status rebuilds it and
    re-renders the summaries."""
    # The stores wrote under a lower limit until now (their uncommitted rows spilled: warehouse/db.py).
    memory_for_queries(live.con, *([live.restricted.con] if live.restricted else []))
    digests = fingerprint.Digests(live.con)
    with stage("marts"):
        _, state = live.guarded(build_all_marts, live.con, as_of, live.restricted, only_changed=kind != "rebuild",
                                run_id=run_id, digests=digests)
    return cheap.JobState(state, fingerprint.data_digest(digests), digests.all())


class StatusesOnly:
    """The outcomes a night keeps: each file's status, one byte per file in the order received.

    A FileOutcome (name, hash, issues) per file grew with the inbox for the whole run; filing
    away needs only the status, and every outcome is in ingest.submissions / ingest.issues
    under the run's id. (Bounded memory, issue 22: one byte a file.)"""

    STATUSES = ("accepted", "superseded", "duplicate", "quarantined", "held")

    def __init__(self) -> None:
        self._codes = bytearray()

    def append(self, outcome: FileOutcome) -> None:
        self._codes.append(self.STATUSES.index(outcome.status))

    def __len__(self) -> int:
        return len(self._codes)

    def statuses(self) -> list[str]:
        return [self.STATUSES[code] for code in self._codes]


def build_all_marts(con, as_of: date, side=None, *, only_changed: bool = False,
                    run_id: str | None = None, digests: fingerprint.Digests | None = None) -> tuple[list[str], str]:
    """The open marts, and with a restricted store (side: its .con and .pilots) its own marts
    first, merged into each open mart as it is built. Returns (open marts built, state digest).
    A full rebuild is only_changed=False: tests compare the nights' marts with it."""
    digests = digests or fingerprint.Digests(con)
    if side is None:
        built = build_marts(con, as_of, only_changed=only_changed, run_id=run_id, digests=digests)
        return built, fingerprint.state_digest(digests, as_of)
    restricted.mirror_closures(con, side.con, side.pilots, run_id)
    restricted.mirror_held(con, side.con)
    # The restricted store's marts skip like the open ones (their keys are in its own
    # ops.mart_inputs): a night with no restricted change rebuilds none of them.
    build_marts(side.con, as_of, only_changed=only_changed, run_id=run_id)
    built = build_marts(con, as_of, only_changed=only_changed, run_id=run_id, digests=digests,
                        extra_inputs=restricted.open_rows_digests(side.con, side.pilots),
                        after=lambda name: restricted.merge_mart(con, side.con, side.pilots, name),
                        unrecorded=frozenset(side.pilots), keeps_unrecorded=frozenset(restricted.KEEP_OPEN))
    return built, fingerprint.state_digest(digests, as_of)


def _write_registry(con, rows: dict[str, list[dict]]) -> list[LeadChange]:
    """Today's registry into the store's registry.* tables, unless they hold exactly it already
    (most nights: warehouse/registry_check.py); the same tables either way. Returns the pilots whose
    lead agency it changes (lead_changes), of which the job warns once committed."""
    if holds_registry(con, rows):
        return []
    changes = lead_changes(con, rows)
    store.replace_registry(con, rows)
    return changes


def _warn_lead_changes(changes: list[LeadChange]) -> None:
    """Each changed lead, printed and logged in English and Thai (escaped: LeadChange.lines)."""
    for change in changes:
        _warn_lines(change.lines())


def _warn_lines(lines: tuple[str, ...] | None) -> None:
    """A warning's lines (English, Thai), printed and logged."""
    logger = get_run_logger()
    for line in lines or ():
        print(f"pilotkpi: {line}", flush=True)
        logger.warning("%s", line)


NOT_FINISHED = "the job stopped after its commit, before the steps in failed_steps finished"


def _job(kind: str, registry: Registry, warehouse_path: Path, out_dir: Path, as_of: date,
         body: Callable[[object, str], tuple[dict, int]],
         file_away: Callable[[object], object] | None = None,
         restricted_files: restricted.RestrictedFiles | None = None, new_store: bool = False) -> JobResult:
    """One warehouse job: start_run, body, marts, finish_run in one transaction; then the steps
    after the commit (_after_commit). body(live, run_id) returns (counts, skipped_unsettled).
    new_store: `rebuild --new-restricted-store` (warehouse/store_identity.py): the missing store the
    warehouse records is not refused; a new empty one is made, its new id recorded, and the job's
    ops.runs.kind is NEW_STORE_KIND.

    With a restricted store, its working copy commits first and is renamed into place after the
    open commit (warehouse/restricted.py: the open ops.runs row decides)."""
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    started = _utcnow()
    recorded_kind = store_identity.NEW_STORE_KIND if new_store else kind
    new_store_lines = None
    steps = [s for s in POST_COMMIT_ORDER if file_away is not None or s != "file_away"]
    live = Live(limit_memory(connect(warehouse_path)))
    con = live.con
    rjob = None
    moved: list[moves.Move] = []
    lead_changed: list[LeadChange] = []
    if restricted_files is not None:  # messages stay on their side (warehouse/errors.py)
        live.messages = MessageGuard(
            error_log_of(restricted_files.store),
            lambda: stored_file_names(rjob.con if rjob is not None else None,
                                      [restricted_files.next, restricted_files.store]), job=kind)
    try:
        failure = None
        at_commit = committed = False
        try:
            rows = registry_rows(registry)
            if restricted_files is not None:
                restricted.recover(restricted_files, con)
                recorded = store_identity.recorded(con)
                if new_store:  # checked under the lock again: only a missing store is replaced
                    store_identity.refuse_new_store(restricted_files.store, restricted_files.next, recorded)
                else:
                    store_identity.refuse_missing(restricted_files.store, recorded)
                rjob = restricted.RestrictedJob(restricted_files)
                if not new_store:  # a new store has no id yet: record() gives it one
                    store_identity.refuse_other(restricted_files.store, recorded, store_identity.own_id(rjob.con))
                _warn_lines(store_identity.out_of_step(recorded, store_identity.store_last_job(rjob.con)))
                limit_memory(rjob.con)
                moves.sweep_evidence(con, rjob.con, evidence_dir_for(warehouse_path), restricted_files.evidence)
                pilots = restricted.restricted_pilots(registry)
                live.restricted = RestrictedSide(rjob.con, restricted_files, pilots)
                rows, restricted_rows = restricted.split_registry(rows, pilots)
            with transaction(con):
                store.start_run(con, run_id, started, as_of, registry.content_sha256, software_version(),
                                recorded_kind)
                lead_changed = _write_registry(con, rows)  # the open store holds every pilot's registry.pilots row
                if rjob is not None:
                    store_identity.record(con, rjob.con, run_id)
                    if new_store:
                        new_store_lines = store_identity.new_store_lines(
                            restricted_files.store, recorded, store_identity.own_id(rjob.con), sorted(pilots))
                    _write_registry(rjob.con, restricted_rows)
                    # Pilots whose rows are in the wrong store move now, in this commit (warehouse/moves.py).
                    moved = moves.move_misplaced(con, rjob.con, pilots, set(registry.pilots) - pilots,
                                                 evidence_dir_for(warehouse_path), restricted_files.evidence,
                                                 run_id, started, error_log_of(restricted_files.store))
                counts, skipped = body(live, run_id)
                state = build_marts_task(live, as_of, "rebuild" if moved else kind, run_id)
                store.record_state(con, run_id, state.state)
                # Committed with every later step still to do: a job killed after this commit
                # shows as unfinished, and the next run files its inbox files away.
                store.finish_run(con, run_id, _utcnow(), "committed_with_errors", counts, error=NOT_FINISHED,
                                 skipped_unsettled=skipped, failed_steps=steps)
                if rjob is not None:
                    live.restricted = None
                    rjob.prepare(run_id)
                at_commit = True  # what raises from here on is the COMMIT, which may be durable
                note_commit("committing", run_id)
            note_commit("committed", run_id)  # the COMMIT returned: kept
        except store_identity.StoreRefused:  # before the job wrote anything: nothing to record
            if rjob is not None:
                rjob.abort()
            raise
        except Exception as exc:
            committed = _committed_after_all(live, warehouse_path, run_id) if at_commit else False
            if committed:
                get_run_logger().error("the job's COMMIT raised (%s), yet the warehouse opened again holds it: the "
                                       "job is committed and goes on", live.open_text(exc))
            elif committed is None:  # unknown: .next stays, and the next job's recover() decides
                failure = CommitUnknown(live.open_text(exc))
            else:
                failure = live.open_error(exc)  # before abort: the names include this job's rows
                if rjob is not None:
                    rjob.abort()
                _record_failure(live.con, run_id, started, as_of, registry, recorded_kind, failure)
        if failure is not None:
            raise failure  # outside the except block: no chain back to the original's text
        if committed:  # the COMMIT raised, yet the warehouse holds it: the job goes on, committed
            note_commit("committed", run_id)
        if rjob is not None:
            try:
                rjob.finish()
            except OSError as exc:  # committed: the next job's recover() renames it into place
                get_run_logger().error("the restricted store's working copy %s was not renamed into place (%s); "
                                       "the next job does it", restricted_files.next, exc)
            else:
                for error in moves.forget_files(moved):  # else the next job's sweep_evidence does it
                    get_run_logger().error("a moved pilot's file stays in its old evidence folder: %s", error)
            for move in moved:
                print(f"pilotkpi: {move.line()}", flush=True)
        _warn_lead_changes(lead_changed)  # committed: earlier quarters are now the new lead's
        _warn_lines(new_store_lines)  # committed: the new store is the warehouse's now
        done = cheap.after_commit(live, kind, run_id, counts, warehouse_path, Path(out_dir), as_of, steps,
                                  file_away, state, any(m.direction == moves.TO_RESTRICTED for m in moved))
        return JobResult(run_id, counts, done.summaries, done.by_status, done.published, done.failed,
                         done.completed, done.letters, [change.lines() for change in lead_changed])
    finally:
        live.close()


@flow(name="nightly", log_prints=False)
@refusals_as_state
def nightly(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path,
            as_of: date | None = None, batch_size: int = DEFAULT_BATCH_SIZE, wait: bool = False,
            settle_seconds: float | None = None, restricted_store: Path | None = None, workers: int | None = None,
            dask_address: str | None = None) -> RunResult:
    """The nightly run. Served (`pilotkpi serve`), it also prints one line on how it ended.
    workers / dask_address: read on a Dask cluster while this process validates and writes
    (flows/parallel.py: workers None decides by the inbox's size, 0 never)."""
    mark = commit_mark()
    try:
        result = _nightly(registry_dir, inbox, warehouse_path, out_dir, as_of, batch_size, wait, settle_seconds,
                          restricted_store, DaskOptions(workers, dask_address))
    except Exception as exc:  # a stopped process (BaseException) may have committed: no claim
        _announce(lambda: _failure_line(exc, committed_since(mark)))
        raise
    _announce(lambda: _result_line(result, Path(out_dir)))
    return result


def nightly_settings(temporary_server: bool):
    """Prefect's settings for one `pilotkpi run`. On the job's own temporary server
    (flows/ephemeral.py):
    - the flow run sends no heartbeats: they let a running server mark a run whose process died
      as crashed, but this server dies with the process. They also cost the run up to a second at
      its end (Prefect joins its heartbeat thread, which sleeps in 1 s steps);
    - Prefect's client does not ask the server's version: the job asked it while waiting for the
      server (it is this Prefect's own: the server runs from the same installation);
    - nor a CSRF token, where the server protects nothing with one (Prefect's default: the server
      takes this process's settings), which its client learnt from a refused request each night."""
    if not temporary_server:
        return contextlib.nullcontext()
    from flows.ephemeral import temporary_server_settings

    return temporary_server_settings()


def _deployed() -> bool:
    """True when this flow run belongs to a deployment (a served, scheduled run)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx is not None and ctx.flow_run is not None and ctx.flow_run.deployment_id is not None


def _announce(line: Callable[[], str]) -> None:
    """One line on stdout for a served run: Prefect's runner streams the run's stdout into the
    output of `pilotkpi serve`, which otherwise says nothing when a run ends. `pilotkpi run`
    prints its own lines instead (not deployed: nothing printed here)."""
    if _deployed():
        print(line(), flush=True)


def _result_line(result: RunResult, out_dir: Path) -> str:
    status = "succeeded" if not result.failed_steps else (
        f"committed with errors (not done: {', '.join(result.failed_steps)}; see ops.runs)")
    where = f"summaries in {out_dir}" if result.summaries else "no summary written"
    return (f"pilotkpi: scheduled run {result.run_id} as of {result.as_of.isoformat()} {status}: "
            f"{files_line(result.counts)}; {where}")


def _failure_line(exc: Exception, committed: list[str] = ()) -> str:
    from pilots.registry import RegistryError
    from warehouse.lock import RunLocked

    if committed:  # it failed after its commit: the data is in, the steps not done are in ops.runs
        return (f"pilotkpi: scheduled run {committed[-1]} committed, then failed (see ops.runs for the steps not "
                f"done; the next run does them): {printable(f'{type(exc).__name__}: {exc}')}")
    what = ("did not start" if isinstance(exc, (RegistryError, RunLocked)) else
            "failed" if isinstance(exc, CommitUnknown) else "failed, the warehouse is unchanged")
    return f"pilotkpi: scheduled run {what}: {printable(f'{type(exc).__name__}: {exc}')}"


def _restricted_files(warehouse_path: Path, registry: Registry, restricted_store: Path | None,
                      new_store: bool = False) -> restricted.RestrictedFiles | None:
    """The job's restricted store, checked (owner-only) and with an empty staging folder; None when
    the registry has no restricted pilot and no store exists. new_store: `rebuild
    --new-restricted-store`, the store made even with no restricted pilot left, so that the
    warehouse records one that exists (warehouse/store_identity.py)."""
    files = restricted.files_for(warehouse_path, restricted_store)
    if new_store:
        store_identity.refuse_new_store(files.store, files.next, store_identity.recorded_in_file(warehouse_path))
    elif not (files.store.exists() or files.next.exists()):
        # Before anything is received or made: a warehouse that records a store must not get a
        # new empty one (warehouse/store_identity.py). The read-only open is only paid here.
        store_identity.refuse_missing(files.store, store_identity.recorded_in_file(warehouse_path))
    if not (new_store or restricted.needed(files, registry)):
        return None
    restricted.check_permissions(files)
    restricted.clean_staging(files)
    return files


def _nightly(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path, as_of: date | None,
             batch_size: int, wait: bool, settle_seconds: float | None,
             restricted_store: Path | None = None, dask: DaskOptions = DaskOptions()) -> RunResult:
    as_of = as_of or today_in_bangkok()
    inbox, warehouse_path = Path(inbox), Path(warehouse_path)
    settle = SETTLE_SECONDS if settle_seconds is None else settle_seconds
    # A broken registry stops here: nothing written. Read in the flow itself, not as a Prefect task:
    # a task run costs more than the read (a few ms), and the flow's failure names the error the same.
    with stage("registry"):
        registry = load_job_registry(Path(registry_dir), Path(warehouse_path))
    logger = get_run_logger()
    # The Dask cluster starts, and its worker reads the inbox ahead, while the night receives (or
    # since before Prefect's server, on `pilotkpi run`): flows/parallel.py, "Read-ahead".
    with run_lock(warehouse_path, wait=wait, on_stale=logger.warning), \
            parallel.reading_early(inbox, registry, dask, batch_size, (Path(registry_dir), as_of)) as early:
        evidence_dir = evidence_dir_for(warehouse_path)
        # Also here, for a scheduled night (`pilotkpi serve`), which no CLI check precedes.
        refuse_in_job_folders(warehouse_path, restricted_store, inbox, out_dir)
        rfiles = _restricted_files(warehouse_path, registry, restricted_store)
        # With a restricted store, bytes wait in its owner-only staging folder until their pilot is known.
        files, changing, refused = receive_task(inbox, rfiles.staging if rfiles else evidence_dir, settle,
                                                evidence_dir)
        state = {}

        def ingest(live, run_id):
            # Files that an earlier committed run recorded but did not file away are filed away
            # now, not recorded again as duplicates (recognised by name and SHA-256).
            # Names are stored with national IDs masked, so the inbox name is masked to compare.
            unfiled = store.unfiled_files(live.con)
            if live.restricted is not None:
                unfiled.update(store.unfiled_files(live.con, live.restricted.con))
            state["earlier"] = [(f, unfiled[_key(f)]) for f in files if _key(f) in unfiled]
            state["new"] = [f for f in files if _key(f) not in unfiled]
            # quote(): Prefect would walk every field of the registry and every file to find futures
            # in them, twice per task run (0.1-0.3 s a night at 400 pilots); there are none.
            if state["new"]:  # read on a second process (flows/parallel.py), or here (no reader)
                reading = parallel.reader_for(dask, len(state["new"]), batch_size, early)
                with reading as reader:
                    ingestor = ingest_task(live, quote(registry), quote(state["new"]), evidence_dir, run_id, as_of,
                                           batch_size, reader)
                state["outcomes"], counts = ingestor.outcomes, ingestor.counts
            else:  # nothing new (a quiet night): no ingest at all (an Ingestor first loads every
                state["outcomes"], counts = StatusesOnly(), IngestCounts()  # file's hash), no file counted
                if early is not None:  # the inbox held only files filed away late: no read at all
                    early.close()
            return counts.as_dict(), len(changing)

        def file_away(con):
            # con: its own connection (flows/cheap.py runs this beside the other steps).
            # The ingestor kept one status per file, in the order it was given the files.
            statuses = state["outcomes"].statuses()
            if len(statuses) != len(state["new"]):
                raise RuntimeError(f"{len(statuses)} statuses for {len(state['new'])} files received")
            files = list(zip(state["new"], statuses)) + state["earlier"]
            # An error moving a restricted pilot's file must not name it in logs or ops.runs.
            hidden = hidden_names(con, [f.name for f, _ in files])

            def left(item: inbox_folder.InboxFile, why: str) -> None:
                # Named as receive_task names the inbox's files (masked, printable), restricted names hidden.
                name = masked(redact(inbox_folder.name_as_text(inbox_folder.inbox_name(item.inbox_path)), hidden))
                logger.warning("%s %s", printable(name), LEFT_IN_INBOX[why])

            with names_hidden(hidden):  # a big night's in a process of its own; its failure warned of
                state["moved"] = filing.file_away(files, inbox, lambda text: logger.warning("%s", printable(redact(text, hidden))),
                                                  left)

        try:
            job = _job("run", registry, warehouse_path, out_dir, as_of, ingest, file_away, rfiles)
        finally:
            if rfiles is not None:
                restricted.clean_staging(rfiles)  # what is left there (duplicates' bytes) is referenced nowhere
    # No per-file outcomes: a night's are in the warehouse (ingest.submissions, ingest.issues).
    return RunResult(job.run_id, as_of, job.counts, job.by_status, job.summaries, job.published,
                     [], changing, state.get("moved", []), job.failed_steps, job.completed,
                     len(state["earlier"]), job.letters, refused)


# What filing away says of a received file it left alone (pilots.inbox.file_away's `left`).
LEFT_IN_INBOX = {
    inbox_folder.CHANGED: "changed since it was read: its new bytes stay in the inbox for the next night",
    inbox_folder.GONE: "was removed from the inbox after it was read: what was read is recorded",
    inbox_folder.WRITING: "is open for writing by another program since it was read: left in the inbox for "
                          "the next night",
}


def _key(f: inbox_folder.InboxFile) -> tuple[str, str]:
    """How the warehouse knows an inbox file: its name as stored (IDs masked) and its SHA-256."""
    return masked(f.name), f.sha256


@flow(name="reprocess", log_prints=False)
@refusals_as_state
def reprocess(submission_id: int, registry_dir: Path, warehouse_path: Path, out_dir: Path,
              as_of: date | None = None, wait: bool = False, restricted_store: Path | None = None) -> RunResult:
    """Re-read one quarantined file from the evidence store with today's code."""
    as_of = as_of or today_in_bangkok()
    registry = load_registry_task(Path(registry_dir), Path(warehouse_path))
    outcome: list[FileOutcome] = []
    moved: list[moves.Move] = []  # the file, had it to follow its pilot to the other store

    def body(live, run_id):
        ingestor = Ingestor(live.con, registry, evidence_dir=evidence_dir_for(warehouse_path), run_id=run_id,
                            as_of=as_of, received_at=_utcnow(), restricted=live.restricted)
        with refusing(LookupError, ValueError):  # not quarantined, unknown, reprocessed already
            result = ingestor.reprocess(submission_id)
        moved[:] = ingestor.moved
        if submission_id in ingestor.in_restricted and live.messages is not None:
            result = _open_outcome(result, live.messages)
        outcome.append(result)
        if result.status == "quarantined":
            raise StillQuarantined(result)
        return {"files_seen": 1, result.status: 1}, 0

    with run_lock(warehouse_path, wait=wait, on_stale=get_run_logger().warning):
        try:
            job = _job("reprocess", registry, Path(warehouse_path), out_dir, as_of, body,
                       restricted_files=_restricted_files(Path(warehouse_path), registry, restricted_store))
        except StillQuarantined:  # rolled back: nothing written, nothing published
            return RunResult("", as_of, {}, {}, outcomes=outcome)
    for error in moves.forget_files(moved):  # committed; else the next job's sweep_evidence does it
        get_run_logger().error("a reprocessed file stays in its old evidence folder: %s", error)
    return RunResult(job.run_id, as_of, job.counts, job.by_status, job.summaries, job.published, outcome,
                     failed_steps=job.failed_steps, completed=job.completed, letters=job.letters)


def _open_outcome(result: FileOutcome, messages: MessageGuard) -> FileOutcome:
    """A restricted file's outcome as the CLI may print it: no name, no defect (they quote its
    values); both go to the restricted store's error log."""
    lines = [f"reprocessed {result.file_name}: {result.status}"] + [
        f"  {i.severity} {i.code} row {i.row_number or '-'} column {i.column_name or '-'}: {i.message_en}"
        for i in result.issues]
    messages.keep_text("\n".join(lines) + "\n")
    return FileOutcome(HIDDEN_NAME, result.sha256, result.status, [], result.submission_id)


@flow(name="rebuild", log_prints=False)
@refusals_as_state
def rebuild(registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: date | None = None,
            wait: bool = False, restricted_store: Path | None = None, new_store: bool = False) -> RunResult:
    """Recompute every mart from core.* and today's registry (a new as-of date or new thresholds).
    new_store: make a new empty restricted store in place of a lost one (warehouse/store_identity.py)."""
    as_of = as_of or today_in_bangkok()
    registry = load_registry_task(Path(registry_dir), Path(warehouse_path))
    with run_lock(warehouse_path, wait=wait, on_stale=get_run_logger().warning):
        job = _job("rebuild", registry, Path(warehouse_path), out_dir, as_of, lambda live, run_id: ({}, 0),
                   restricted_files=_restricted_files(Path(warehouse_path), registry, restricted_store, new_store),
                   new_store=new_store)
    return RunResult(job.run_id, as_of, job.counts, job.by_status, job.summaries, job.published,
                     failed_steps=job.failed_steps, completed=job.completed, letters=job.letters)


class StillQuarantined(Refusal):
    """Reprocessing found defects again: nothing is written (the job's transaction rolls back)."""

    def __init__(self, outcome: FileOutcome):
        super().__init__(f"{outcome.file_name} still has {sum(i.is_error for i in outcome.issues)} defect(s)")
        self.outcome = outcome


def _committed_after_all(live: Live, warehouse_path: Path, run_id: str) -> bool | None:
    """After the job's COMMIT raised: whether the commit is durable all the same. True, False, or
    None when the file cannot be opened again and read.

    DuckDB 2.0 checkpoints on its own at a COMMIT that takes its write-ahead log past
    checkpoint_threshold (16 MiB). A commit it estimates small is logged first: if that checkpoint
    then fails (a full disk, an I/O error), COMMIT raises FatalException, invalidates the database,
    and yet the commit is in the log, which the next open replays. A larger commit is checkpointed
    instead of logged, and its failed checkpoint keeps nothing. The exception does not say which:
    the file opened again does (this job's ops.runs row, the open store being the coordinator of
    the restricted store's commit: warehouse/restricted.py). `live` then holds the new connection,
    with the job's memory limit, for the steps after the commit (or for the failure's record)."""
    try:
        # Closing works on an invalidated database; the log (the commit, if any) stays beside the file.
        live.reopen(lambda: connect(warehouse_path))
        memory_for_queries(limit_memory(live.con))
        return restricted.committed(live.con, run_id)
    except Exception:  # noqa: BLE001 - unknown: the job fails, and the next job's open decides
        return None


def _record_failure(con, run_id: str, started: datetime, as_of: date, registry: Registry, kind: str,
                    exc: Exception) -> None:
    """The job's own transaction rolled back; note the failure in ops.runs on its own."""
    if isinstance(exc, StillQuarantined):
        return  # not a failure of the job: the file is still bad, and the CLI says why
    try:
        with transaction(con):
            store.start_run(con, run_id, started, as_of, registry.content_sha256, software_version(), kind)
            store.finish_run(con, run_id, _utcnow(), "failed", {}, error=f"{type(exc).__name__}: {exc}")
    except Exception:  # the warehouse itself may be what failed; the exception above still propagates
        pass
