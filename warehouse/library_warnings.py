"""Python warnings from libraries, as a log or a terminal may show them.

A library that reads an agency's file quotes that file in its warnings: openpyxl's "Unknown type for
<custom property name>", "Print area cannot be set to Defined name: <the name's text>", "Cell I4 is
marked as a date but the serial value 28610777 is outside the limits for dates" (an amount). The
warning is raised while the file is read, before the night knows its pilot, so it cannot be sent
to the store of that pilot: a restricted pilot's figure or text would reach the open side's log,
Prefect's database and the CLI's output, which quote no restricted value (warehouse.md, "Messages
stay on their side"). Such a warning is shown without its text, masked as the spec allows: its
category and the library's line that raised it, which is all an operator needs to look it up.
Other libraries' warnings (Prefect's, Great Expectations' deprecations) keep their text, printable.

Every process that reads files shows them so: the command line's (flows/cli_common.py routes
warnings to the job's log through `from_formatted`), and the reading processes (a Dask worker, the
forked reader: `quiet_in_this_process`, called by pilots.reading.read_files_packed and
pilots.read_ahead), where Python would print a warning's text raw on the stderr the command line
shares; and any other process that reads a batch itself without the command line's handler (a
served night's, `python -m prefect.engine`, where Python prints warnings, or Great Expectations'
logging.captureWarnings passes them to the root's console: `quiet_unless_routed`, called by
read_files).
"""
from __future__ import annotations

import logging
import re
import warnings

from warehouse.personal import printable

# The libraries that parse a report file's bytes (pilots/readers): openpyxl and the XML packages it
# parses with, and the standard library's zipfile (a workbook is a zip). csv and json never warn.
FILE_READERS = ("openpyxl", "et_xmlfile", "defusedxml", "zipfile")
_READER_PATH = re.compile(r"[\\/](?:%s)(?:[\\/]|\.py$)" % "|".join(map(re.escape, FILE_READERS)))
# warnings.formatwarning's text: "<file>:<line>: <Category>: <message>\n  <source line>\n"
_FORMATTED = re.compile(r"(?P<file>.+?):(?P<line>[0-9]+): (?P<category>[A-Za-z_][A-Za-z0-9_]*): (?P<message>.*)", re.S)
WITHHELD = "its text is not shown: a library that reads report files may quote the file in it"


def _origin(filename: str, lineno: int | str) -> str:
    """The library's file from its package on (openpyxl/packaging/custom.py:213), not the path of
    the installation."""
    found = _READER_PATH.search(filename)
    where = filename[found.start() + 1:] if found else filename
    return f"{where}:{lineno}"


def warning_text(message: object, category: str, filename: str, lineno: int | str) -> str:
    """One line for a warning: from a file-reading library, its category and origin only; from any
    other, its text too. Printable either way (control and bidi characters escaped, IDs masked)."""
    if _READER_PATH.search(filename):
        return printable(f"{category} from {_origin(filename, lineno)} ({WITHHELD})")
    return printable(" ".join(f"{category} from {filename}:{lineno}: {message}".split()))


def from_formatted(text: str) -> str:
    """warning_text of a warning as logging.captureWarnings hands it on (formatwarning's text). A
    text that is not in that form is shown without it if it names a file-reading library."""
    found = _FORMATTED.match(text.strip())
    if found is None:
        return printable(WITHHELD) if _READER_PATH.search(text) else printable(" ".join(text.split()))
    return warning_text(found["message"].split("\n", 1)[0], found["category"], found["file"], found["line"])


def _log(message, category, filename, lineno, file=None, line=None) -> None:  # warnings.showwarning's signature
    logging.getLogger("pilotkpi.library").info("library warning: %s", warning_text(message, category.__name__, filename, lineno))


def quiet_in_this_process() -> None:
    """Show this process's warnings as warning_text at INFO on the `pilotkpi.library` logger (quiet
    unless a handler takes INFO), never raw on stderr. For the reading processes; idempotent."""
    warnings.showwarning = _log


def quiet_unless_routed() -> None:
    """quiet_in_this_process, unless this process routes warnings to a handler of its own already:
    the command line does (flows/cli_common.py: logging.captureWarnings, a masking handler on the
    `py.warnings` logger, which no longer passes them to the root's console handler), and a test
    catching warnings has its own showwarning. Otherwise a library's warning went raw to stderr:
    by Python's own printing, or, once Great Expectations is imported (it turns captureWarnings
    on), through `py.warnings` to the root logger's console handler, which Prefect sets up in a
    served night's process (`python -m prefect.engine`, which never imports the command line:
    reviewers RV13, RV14)."""
    captured = logging.getLogger("py.warnings")
    if captured.handlers and not captured.propagate:
        return
    if warnings.showwarning in (getattr(warnings, "_showwarning_orig", None), getattr(logging, "_showwarning", None)):
        warnings.showwarning = _log
