"""The one exception for a warehouse file that cannot be used as it is."""
from __future__ import annotations

from pathlib import Path


class WarehouseRefused(Exception):
    """Refused before anything is written: the CLI prints `pilotkpi: <path>: <reason>` and exits 1.

    Holds only text (no DuckDB object), so the exception keeps no connection alive.
    """

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason
