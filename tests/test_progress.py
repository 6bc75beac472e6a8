"""Progress: rich's bar on a terminal, plain log lines (through the given logger) elsewhere.

Time comes from an injected clock, so nothing here depends on how long the machine has been up.
"""
from __future__ import annotations

import io
import logging
import re

import pytest

from flows.progress import Progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOGGER = "pilotkpi-test-progress"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plain_terminal(monkeypatch):
    """An 80-column xterm whatever the developer's or CI's terminal settings are."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM", "LINES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")


def test_a_bar_on_a_terminal(plain_terminal, caplog):
    out, clock = Terminal(), FakeClock(0.0)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with Progress(4, "files", logging.getLogger(LOGGER), stream=out, clock=clock) as p:
            clock.now = 1.0
            p.advance(1)
            clock.now = 3.0
            p.advance(3)
    raw = out.getvalue()
    frames = [ANSI.sub("", f) for f in raw.split("\r")]
    shown = [m.groups() for f in frames if (m := re.fullmatch(r"ingest ([━╺╸]{40}) (\d)/4 files (\S+)\n?", f))]
    assert len(shown) == len(frames)  # every frame is the one-line bar
    # 0/4 at start, then one frame per advance; elapsed time from the injected clock.
    assert [(n, t) for _, n, t in shown][:3] == [("0", "0:00:00"), ("1", "0:00:01"), ("4", "0:00:03")]
    assert shown[1][0].startswith("━" * 10 + "╺")  # a quarter of the 40-cell bar
    assert raw.endswith("\n\x1b[?25h")  # the last frame stays, the cursor comes back
    assert caplog.records == []  # the bar replaces the log lines


def test_the_bar_ends_when_the_run_fails(plain_terminal):
    out = Terminal()
    with pytest.raises(RuntimeError):
        with Progress(4, "files", logging.getLogger(LOGGER), stream=out, clock=FakeClock(0.0)) as p:
            p.advance(1)
            raise RuntimeError("ingest failed")
    assert out.getvalue().count("\x1b[?25l") == 1 and out.getvalue().endswith("\x1b[?25h")


def test_no_bar_for_an_empty_inbox(plain_terminal):
    out = Terminal()
    with Progress(0, "files", logging.getLogger(LOGGER), stream=out, clock=FakeClock(0.0)):
        pass
    assert out.getvalue() == ""


def log_lines(caplog, start: float, steps: list[tuple[float, int]], every: float = 10.0) -> list[str]:
    out, clock = io.StringIO(), FakeClock(start)  # not a terminal
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with Progress(1000, "files", logging.getLogger(LOGGER), stream=out, every_seconds=every, clock=clock) as p:
            for at, n in steps:
                clock.now = at
                p.advance(n)
    assert out.getvalue() == ""
    return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("boot", [0.0, 5.0, 86_400.0])
def test_log_lines_from_the_first_batch_whatever_the_uptime(caplog, boot):
    """A clock at 0.0 (just booted) or 5 s logs the first batch too; then one line per 10 s and the last."""
    steps = [(boot, 250), (boot + 4, 250), (boot + 10, 250), (boot + 11, 250)]
    assert log_lines(caplog, boot, steps) == ["ingested 250/1000 files", "ingested 750/1000 files",
                                              "ingested 1000/1000 files"]


def test_log_lines_under_cron_with_the_real_clock(caplog):
    """The default clock: the first batch and the last are logged, the ones between fall inside the hour."""
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with Progress(1000, "files", logging.getLogger(LOGGER), stream=out, every_seconds=3600) as p:
            for _ in range(4):
                p.advance(250)
    assert [r.getMessage() for r in caplog.records] == ["ingested 250/1000 files", "ingested 1000/1000 files"]
