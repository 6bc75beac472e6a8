"""The Prefect flows: the nightly run, and the two maintenance jobs (reprocess, rebuild).

Thin orchestration: every task calls library code in pilots/, warehouse/ and kpis/. Tasks are
coarse (a few per run, never one per file or row). Each job holds the warehouse's run lock, and
does all its writing in one warehouse transaction, so a crash anywhere leaves the warehouse as it
was; only a committed job moves inbox files and publishes the analysts' copy.
"""
from __future__ import annotations

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
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows.clock import BANGKOK, today_in_bangkok  # noqa: E402,F401  (BANGKOK: kept importable from here)
from flows.progress import Progress  # noqa: E402
from kpis.build import build_marts  # noqa: E402
from kpis.summary import artifact_markdown, build_model, write_summaries  # noqa: E402
from kpis.summary.validation import write_validation_report  # noqa: E402
from pilots import inbox as inbox_folder  # noqa: E402
from pilots.ingest import DEFAULT_BATCH_SIZE, FileOutcome, Ingestor  # noqa: E402
from pilots.registry import Registry, load_registry, registry_rows  # noqa: E402
from warehouse import store  # noqa: E402
from warehouse.db import connect, evidence_dir_for, transaction  # noqa: E402
from warehouse.lock import run_lock  # noqa: E402
from warehouse.publish import publish  # noqa: E402
from warehouse.testpoints import pause_point  # noqa: E402

SUMMARY_ARTIFACT_KEY = "pilotkpi-summary"
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
    pilots_by_status: dict[str, int]
    summaries: list[Path] = field(default_factory=list)
    published: Path | None = None
    outcomes: list[FileOutcome] = field(default_factory=list)
    skipped_unsettled: list[str] = field(default_factory=list)
    moved: list[Path] = field(default_factory=list)


def _transient(task, task_run, state) -> bool:
    """Retry only I/O errors that may pass (a file locked or briefly unreadable)."""
    return inbox_folder.is_transient(state.result(raise_on_failure=False))


@task(name="load-registry", cache_policy=NO_CACHE)
def load_registry_task(registry_dir: Path) -> Registry:
    return load_registry(registry_dir)


@task(name="receive-inbox", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 10, 30],
      retry_condition_fn=_transient)
def receive_task(inbox: Path, evidence_dir: Path, settle_seconds: float) -> tuple[list, list[str]]:
    """Settled files' bytes into the evidence store (idempotent, so a retry is safe)."""
    ready, changing = inbox_folder.settled(inbox, settle_seconds)
    if changing:
        get_run_logger().warning("left %d file(s) still being written for the next run: %s", len(changing),
                                 ", ".join(p.name for p in changing))
    return inbox_folder.receive(ready, evidence_dir), [p.name for p in changing]


@task(name="ingest-inbox", cache_policy=NO_CACHE)
def ingest_task(con, registry: Registry, files: list, evidence_dir: Path, run_id: str, as_of: date,
                batch_size: int) -> Ingestor:
    ingestor = Ingestor(con, registry, evidence_dir=evidence_dir, run_id=run_id, as_of=as_of, received_at=_utcnow())
    with Progress(len(files), "files", get_run_logger()) as progress:  # a failure still ends the bar

        def on_batch(n: int) -> None:
            progress.advance(n)
            pause_point("ingest")

        ingestor.ingest(files, batch_size, on_batch=on_batch)
    return ingestor


@task(name="build-marts", cache_policy=NO_CACHE)
def build_marts_task(con, as_of: date) -> None:
    build_marts(con, as_of)


@task(name="write-summary", cache_policy=NO_CACHE)
def write_summary_task(con, out_dir: Path, as_of: date, run_id: str) -> tuple[list[Path], dict[str, int]]:
    """Write the run's validation report and the summaries; return them with the pilots by status."""
    write_validation_report(con, run_id, out_dir)
    model = build_model(con, as_of)
    written = write_summaries(model, out_dir)
    create_markdown_artifact(key=SUMMARY_ARTIFACT_KEY, markdown=artifact_markdown(model, written),
                             description="pilotkpi committee summary")
    return written, model.by_status


