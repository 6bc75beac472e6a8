"""Shared fixtures: one Prefect test server for the session, and a migrated in-memory warehouse.

`make test` runs the suite on xdist workers (`-n auto --dist loadgroup`): each worker has its own
session fixtures (its own Prefect test server), a file's tests stay together, and tests marked
`tests.support.SERIAL` run one after another on one worker. `--reverse-order` and
`--shuffle-seed N` change the order.
"""
from __future__ import annotations

import gc
import os
import random
import shutil

import pytest

from flows.settings import apply_defaults
from tests.support import LONG_GROUPS, LONG_GROUPS_APART

apply_defaults()
# The developer's own settings (limits, a pause point) must not change the tests; only the browser's
# path may come from outside (tests/test_browser.py).
for _name in [n for n in os.environ if n.startswith("PILOTKPI_") and n != "PILOTKPI_CHROMIUM"]:
    del os.environ[_name]
# Test inboxes are written whole before a run: no settle wait (tests/test_inbox.py sets its own).
os.environ["PILOTKPI_SETTLE_SECONDS"] = "0"
# Inside the checkout, whatever the developer's PREFECT_HOME (not ~/.prefect, not a fixed /tmp name),
# one per xdist worker so workers share no Prefect state; created here because Prefect warns when it
# has to create it itself.
os.environ["PREFECT_HOME"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".pytest_cache",
                                          "prefect", os.environ.get("PYTEST_XDIST_WORKER", "main"))
os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)


def pytest_addoption(parser):
    group = parser.getgroup("pilotkpi order", "run the tests in another order, to show none depends on it")
    group.addoption("--reverse-order", action="store_true", help="run the collected tests last to first")
    group.addoption("--shuffle-seed", type=int, default=None, help="run the tests in a random order from this seed")


def pytest_itemcollected(item):
    """Under `--dist loadgroup`, a file's tests stay on one worker (its module fixtures are set up
    once); a test marked SERIAL or SERVER too, unless tests/support.py LONG_GROUPS_APART."""
    if item.get_closest_marker("xdist_group") is None:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_collection_modifyitems(config, items):
    if config.getoption("--shuffle-seed") is not None:
        random.Random(config.getoption("--shuffle-seed")).shuffle(items)  # the same order on every xdist worker
    if config.getoption("--reverse-order"):
        items.reverse()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The longest groups first (the Makefile turns xdist's reorder by group size off); when the
        # SERIAL and SERVER tests stay with their files, those files first, each file's tests in order.
        def rank(item) -> int:
            group = item.get_closest_marker("xdist_group").args[0]
            return LONG_GROUPS.index(group) if group in LONG_GROUPS else len(LONG_GROUPS)

        if LONG_GROUPS_APART:
            items.sort(key=rank)
        else:
            file_rank: dict[str, int] = {}
            for item in items:
                path = item.nodeid.split("::")[0]
                file_rank[path] = min(file_rank.get(path, len(LONG_GROUPS)), rank(item))
            items.sort(key=lambda item: file_rank[item.nodeid.split("::")[0]])
    if getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        _groups_in_node_ids(items)


def _groups_in_node_ids(items) -> None:
    """Put each test's xdist group into its node id ("path::test@group"), which is where
    `--dist loadgroup` reads it. pytest-xdist 3.8 writes `item._nodeid`, which pytest 9.2 no longer
    reads (the id is `item._id`): without this every test was a unit of its own, so a file's module
    fixtures were built on both workers (tests/support.py LONG_GROUPS_APART for SERIAL and SERVER)."""
    from _pytest.nodeid import NodeId

    for item in items:
        if item.nodeid.rfind("@") > item.nodeid.rfind("]"):  # already suffixed (xdist's own test; not a parameter's "@")
            continue
        group = item.get_closest_marker("xdist_group").args[0]
        if group in LONG_GROUPS and not LONG_GROUPS_APART:
            group = item.nodeid.split("::")[0]  # its file's group
        item._id = NodeId.parse(f"{item.nodeid}@{group}")


_frozen_at = [None]  # the test file whose first test last froze the heap


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before each test file's first test: what is alive then (imported modules, Prefect, the
    session's fixtures, the collected tests) is collected once and frozen out of the garbage
    collector's later walks (gc.freeze, as flows/program.py does for the program). Every full
    collection in this process walked that whole heap, some 500,000 objects: 0.28 s each, and each
    failed or refused job in-process asks for one (flows/outcome.py `release`). The previous file's
    module fixtures are torn down by then, so they are collected, not frozen; what a test makes is
    collected as before."""
    path = item.nodeid.split("::")[0]
    if path != _frozen_at[0]:
        _frozen_at[0] = path
        gc.collect()
        gc.freeze()


def pytest_unconfigure(config):
    gc.unfreeze()  # the interpreter's own teardown then collects everything, as without the freeze


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect server for every test that runs a flow (starting one costs seconds). Its flow
    runs send no heartbeats, as on a job's own temporary server (flows/nightly.py nightly_settings):
    Prefect joins the heartbeat thread, which sleeps in 1 s steps, at each flow run's end, an idle
    wait of up to a second per job in this process. Nothing else is changed (other tests read
    Prefect's client defaults); child processes keep Prefect's defaults."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90), \
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
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


@pytest.fixture(scope="session")
def scenario_night(tmp_path_factory, prefect_harness):
    """tests/test_flow.py's scenario after its first night (`run_cli`), run once per worker and never
    changed: a test that starts from that night reads a copy (`scenario_copy`)."""
    from tests.test_flow import make_scenario, run_cli

    root = tmp_path_factory.mktemp("scenario-night")
    registry, inbox = make_scenario(root)
    code, output = run_cli(registry, inbox, root)
    assert code == 0, output
    return root


@pytest.fixture
def scenario_copy(scenario_night, tmp_path):
    """scenario_night copied into this test's tmp_path (registry, inbox, wh.duckdb and its files,
    out), as if the night had run there: (registry, inbox)."""
    shutil.copytree(scenario_night, tmp_path, dirs_exist_ok=True)
    return tmp_path / "registry", tmp_path / "inbox"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped contract test is a failure: the contract must hold on a fresh clone."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("contract"):
        report.outcome = "failed"
        report.longrepr = f"contract test {item.nodeid} was skipped under CI=true"
