"""Prefect's part of a night and nothing of ours: one flow run with one task run (bench/prefect_floor.py)."""
from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

FLOW_NAME = "prefect-floor"


@task(name="one-task", cache_policy=NO_CACHE)  # as the nightly flow's tasks: nothing cached
def one_task() -> int:
    return 1


# The served nights' parameters (bench/served.py passes them to every deployment run); unused.
@flow(name=FLOW_NAME, log_prints=False)
def empty_night(as_of: str | None = None, settle_seconds: float | None = None) -> int:
    return one_task()
