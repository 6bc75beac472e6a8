"""The nightly flow: registry -> ingest the inbox in batches -> marts -> committee summary.

Thin orchestration: every task calls library code in pilots/, warehouse/ and kpis/. Tasks are
coarse (a few per run, never one per file or row). Ingest and marts share one warehouse
transaction, so a crash anywhere leaves the warehouse as it was before the run.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from zoneinfo import ZoneInfo

from flows.settings import apply_defaults

apply_defaults()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from kpis.build import build_marts  # noqa: E402
from kpis.summary import artifact_markdown, build_model, write_summaries  # noqa: E402
from pilots.ingest import DEFAULT_BATCH_SIZE, FileOutcome, Ingestor, inbox_files  # noqa: E402
from pilots.registry import Registry, load_registry, registry_rows  # noqa: E402
from warehouse import store  # noqa: E402
from warehouse.db import connect, evidence_dir_for, transaction  # noqa: E402
from warehouse.publish import publish  # noqa: E402
from warehouse.testpoints import pause_point  # noqa: E402

BANGKOK = ZoneInfo("Asia/Bangkok")
SUMMARY_ARTIFACT_KEY = "pilotkpi-summary"


def software_version() -> str:
    try:
        return version("pilotkpi")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown"


def today_in_bangkok() -> date:
    return datetime.now(BANGKOK).date()


@dataclass
class RunResult:
    run_id: str
    as_of: date
    counts: dict[str, int]
    pilots_by_status: dict[str, int]
    summaries: list[Path] = field(default_factory=list)
    published: Path | None = None
    outcomes: list[FileOutcome] = field(default_factory=list)


@task(name="load-registry", cache_policy=NO_CACHE)
def load_registry_task(registry_dir: Path) -> Registry:
    return load_registry(registry_dir)


@task(name="ingest-inbox", cache_policy=NO_CACHE)
def ingest_task(con, registry: Registry, inbox: Path, evidence_dir: Path, run_id: str, as_of: date,
                batch_size: int) -> Ingestor:
    logger = get_run_logger()
    ingestor = Ingestor(con, registry, evidence_dir=evidence_dir, run_id=run_id, as_of=as_of,
                        received_at=datetime.now(timezone.utc).replace(tzinfo=None))
    paths = inbox_files(inbox)
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        logger.info("ingested %d/%d files", done, len(paths))
        pause_point("ingest")

    ingestor.ingest(paths, batch_size, on_batch=progress)
    return ingestor


@task(name="build-marts", cache_policy=NO_CACHE)
def build_marts_task(con, as_of: date) -> None:
    build_marts(con, as_of)


@task(name="write-summary", cache_policy=NO_CACHE)
def write_summary_task(con, out_dir: Path, as_of: date) -> tuple[list[Path], dict[str, int]]:
    """Write the summaries; return them with the pilots by status of their latest due period."""
    model = build_model(con, as_of)
    written = write_summaries(model, out_dir)
    create_markdown_artifact(key=SUMMARY_ARTIFACT_KEY, markdown=artifact_markdown(model, written),
                             description="pilotkpi committee summary")
    return written, model.by_status


@flow(name="nightly", log_prints=False)
def nightly(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path,
            as_of: date | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> RunResult:
    as_of = as_of or today_in_bangkok()
    registry = load_registry_task(Path(registry_dir))  # a broken registry stops here: nothing written
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    con = connect(warehouse_path)
    try:
        try:
            with transaction(con):
                store.start_run(con, run_id, started, as_of, registry.content_sha256, software_version())
                store.replace_registry(con, registry_rows(registry))
                ingestor = ingest_task(con, registry, Path(inbox), evidence_dir_for(warehouse_path), run_id,
                                       as_of, batch_size)
                build_marts_task(con, as_of)
                store.finish_run(con, run_id, datetime.now(timezone.utc).replace(tzinfo=None), "succeeded",
                                 ingestor.counts.as_dict())
        except Exception as exc:
            _record_failure(con, run_id, started, as_of, registry, exc)
            raise
        summaries, by_status = write_summary_task(con, Path(out_dir), as_of)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    published = publish(warehouse_path)  # only a successful run gets here
    return RunResult(run_id, as_of, ingestor.counts.as_dict(), by_status, summaries, published, ingestor.outcomes)


def _record_failure(con, run_id: str, started: datetime, as_of: date, registry: Registry, exc: Exception) -> None:
    """The run's own transaction rolled back; note the failure in ops.runs on its own."""
    try:
        with transaction(con):
            store.start_run(con, run_id, started, as_of, registry.content_sha256, software_version())
            store.finish_run(con, run_id, datetime.now(timezone.utc).replace(tzinfo=None), "failed", {},
                             error=f"{type(exc).__name__}: {exc}")
    except Exception:  # the warehouse itself may be what failed; the exception above still propagates
        pass
