"""Limits that keep hostile files from stalling the nightly run. Configurable through the
environment so that an operator can raise them without a release.

Code reads `LIMITS.<name>` at call time (never copies a value at import), so that one object is
the whole configuration; tests lower a limit with `monkeypatch.setattr(LIMITS, ...)`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Limits:
    max_file_bytes: int           # any received file; checked with stat before it is read
    max_inflated_bytes: int       # an xlsx after decompression, all parts together
    max_member_bytes: int         # one part of an xlsx after decompression
    max_compression_ratio: int    # inflated / compressed size of an xlsx
    max_rows: int                 # data rows in one report


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


LIMITS = Limits(
    max_file_bytes=_env_int("PILOTKPI_MAX_FILE_BYTES", 20 * 1024 * 1024),
    max_inflated_bytes=_env_int("PILOTKPI_MAX_INFLATED_BYTES", 200 * 1024 * 1024),
    # A 100,000-row report (the row limit) with a 90-character Thai note on each line, written
    # by openpyxl with inline strings, has an 85 MB sheet part (measured); 128 MiB leaves room.
    # Excel and LibreOffice would split it into a smaller sheet part plus shared strings (estimated
    # ~55 MB and ~35 MB).
    max_member_bytes=_env_int("PILOTKPI_MAX_MEMBER_BYTES", 128 * 1024 * 1024),
    max_compression_ratio=_env_int("PILOTKPI_MAX_COMPRESSION_RATIO", 200),
    max_rows=_env_int("PILOTKPI_MAX_ROWS", 100_000),
)
