"""Great Expectations' repeated bookkeeping inside one validation run, done once (issue 22, GE's share).

A GE run (`Validator.validate_expectation_suite`) spends most of its fixed cost per expectation
not on the data but on rebuilding the same objects (measured on the national workload's batches,
pilots/checks.py's five parts: about two thirds of GE's time is this fixed cost, whatever the rows):

- `Expectation.configuration` is a property that serialises the whole pydantic model again at
  every read (`self.dict()`, then a new ExpectationConfiguration); one run reads it about 70 times
  per expectation (every `_get_domain_kwargs`, `_get_success_kwarg`, `get_metric_kwargs`, ...);
- `ExpectationConfiguration.to_domain_obj` builds (and pydantic validates) a new Expectation from
  the same configuration for every metric it asks about;
- a row condition filters the batch with `DataFrame.query` (pandas parses the expression again)
  once per metric of the expectation, and again for each expectation with the same condition;
- loading the batch fingerprints the whole frame (`hash_pandas_dataframe`: pandas' hash of every
  cell, then MD5) for a batch marker, `pandas_data_fingerprint`, that only the validation
  result's `meta` carries; pilotkpi reads the results' verdicts and failing rows, never their
  meta. Inside `remembering()` the marker says "not computed" instead (measured on national
  batches: about 6 ms a part, ~0.8 CPU s of the full night's flow process; docs/scale-out.md,
  "The flow process's own work").

`remembering()` makes each of the first three compute once per object within one run (and
leaves the fingerprint out), in the thread that validates only (thread-local: GE's warm-up
thread, flows/early.py, never sees it), and forgets everything when the run ends. Each memo keeps
the object it was computed for alive, so an id is never reused while it is remembered. Nothing GE
computes changes but that marker: the same objects would be built from the same, unchanged inputs
(GE does not change an expectation, a configuration or the batch frame during a run; the checks'
tests and the national bench compare every defect with GE's own path, `remembering` off). The
patches are installed once, on the GE version pilotkpi locks (requirements.lock); with another,
`remembering()` does nothing and GE runs as it comes.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# The GE release whose internals these memos were read from (great_expectations 1.24.x).
GE_SERIES = "1.24."
# The batch marker's value when the fingerprint is left out (module doc).
NO_FINGERPRINT = "not computed (pilotkpi: only the results' verdicts and failing rows are read)"

_local = threading.local()
_installed: bool | None = None  # None: not tried yet; False: this GE is not the one read
_install_lock = threading.Lock()


def _memo() -> dict | None:
    return getattr(_local, "memo", None)


def _remembered(kind: str, owner: Any, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` once per (kind, owner object, key) within the current run; computed afresh
    outside `remembering()`."""
    memo = _memo()
    if memo is None:
        return compute()
    slot = (kind, id(owner), key)
    held = memo.get(slot)
    if held is None or held[0] is not owner:
        held = memo[slot] = (owner, compute())
    return held[1]


def _install() -> bool:
    """Wrap the three GE methods and the fingerprint (once per process); False when GE is not the
    version read."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        import great_expectations
        from great_expectations.execution_engine import pandas_execution_engine
        from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
        from great_expectations.expectations.expectation import Expectation
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        configuration = Expectation.__dict__.get("configuration")
        to_domain_obj = ExpectationConfiguration.__dict__.get("to_domain_obj")
        row_filter = PandasExecutionEngine.__dict__.get("_apply_row_condition_filter")
        fingerprint = getattr(pandas_execution_engine, "hash_pandas_dataframe", None)
        _installed = (great_expectations.__version__.startswith(GE_SERIES) and isinstance(configuration, property)
                      and callable(to_domain_obj) and callable(row_filter) and callable(fingerprint))
        if not _installed:
            return False

        build_configuration = configuration.fget

        def remembered_configuration(self: Any) -> Any:
            return _remembered("configuration", self, None, lambda: build_configuration(self))

        def remembered_domain_obj(self: Any) -> Any:
            return _remembered("domain_obj", self, None, lambda: to_domain_obj(self))

        def remembered_row_filter(self: Any, data: Any, row_condition: Any, domain_kwargs: dict) -> Any:
            # Keyed by the frame and the condition as GE serialises it (a dict, a Condition or the
            # pandas text), with the condition parser the text is read with.
            key = (repr(row_condition), domain_kwargs.get("condition_parser"))
            return _remembered("row_filter", data, key, lambda: row_filter(self, data, row_condition, domain_kwargs))

        def fingerprint_outside_runs(df: Any) -> str:
            # get_batch_data_and_markers looks the function up in its module at each load.
            return NO_FINGERPRINT if _memo() is not None else fingerprint(df)

        Expectation.configuration = property(remembered_configuration, doc=configuration.__doc__)
        ExpectationConfiguration.to_domain_obj = remembered_domain_obj
        PandasExecutionEngine._apply_row_condition_filter = remembered_row_filter
        pandas_execution_engine.hash_pandas_dataframe = fingerprint_outside_runs
        return True


@contextmanager
def remembering() -> Iterator[bool]:
    """Within: GE's repeated bookkeeping computed once per object (module doc), in this thread.
    Yields whether the memos are on (False: a GE version they were not read from)."""
    if not _install() or _memo() is not None:  # not this GE, or already inside a run
        yield bool(_installed) and _memo() is not None
        return
    _local.memo = {}
    try:
        yield True
    finally:
        _local.memo = None
