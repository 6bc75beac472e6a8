"""The end of the `pilotkpi run` process: it exits once its work and every exit handler are done,
without Python's teardown of the interpreter.

Python ends a process in this order (Py_FinalizeEx): it waits for the non-daemon threads and runs
the threads' exit hooks (Prefect's log and event workers send what they still hold to the API
there), then the atexit handlers (Prefect's, Dask's, the temporary server's, logging's), then it
flushes stdout and stderr, and then it tears the interpreter down: every module's namespace
cleared and the whole heap collected several times. That last part writes nothing and sends
nothing; after a night it is Prefect's, pydantic's and DuckDB's heap being freed one object at
a time: 2.5-2.9 s from the last exit handler to the process's end at a load of 10 on this
2-core machine, 0.05-0.07 s with the short exit (a quiet night at 40 pilots, 2026-12-05).

`run` and `demo` ask for the short exit (`after_this_command`). The handler registered here, when
this module is first imported (before any other handler: flows/cli.py imports it first), so
that it runs after all the others, flushes logging and the standard streams and ends the process
with the command's exit code (os._exit). Only the program's own command line does this
(`main()` with no arguments, flows/cli_common.py RefusingGroup.__call__): a command invoked
in-process (click's test runner) leaves its process to end as it would.

What the teardown would have done and is not needed: closing files still open (every file this
code writes is closed by a `with` block or write_text, and the warehouse's connections are closed
by the job: Live.close, publish); DuckDB's bindings' check for objects still alive at exit (the
"leaked instance" lines, tests/test_quiet_exit.py).
"""
from __future__ import annotations

import atexit
import logging
import os
import sys

_asked = False  # a command asked for the short exit
_code: int | None = None  # the program's exit code, once its command line has ended


def after_this_command() -> None:
    """Ask for the short exit when the program's command line ends (flows/cli.py `run`)."""
    global _asked
    _asked = True


def program_ended(code: object) -> None:
    """The program's command line ended with sys.exit(code): arm the short exit, if it was asked for."""
    global _code
    if _asked:
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
