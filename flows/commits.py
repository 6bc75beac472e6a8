"""What this process's jobs did with their commits, in order (flows/nightly.py `_job` notes them).

("committing", run_id) as a job's COMMIT starts, ("committed", run_id) once it is known kept. A job
that fails or is interrupted after its commit (its Prefect server gone, a Ctrl-C in the steps after
it) is then reported as committed, one stopped during its COMMIT as not known, never as "the
warehouse is unchanged" (verifier VC, reviewer RV6): `pilotkpi run`, the other commands
(flows/cli_common.after_the_commit) and a served night's last line read it. A module of its own,
importing nothing: the commands read it without importing the job.
"""
from __future__ import annotations

_commit_events: list[tuple[str, str]] = []


def note_commit(what: str, run_id: str) -> None:
    _commit_events.append((what, run_id))


def commit_mark() -> int:
    """Where the commits stand now: committed_since(mark) lists the runs committed after it."""
    return len(_commit_events)


def committed_since(mark: int) -> list[str]:
    return [run for what, run in _commit_events[mark:] if what == "committed"]


def committing_since(mark: int) -> list[str]:
    """Runs whose COMMIT started after `mark` and is not known kept (stopped during it)."""
    done = set(committed_since(mark))
    return [run for what, run in _commit_events[mark:] if what == "committing" and run not in done]
