"""Process-wide settings that must be in place before Prefect or Great Expectations is imported.

Chosen in this one place so no other module branches on the environment.
"""
from __future__ import annotations

import os

QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def apply_defaults() -> None:
    for key, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
