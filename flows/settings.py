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


DASK_MIN_FILES_ENV = "PILOTKPI_DASK_MIN_FILES"
DASK_MIN_FILES = 2000  # new files from which a night starts a reading process by itself (flows/parallel.py)


class DaskSettingError(ValueError):
    """A Dask setting from the environment that cannot be used (said before the night starts)."""


def min_files() -> int:
    """The threshold of new files, from PILOTKPI_DASK_MIN_FILES (a whole number) or the default."""
    value = os.environ.get(DASK_MIN_FILES_ENV, "").strip()
    if not value:
        return DASK_MIN_FILES
    try:
        return int(value)
    except ValueError:
        raise DaskSettingError(f"{DASK_MIN_FILES_ENV} must be a whole number of new files (e.g. 2000), "
                               f"not {value!r}") from None
