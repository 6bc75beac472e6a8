"""Helpers that keep tests independent of where and how pytest was started."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# The checkout under test, wherever pytest runs from (never os.getcwd(): from another checkout's
# folder a child process would import that checkout's code).
ROOT = Path(__file__).resolve().parent.parent

# Tests that start their own Prefect server or child processes, or measure time, run one after
# another on one xdist worker (`--dist loadgroup`, see the Makefile), never beside each other.
SERIAL_GROUP = "serial"
SERIAL = pytest.mark.xdist_group(SERIAL_GROUP)
# The served-schedule test mostly waits for its cron minute: in a group of its own, so its worker
# is free for other files afterwards instead of holding up the SERIAL ones.
SERVER_GROUP = "server"
SERVER = pytest.mark.xdist_group(SERVER_GROUP)
LONG_GROUPS = (SERVER_GROUP, SERIAL_GROUP)  # started first, in this order


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child Python that must import this checkout's code:
    ROOT first on its path, and not the current directory (PYTHONSAFEPATH, Python 3.11)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra)
    return env
