"""The restricted store's marts built beside the open ones (flows/nightly.py _RestrictedBuild): the
open build reads the restricted store only once that build has ended, and its error is not lost.
Whole nights with a restricted store, equal to a full rebuild in both stores, are
tests/test_incremental.py's; a failure at the marts is tests/test_messages_stay.py's."""
from __future__ import annotations

import threading

import pytest

from flows.nightly import _AfterRestricted, _RestrictedBuild
from warehouse.restricted import OPEN_MARTS


def test_the_open_build_waits_for_the_restricted_marts_only_where_it_reads_them():
    release, finished = threading.Event(), []

    def build():
        release.wait(10)
        finished.append("restricted marts")

    side = _RestrictedBuild(build)
    extra = _AfterRestricted(side, lambda: {name: {f"restricted:marts.{name}": name} for name in OPEN_MARTS})
    # The marts before the first OPEN_MART take nothing from the restricted store: no wait.
    assert extra and extra.get("due_periods", {}) == {} and extra.get("kpi_scores", {}) == {}
    assert finished == []
    release.set()
    # The first OPEN_MART's key reads the restricted rows after the restricted build ended.
    assert extra.get("pilot_scores", {}) == {"restricted:marts.pilot_scores": "pilot_scores"}
    assert finished == ["restricted marts"]
    side.done()


def test_an_error_of_the_restricted_build_is_raised_where_the_open_build_needs_its_marts():
    def build():
        raise ValueError("restricted mart failed")

    side = _RestrictedBuild(build)
    extra = _AfterRestricted(side, lambda: {})
    with pytest.raises(ValueError, match="restricted mart failed"):
        extra.get("reporting_compliance", {})
    side.done()  # raised once: the job's error path goes on from there
