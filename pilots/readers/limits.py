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
    # What one workbook may cost once opened (issue 24 item 9). A real report has 60-400 lines of
    # 12 columns: at most ~5,000 cells and as many distinct strings, well under 1 MB of them. The
    # bounds leave room for a report at the row limit (100,000 lines); past them openpyxl would
    # spend minutes and gigabytes (1,000,000 strings took 12 s; 122 MB of strings 55 s and 1 GB).
    max_shared_strings: int = 250_000           # entries of the shared-strings table
    max_shared_strings_bytes: int = 48 * 1024 * 1024  # its part, inflated (declared in the zip)
    # The styles part (xl/styles.xml), which openpyxl parses whole into one object per element
    # when the workbook opens: 1,000,000 <xf/> entries (62 MB, in a 1.2 MB file) took 15 s and
    # 855 MB. Excel itself caps a workbook at 64,000 cell formats; a real report's styles hold
    # under a thousand elements.
    max_style_elements: int = 250_000           # elements of the styles part
    max_styles_bytes: int = 16 * 1024 * 1024    # the styles part, inflated (declared in the zip)
    max_cells: int = 2_000_000    # cells of the report sheet, each row counted to its last cell
    # XML elements of the report sheet that openpyxl would hold at once (xlsx_reader._RowsOnlyParser):
    # those of one row (with any before it since the last row), and those outside every row. A
    # report's row holds 12-40 (a cell is 2-3: <c><v>, <c><is><t>), and Excel's widest row 16,384
    # cells; the part around the rows (views, columns, merged cells) a few dozen to a few hundred.
    # 250,000 elements held are ~25 MB; 200,000 conditional formats took 20 s and 330 MB.
    max_row_elements: int = 250_000
    max_other_elements: int = 100_000
    # XML elements of the workbook's other parts that openpyxl parses whole on opening (the
    # workbook part, relationships, properties; xlsx_reader._check_other_parts): a few hundred in
    # a real one; 1,000,000 defined names took 14 s and 892 MB.
    max_part_elements: int = 100_000
    max_read_seconds: float = 60.0  # reading one workbook, checked between rows (the backstop)


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
    max_shared_strings=_env_int("PILOTKPI_MAX_SHARED_STRINGS", 250_000),
    max_shared_strings_bytes=_env_int("PILOTKPI_MAX_SHARED_STRINGS_BYTES", 48 * 1024 * 1024),
    max_style_elements=_env_int("PILOTKPI_MAX_STYLE_ELEMENTS", 250_000),
    max_styles_bytes=_env_int("PILOTKPI_MAX_STYLES_BYTES", 16 * 1024 * 1024),
    max_cells=_env_int("PILOTKPI_MAX_CELLS", 2_000_000),
    max_row_elements=_env_int("PILOTKPI_MAX_ROW_ELEMENTS", 250_000),
    max_other_elements=_env_int("PILOTKPI_MAX_OTHER_ELEMENTS", 100_000),
    max_part_elements=_env_int("PILOTKPI_MAX_PART_ELEMENTS", 100_000),
    max_read_seconds=_env_int("PILOTKPI_MAX_READ_SECONDS", 60),
)
