"""The committee's decision jobs (data-quality.md §2): close a quarter, reopen it, approve or
reject a held file. Each is a Prefect flow like `rebuild`: under the run lock, one transaction
(the decision, its approval.decisions row, the marts rebuilt, ops.runs), then the steps after the
commit, publishing included (flows.nightly._job). The committee's note or reason is a sealed
parameter that Prefect's database stores as '**********' (below, "never reaches Prefect").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flows.settings import apply_defaults

apply_defaults()

from prefect import flow, get_run_logger  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from flows.clock import today_in_bangkok, utc_now  # noqa: E402
from flows.refusals import refusals_as_state, refusing  # noqa: E402
from flows.nightly import JobResult, _job, _restricted_files, build_marts_task, load_registry_task  # noqa: E402
from pilots import approval  # noqa: E402
from warehouse.lock import run_lock  # noqa: E402
from warehouse.testpoints import pause_point  # noqa: E402


@dataclass
class DecisionResult:
    job: JobResult
    as_of: date
    closed: list[approval.Closed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    decided: approval.Decided | None = None


# The registry as last read by this process, with the state of its files then. The web's decisions
# run in one warm process, and reading 400 pilots' YAML costs seconds a decision; a registry whose
# files have not changed (same names, sizes, modification times) is the same registry. A one-shot
# CLI process reads it once anyway.
_registry_read: tuple[tuple, object] | None = None


def _registry(registry_dir: Path, warehouse_path: Path):
    global _registry_read
    folder = Path(registry_dir).resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    state = (str(folder), tuple((str(p), st.st_size, st.st_mtime_ns, st.st_ino) for p in files for st in [p.stat()]))
    if _registry_read is not None and _registry_read[0] == state:
        return _registry_read[1]
    registry = load_registry_task(Path(registry_dir), Path(warehouse_path))  # as given, as the CLI's job reads it
    _registry_read = (state, registry)
    return registry


def _now():
    return utc_now().replace(tzinfo=None)  # timestamps are stored as naive UTC, like ops.runs


def _decision_job(kind: str, registry_dir: Path, warehouse_path: Path, out_dir: Path, as_of: date | None,
                  wait: bool, decide, key: str | None = None, restricted_store: Path | None = None) -> DecisionResult:
    """Run decide(live, as_of, run_id) -> dict of DecisionResult fields as one job of `kind`.

    With restricted pilots the job writes the restricted store too (its marts, through
    build_marts_task). A restricted pilot's held file is decided in the restricted store, with
    its decision row there; closures and close/reopen decisions are in the open warehouse, a
    restricted pilot's without their note or reason, which go to the restricted store
    (pilots/approval.py). restricted_store: where it is (`--restricted-store`, as `run` takes it;
    None: beside the warehouse)."""
    as_of = as_of or today_in_bangkok()
    registry = _registry(registry_dir, warehouse_path)
    found: dict = {}

    def body(live, run_id):
        # A key already in approval.decisions (either store) was applied by an earlier job: the
        # web retried a decision it could not see finish. Refused, so it is never applied twice.
        with refusing(LookupError, ValueError):
            approval.refuse_applied((live.con, *_other_stores(live)), key)
        found.update(decide(live, as_of, run_id))
        pause_point("decision-decided")  # crash tests: decided, not yet committed
        return {}, 0

    with run_lock(warehouse_path, wait=wait, on_stale=get_run_logger().warning):
        job = _job(kind, registry, Path(warehouse_path), out_dir, as_of, body,
                   restricted_files=_restricted_files(Path(warehouse_path), registry, restricted_store))
    return DecisionResult(job, as_of, **found)


def _other_stores(live) -> tuple:
    """The restricted store's connection, if the job has one: decision numbers span both stores."""
    return (live.restricted.con,) if live.restricted is not None else ()


def _texts(live):
    """Where a restricted pilot's close note and reopen reason go: the restricted store, never the
    open warehouse (pilots/approval.py)."""
    return live.restricted.con if live.restricted is not None else None


# --- the committee's free text never reaches Prefect -------------------------------------------
# Prefect's database keeps each flow run's parameters (shown in its UI and API). The close note,
# the reopen reason and the approve/reject reason are the committee's free text: a restricted
# pilot's is kept only in the restricted store (pilots/approval.py), so it must not be a plain
# parameter. The flows below take it as a pydantic SecretStr, which Prefect serialises as
# '**********' (Flow.serialize_parameters, FastAPI's jsonable_encoder), and unwrap it inside the
# job; it goes to no task, log line or result. Prefect stores the parameters as the caller passed
# them, before its own validation, so the text is wrapped before the flow is called: callers call
# close_quarter, reopen and decide_held, plain functions that do that, never the *_flow objects
# with a str. Every pilot's text is sealed alike (it is in the warehouse or the restricted store,
# and in approval.decisions, anyway).

def sealed(text: str | SecretStr | None) -> SecretStr | None:
    """The committee's text as a flow parameter: a SecretStr (None stays None)."""
    return text if text is None or isinstance(text, SecretStr) else SecretStr(text)


def _unsealed(text: SecretStr | None) -> str | None:
    return None if text is None else text.get_secret_value()