def _job(kind: str, registry: Registry, warehouse_path: Path, out_dir: Path, as_of: date,
         body: Callable[[object, str], tuple[dict, int]]) -> tuple[str, dict, list[Path], dict, Path]:
    """One warehouse job: start_run, body, marts, finish_run in one transaction; then summaries
    and publishing. body(con, run_id) returns (counts, skipped_unsettled)."""
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    started = _utcnow()
    con = connect(warehouse_path)
    try:
        try:
            with transaction(con):
                store.start_run(con, run_id, started, as_of, registry.content_sha256, software_version(), kind)
                store.replace_registry(con, registry_rows(registry))
                counts, skipped = body(con, run_id)
                build_marts_task(con, as_of)
                store.finish_run(con, run_id, _utcnow(), "succeeded", counts, skipped_unsettled=skipped)
        except Exception as exc:
            _record_failure(con, run_id, started, as_of, registry, kind, exc)
            raise
        summaries, by_status = write_summary_task(con, Path(out_dir), as_of, run_id)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    published = publish(warehouse_path)  # only a committed job gets here
    return run_id, counts, summaries, by_status, published


@flow(name="nightly", log_prints=False)
def nightly(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path,
            as_of: date | None = None, batch_size: int = DEFAULT_BATCH_SIZE, wait: bool = False,
            settle_seconds: float | None = None) -> RunResult:
    as_of = as_of or today_in_bangkok()
    inbox, warehouse_path = Path(inbox), Path(warehouse_path)
    settle = SETTLE_SECONDS if settle_seconds is None else settle_seconds
    registry = load_registry_task(Path(registry_dir))  # a broken registry stops here: nothing written
    logger = get_run_logger()
    with run_lock(warehouse_path, wait=wait, on_stale=logger.warning):
        evidence_dir = evidence_dir_for(warehouse_path)
        files, changing = receive_task(inbox, evidence_dir, settle)
        state = {}

        def ingest(con, run_id):
            state["ingestor"] = ingest_task(con, registry, files, evidence_dir, run_id, as_of, batch_size)
            return state["ingestor"].counts.as_dict(), len(changing)

        run_id, counts, summaries, by_status, published = _job("run", registry, warehouse_path, out_dir, as_of, ingest)
        ingestor = state["ingestor"]
        # Committed: file the inbox away. A crash before this line leaves the files in the inbox;
        # the next run knows their hashes, records them as duplicates (counted nowhere) and moves them.
        status_of = {(o.file_name, o.sha256): o.status for o in ingestor.outcomes}
        moved = inbox_folder.file_away([(f, status_of[(f.name, f.sha256)]) for f in files], inbox)
    return RunResult(run_id, as_of, counts, by_status, summaries, published, ingestor.outcomes, changing, moved)


@flow(name="reprocess", log_prints=False)
def reprocess(submission_id: int, registry_dir: Path, warehouse_path: Path, out_dir: Path,
              as_of: date | None = None, wait: bool = False) -> RunResult:
    """Re-read one quarantined file from the evidence store with today's code."""
    as_of = as_of or today_in_bangkok()
    registry = load_registry_task(Path(registry_dir))
    outcome: list[FileOutcome] = []

    def body(con, run_id):
        ingestor = Ingestor(con, registry, evidence_dir=evidence_dir_for(warehouse_path), run_id=run_id,
                            as_of=as_of, received_at=_utcnow())
        result = ingestor.reprocess(submission_id)
        outcome.append(result)
        if result.status == "quarantined":
            raise StillQuarantined(result)
        return {"files_seen": 1, result.status: 1}, 0

    with run_lock(warehouse_path, wait=wait, on_stale=get_run_logger().warning):
        try:
            run_id, counts, summaries, by_status, published = _job("reprocess", registry, Path(warehouse_path),
                                                                   out_dir, as_of, body)
        except StillQuarantined:  # rolled back: nothing written, nothing published
            return RunResult("", as_of, {}, {}, outcomes=outcome)
    return RunResult(run_id, as_of, counts, by_status, summaries, published, outcome)


@flow(name="rebuild", log_prints=False)
def rebuild(registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: date | None = None,
            wait: bool = False) -> RunResult:
    """Recompute every mart from core.* and today's registry (a new as-of date or new thresholds)."""
    as_of = as_of or today_in_bangkok()
    registry = load_registry_task(Path(registry_dir))
    with run_lock(warehouse_path, wait=wait, on_stale=get_run_logger().warning):
        run_id, counts, summaries, by_status, published = _job("rebuild", registry, Path(warehouse_path), out_dir,
                                                               as_of, lambda con, run_id: ({}, 0))
    return RunResult(run_id, as_of, counts, by_status, summaries, published)


class StillQuarantined(Exception):
    """Reprocessing found defects again: nothing is written (the job's transaction rolls back)."""

    def __init__(self, outcome: FileOutcome):
        super().__init__(f"{outcome.file_name} still has {sum(i.is_error for i in outcome.issues)} defect(s)")
        self.outcome = outcome


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
