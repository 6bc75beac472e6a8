"""A job's masked refusal (pilots/registry_problems.py load_for_job) holds nothing of the whole one,
not even through its traceback (reviewer RV11 F2): a handler that prints each frame's locals (rich's
show_locals, Sentry, pytest --showlocals) must find no unmasked RegistryError there, nor the
restricted pilot's values.

The fixture's PLT-2548-001 is restricted (tests/data/registry/valid): its E2 weight 37.5 -> 37.4
makes its weights add up to 99.9, a problem that quotes its values."""
from __future__ import annotations

import pytest

from pilots.registry import RegistryError, RegistryProblem
from pilots.registry_problems import MaskedProblem, load_for_job
from tests.test_registry import P1, copy_valid, replace

SECRET = "99.9"  # the restricted pilot's weights' total, as its problem quotes it


def _values(value, depth: int = 0):
    """value and what it holds (containers, an exception's problems), a few levels down."""
    yield value
    if depth < 3 and isinstance(value, (list, tuple, set, dict)):
        for v in (value.values() if isinstance(value, dict) else value):
            yield from _values(v, depth + 1)


def test_the_masked_refusals_frames_hold_no_unmasked_error(tmp_path):
    folder = copy_valid(tmp_path)
    replace(P1, "weight: 37.5", "weight: 37.4")(folder)
    with pytest.raises(RegistryError) as caught:
        load_for_job(folder, None)
    raised = caught.value
    assert [type(p) for p in raised.problems] == [MaskedProblem] and SECRET not in str(raised)
    assert raised.__cause__ is None and raised.__context__ is None
    tb, frames = raised.__traceback__, []
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        for name, value in tb.tb_frame.f_locals.items():
            for v in _values(value):
                assert not (isinstance(v, RegistryError) and v is not raised), (frames[-1], name)
                assert not (isinstance(v, RegistryProblem) and not isinstance(v, MaskedProblem)), (frames[-1], name)
                assert SECRET not in repr(v), (frames[-1], name)
        tb = tb.tb_next
    assert "load_for_job" in frames  # the frame that held the whole error is walked
