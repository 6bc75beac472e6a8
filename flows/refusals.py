"""Expected refusals: one line for the operator, and no traceback on the terminal.

A refusal is a job saying no to what it was asked (a broken registry, a second decision on one
file, an unknown id, a period not yet due), not a fault of the program. Prefect logs every
exception that leaves a flow at ERROR with its traceback, and the terminal showed some 30 lines
before the CLI's own one-line reason. A flow wrapped in `refusals_as_state` returns a refusal as
a Failed state instead: the flow run still ends Failed with the reason as its message, calling the
flow still raises the same exception (so the commands keep their exit codes and their line), and
the traceback goes to the flow run's log at DEBUG only. Every job's flow is wrapped; this module
is the one place that says what counts as expected.
"""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Callable, Iterator


# One refusal type for the whole engine: warehouse/errors.py's, which the message guard also knows
# (its text may name a file, never quote a figure).
from warehouse.errors import Refusal as Refused  # noqa: E402


def is_expected(exc: BaseException) -> bool:
    from pilots.registry import RegistryError
    from warehouse.errors import WarehouseRefused
    from warehouse.lock import RunLocked

    return isinstance(exc, (Refused, RegistryError, WarehouseRefused, RunLocked))  # Refusal covers NotFound


@contextmanager
def refusing(*kinds: type[Exception]) -> Iterator[None]:
    """Turn these exceptions, raised by a check inside the block, into a Refused with their text.

    Used around the library calls whose LookupError/ValueError say why a request is refused
    (pilots/approval.py, Ingestor.reprocess), not around whole jobs: an unexpected ValueError
    elsewhere keeps its traceback."""
    try:
        yield
    except kinds as exc:
        raise Refused(str(exc)) from exc


def _traced(exc: BaseException) -> str:
    """The refusal and its traceback for the DEBUG log, as `exc_info` would write them but with the
    exception's text through printable: it may quote a file name (an agency's text, control and
    bidi characters and all), which Prefect's console and log pass on as they are. The frames are
    the program's own; the exception it was raised from (a LookupError quoting the same name) is left out."""
    import traceback

    from warehouse.personal import printable

    text = printable(str(exc))
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"{text}\nTraceback (most recent call last):\n{frames}{type(exc).__module__}.{type(exc).__qualname__}: {text}"


def refusals_as_state(fn: Callable) -> Callable:
    """Wrap a flow function (under `@flow`) so an expected refusal ends the run without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_expected(exc):
                raise
            from prefect import get_run_logger
            from prefect.states import Failed

            get_run_logger().debug("refused: %s", _traced(exc))
            return Failed(message=str(exc), data=exc)

    # Prefect builds the run's parameter model from the signature; the flow module's annotations
    # are strings (PEP 563) that only resolve in that module, so they are resolved here.
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)
    return wrapper
