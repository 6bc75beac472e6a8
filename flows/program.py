"""What only the `pilotkpi` program's own process does: never a command invoked in-process (click's
test runner, the tests), only `main()` called with no arguments (the console script, `python -m
flows.cli`: flows/cli_common.py RefusingGroup.__call__ says so, `started`).

**Imports kept out of the garbage collector** (`imports_kept`). Prefect, pydantic and the job's
modules create about 190,000 objects that live as long as the process; Python's collector walked
them all at each of its full collections, five during a quiet night at 400 pilots, and collected
0.5 s of CPU in all (measured with gc.callbacks, a load of 10). The job's imports run with the
collector off (an import makes little garbage) and their objects are then frozen (gc.freeze:
never walked again, nor freed, as they never would be): 0.1 s of collecting left. Garbage the
job makes is collected as before.

**The short exit** (`after_this_command`). Python ends a process in this order (Py_FinalizeEx):
it waits for the non-daemon threads and runs the threads' exit hooks (Prefect's log and event
workers send what they still hold to the API there), then the atexit handlers (Prefect's,
Dask's, the temporary server's, logging's), then it flushes stdout and stderr, and then it tears
the interpreter down: every module's namespace cleared and the whole heap collected several
times. That last part writes nothing and sends nothing; after a night it is Prefect's,
pydantic's and DuckDB's heap being freed one object at a time: 2.5-2.9 s from the last exit
handler to the process's end at a load of 10 on this 2-core machine, 0.05-0.07 s with the short
exit (a quiet night at 40 pilots, 2026-12-05). `run` and `demo` ask for it. The handler
registered here, when this module is first imported (before any other handler: flows/cli.py
imports it first), runs after all the others, flushes logging and the standard streams and ends
the process with the command's exit code (os._exit). What the teardown would have done and is
not needed: closing files still open (every file this code writes is closed by a `with` block or
write_text, and the warehouse's connections are closed by the job: Live.close, publish); DuckDB's
bindings' check for objects still alive at exit (the "leaked instance" lines,
tests/test_quiet_exit.py).
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

_program = False  # this process is the program's own command line
_asked = False  # a command asked for the short exit
_code: int | None = None  # the program's exit code, once its command line has ended


def started() -> None:
    """The program's own command line is running in this process."""
    global _program
    _program = True


@contextmanager
def imports_kept() -> Iterator[None]:
    """The imports in this block run with the garbage collector off, and everything alive after
    them is frozen out of its collections (module docstring); elsewhere than in the program, as is."""
    if not _program:
        yield
        return
    was_enabled = gc.isenabled()
    gc.collect()  # garbage already there is collected, not frozen for the process's life
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
    gc.freeze()


def after_this_command() -> None:
    """Ask for the short exit when the program's command line ends (flows/cli.py `run`)."""
    global _asked
    _asked = True


def ended(code: object) -> None:
    """The program's command line ended with sys.exit(code): arm the short exit, if it was asked for."""
    global _code
    if _program and _asked:
        _code = code if isinstance(code, int) else 0 if code is None else 1  # as Python reads SystemExit


def _exit_now() -> None:
    if _code is None:
        return
    logging.shutdown()  # as logging's own handler does (it may be registered before this one)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said there
            pass
    os._exit(_code)


atexit.register(_exit_now)
