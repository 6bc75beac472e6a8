"""Shared fixtures: one Prefect test server for the session, and a migrated in-memory warehouse."""
from __future__ import annotations

import os

import pytest

from flows.settings import apply_defaults

apply_defaults()
# Test inboxes are written whole before a run: no settle wait (tests/test_inbox.py sets its own).
os.environ.setdefault("PILOTKPI_SETTLE_SECONDS", "0")
os.environ.setdefault("PREFECT_HOME", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "prefect"))
os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)  # Prefect warns when it has to create it itself


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect server for every test that runs a flow (starting one costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def warehouse():
    from warehouse.db import connect

    con = connect(":memory:")
    yield con
    con.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, prefect_harness):
    """The README's demo, run once: (folder, CLI result). Shared by every test that reads it."""
    from click.testing import CliRunner

    from flows.cli import main

    folder = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    return folder, result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped contract test is a failure: the contract must hold on a fresh clone."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("contract"):
        report.outcome = "failed"
        report.longrepr = f"contract test {item.nodeid} was skipped under CI=true"
