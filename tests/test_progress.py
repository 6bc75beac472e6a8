"""Progress: a bar on a terminal, plain log lines (through the given logger) elsewhere."""
from __future__ import annotations

import io
import logging

from flows.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal():
    out = Terminal()
    p = Progress(4, "files", logging.getLogger("unused"), stream=out)
    p.advance(1)
    p.advance(3)
    p.close()
    assert out.getvalue() == ("\r[#######.......................] 1/4 files"
                              "\r[##############################] 4/4 files\n")


def test_log_lines_under_cron(caplog):
    out = io.StringIO()  # not a terminal
    logger = logging.getLogger("pilotkpi-test")
    with caplog.at_level(logging.INFO, logger="pilotkpi-test"):
        p = Progress(1000, "files", logger, stream=out, every_seconds=3600)
        for _ in range(4):
            p.advance(250)
        p.close()
    assert out.getvalue() == ""
    # The first batch and the last are logged; the ones between fall inside the interval.
    assert [r.getMessage() for r in caplog.records] == ["ingested 250/1000 files", "ingested 1000/1000 files"]
