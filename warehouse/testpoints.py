"""Named points where a crash test can stop the job and kill it (tests/test_crash_kill.py).

Inert unless PILOTKPI_PAUSE_AT names the point: then the process writes the file named by
PILOTKPI_PAUSE_MARKER and sleeps, so the test can SIGKILL it exactly there. Importable from every
package (flows, kpis, pilots and warehouse all import warehouse).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_SECONDS = 120


def pause_point(name: str) -> None:
    if os.environ.get("PILOTKPI_PAUSE_AT") != name:
        return
    marker = os.environ.get("PILOTKPI_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(f"{os.getpid()} {name}\n", encoding="utf-8")
    time.sleep(PAUSE_SECONDS)
