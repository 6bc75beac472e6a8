"""Limits that keep hostile files from stalling the nightly run. Configurable through the
environment so that an operator can raise them without a release."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int           # any received file
    max_inflated_bytes: int       # an xlsx after decompression
    max_compression_ratio: int    # inflated / compressed size of an xlsx
    max_rows: int                 # data rows in one report


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


LIMITS = Limits(
    max_file_bytes=_env_int("PILOTKPI_MAX_FILE_BYTES", 20 * 1024 * 1024),
    max_inflated_bytes=_env_int("PILOTKPI_MAX_INFLATED_BYTES", 200 * 1024 * 1024),
    max_compression_ratio=_env_int("PILOTKPI_MAX_COMPRESSION_RATIO", 200),
    max_rows=_env_int("PILOTKPI_MAX_ROWS", 100_000),
)
