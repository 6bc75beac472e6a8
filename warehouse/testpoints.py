"""Named points where a crash test can stop the job and kill it (tests/test_crash_kill.py), or
where a test makes the job fail (tests/test_messages_stay.py).

Inert unless PILOTKPI_PAUSE_AT names the point: then the process writes the file named by
PILOTKPI_PAUSE_MARKER and sleeps, so the test can SIGKILL it exactly there; it goes on once the
file named by PILOTKPI_PAUSE_RESUME exists, if one is named (a test that kills another process
while this one waits, then lets it go on). PILOTKPI_FAIL_AT
naming the point raises RuntimeError(PILOTKPI_FAIL_MESSAGE) there instead: an error whose text
quotes whatever the test puts in it (a restricted file's name, a figure). Importable from every
package (flows, kpis, pilots and warehouse all import warehouse).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_SECONDS = 120


def pause_point(name: str) -> None:
    if os.environ.get("PILOTKPI_FAIL_AT") == name:
        raise RuntimeError(os.environ.get("PILOTKPI_FAIL_MESSAGE", f"failed at test point {name}"))
    if os.environ.get("PILOTKPI_PAUSE_AT") != name:
        return
    marker = os.environ.get("PILOTKPI_PAUSE_MARKER")
    if marker:  # whole or absent: a test that sees the file reads the pid (a rename, never a half-written file)
        partial = Path(f"{marker}.{os.getpid()}.tmp")
        partial.write_text(f"{os.getpid()} {name}\n", encoding="utf-8")
        partial.replace(marker)
    resume = os.environ.get("PILOTKPI_PAUSE_RESUME")
    deadline = time.monotonic() + PAUSE_SECONDS
    while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
        time.sleep(0.05 if resume else PAUSE_SECONDS)