def close_quarter(period: str, pilot_id: str | None, by: str, note: str | SecretStr | None, registry_dir: Path,
                  warehouse_path: Path, out_dir: Path, as_of: date | None = None, wait: bool = False,
                  key: str | None = None, restricted_store: Path | None = None) -> DecisionResult:
    """The close-quarter job (close_quarter_flow), its note sealed from Prefect."""
    return close_quarter_flow(period, pilot_id, by, sealed(note), registry_dir, warehouse_path, out_dir, as_of, wait,
                              key, restricted_store)


def reopen(period: str, pilot_id: str, by: str, reason: str | SecretStr, registry_dir: Path, warehouse_path: Path,
           out_dir: Path, as_of: date | None = None, wait: bool = False, key: str | None = None,
           restricted_store: Path | None = None) -> DecisionResult:
    """The reopen job (reopen_flow), its reason sealed from Prefect."""
    return reopen_flow(period, pilot_id, by, sealed(reason), registry_dir, warehouse_path, out_dir, as_of, wait, key,
                       restricted_store)


def decide_held(action: str, submission_id: int, by: str, note: str | SecretStr | None, registry_dir: Path,
                warehouse_path: Path, out_dir: Path, as_of: date | None = None, wait: bool = False,
                key: str | None = None, restricted_store: Path | None = None) -> DecisionResult:
    """The approve/reject job (decide_held_flow), its note or reason sealed from Prefect."""
    return decide_held_flow(action, submission_id, by, sealed(note), registry_dir, warehouse_path, out_dir, as_of,
                            wait, key, restricted_store)


@flow(name="close-quarter", log_prints=False)
@refusals_as_state
def close_quarter_flow(period: str, pilot_id: str | None, by: str, note: SecretStr | None, registry_dir: Path,
                       warehouse_path: Path, out_dir: Path, as_of: date | None = None, wait: bool = False,
                       key: str | None = None, restricted_store: Path | None = None) -> DecisionResult:
    """key: the web's idempotency key, stored with the decision rows (None from the CLI).
    restricted_store: the restricted store's path (None: beside the warehouse), in every decision job.
    note: sealed (see above); call close_quarter."""
    note = _unsealed(note)
    with refusing(ValueError):  # before the lock and the job: nothing is written, no run recorded
        approval.refuse_blank(by)

    def decide(live, day, run_id):
        # The marts as of this job (today's registry and as-of date) give what "due" means and
        # the composite recorded at closing; the job builds them again afterwards with the closure.
        build_marts_task(live, day)  # a restricted pilot's composite comes from the restricted store
        with refusing(LookupError, ValueError):
            closed, skipped = approval.close_quarter(live.con, period, pilot_id, by, note, day, _now(), run_id,
                                                     _other_stores(live), key, texts=_texts(live))
        return {"closed": closed, "skipped": skipped}

    return _decision_job("close", registry_dir, warehouse_path, out_dir, as_of, wait, decide, key, restricted_store)


@flow(name="reopen", log_prints=False)
@refusals_as_state
def reopen_flow(period: str, pilot_id: str, by: str, reason: SecretStr, registry_dir: Path, warehouse_path: Path,
                out_dir: Path, as_of: date | None = None, wait: bool = False, key: str | None = None,
                restricted_store: Path | None = None) -> DecisionResult:
    """reason: sealed (see above); call reopen."""
    reason = _unsealed(reason)
    with refusing(ValueError):
        approval.refuse_blank(by, reason, reason_required=True)

    def decide(live, day, run_id):
        with refusing(LookupError, ValueError):
            approval.reopen_quarter(live.con, period, pilot_id, by, reason, _now(), run_id, _other_stores(live), key,
                                    texts=_texts(live))
        return {}

    return _decision_job("reopen", registry_dir, warehouse_path, out_dir, as_of, wait, decide, key, restricted_store)


@flow(name="decide-held-file", log_prints=False)
@refusals_as_state
def decide_held_flow(action: str, submission_id: int, by: str, note: SecretStr | None, registry_dir: Path,
                     warehouse_path: Path, out_dir: Path, as_of: date | None = None, wait: bool = False,
                     key: str | None = None, restricted_store: Path | None = None) -> DecisionResult:
    """approve or reject one held file. note: sealed (see above); call decide_held."""
    note = _unsealed(note)
    with refusing(ValueError):
        approval.refuse_blank(by, note, reason_required=(action == "reject"))

    def decide(live, day, run_id):
        side = live.restricted
        if side is not None and side.con.execute("SELECT count(*) FROM ingest.submissions WHERE submission_id = ?",
                                                 [submission_id]).fetchone()[0]:
            # A restricted pilot's file: decided in the restricted store, its decision row there.
            with refusing(LookupError, ValueError):
                return {"decided": approval.decide(side.con, submission_id, action, by, note, _now(), run_id,
                                                   (live.con,), key)}
        with refusing(LookupError, ValueError):
            return {"decided": approval.decide(live.con, submission_id, action, by, note, _now(), run_id,
                                               _other_stores(live), key)}

    return _decision_job(action, registry_dir, warehouse_path, out_dir, as_of, wait, decide, key, restricted_store)
