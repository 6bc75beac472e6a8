"""Helpers that keep tests independent of where and how pytest was started."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# The checkout under test, wherever pytest runs from (never os.getcwd(): from another checkout's
# folder a child process would import that checkout's code).
ROOT = Path(__file__).resolve().parent.parent

# Tests that start their own Prefect server or child processes, or measure time (SERIAL), and the
# served-schedule tests, which mostly wait for their cron minute (SERVER): their files start first
# (tests/conftest.py), the SERVER ones before the SERIAL ones, so the last files to run are short ones.
SERIAL_GROUP = "serial"
SERIAL = pytest.mark.xdist_group(SERIAL_GROUP)
SERVER_GROUP = "server"
SERVER = pytest.mark.xdist_group(SERVER_GROUP)
LONG_GROUPS = (SERVER_GROUP, SERIAL_GROUP)  # started first, in this order
# Whether the SERIAL (SERVER) tests run one after another on one worker, never beside each other.
# They never did until 2026-12-05 (pytest 9.2 ignored xdist's groups: tests/conftest.py), and every
# measured suite time so far is of them beside each other: they are about half the suite's time,
# so on one worker they alone would set the wall (more than 15 min on the slow machine). With False
# each stays with its file's tests (its module fixtures built once), on either worker.
LONG_GROUPS_APART = False


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child Python that must import this checkout's code:
    ROOT first on its path, and not the current directory (PYTHONSAFEPATH, Python 3.11)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra)
    return env
