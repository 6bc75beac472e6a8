"""Log lines that quote an agency's text: a library's warning, and a refusal's DEBUG line and traceback.

Prefect's console handler and its API log pass C1 controls (U+009B, a terminal's CSI) and bidi
characters (U+202E) on as they are (verifier V6):
- flows/cli_common._LibraryWarnings logged a library's warning as it came: openpyxl's "Unknown
  type for <name>" quotes a custom document property's name, the workbook's own text (since verifier
  VO, a file-reading library's warning is logged without its text: warehouse/library_warnings.py);
- flows/refusals.py logged `refused: %s` with exc_info at DEBUG, the refusal naming the file
  (`submission 1 (<name>) is accepted; only quarantined files are reprocessed`) in the line and
  again in the traceback's last line.
Both pass through warehouse/personal.printable now (`\\x9b`, `\\u202e`, `\\x1b`).

tests/test_flow.py's registry (PLT-2548-003, as of 2005-05-15), an empty inbox and two files: a
workbook of the secondary agency 15001 (a Q1 budget line) with such a property, and the lead's Q1
CSV with ESC, BEL and U+202E in its name; then `reprocess` of that accepted file, refused.
"""
from __future__ import annotations

import io
import subprocess
import sys

import openpyxl

from tests.support import SERIAL, child_env, with_custom_property
from tests.test_flow import AS_OF, HEADER, make_empty_scenario

P = "PLT-2548-003"
PROPERTY = "PROP\u009b2J\u202eevil"
NAME = "a_\x1b]0;x\x07\u202elead.csv"
NAME_SHOWN = "a_\\x1b]0;x\\x07\\u202elead.csv"
RAW = ("\x1b", "\x07", "\u009b", "\u202e")


def _cli(tmp_path, level: str, *args: str) -> subprocess.CompletedProcess:
    """A child `python -m flows.cli`, as an operator runs it, Prefect's console at `level`."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in child_env(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL=level,
                                      PREFECT_HOME=str(tmp_path / "home"), PILOTKPI_SETTLE_SECONDS="0").items()
           if not k.startswith("PREFECT_API") or k == "PREFECT_API_URL"}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def _workbook_with_property() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append([P, "15001", "2548-Q1", "2005-02-15", "budget", "ACT-1", 5, None, 500000, 100000, "own", None])
    plain = io.BytesIO()
    book.save(plain)
    return with_custom_property(plain.getvalue(), PROPERTY)


@SERIAL
def test_library_warnings_and_refusals_are_logged_printable(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "b_sec_q1.xlsx").write_bytes(_workbook_with_property())
    (inbox / NAME).write_bytes(f"{HEADER}\n{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,\n".encode())
    common = ["--registry", str(registry), "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"),
              "--as-of", AS_OF]
    done = _cli(tmp_path, "INFO", "run", "--inbox", str(inbox), *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in done.stdout, done.stdout
    terminal = done.stdout + done.stderr
    warned = [line for line in terminal.splitlines() if "library warning" in line]
    # Before: "… Unknown type for PROP\x9b2J\u202eevil …" as it came, on the terminal and in Prefect's log;
    # then printable; now without the workbook's text at all (tests/test_trust_restricted_library_warnings.py).
    assert warned and all(line.endswith("library warning: UserWarning from openpyxl/packaging/custom.py:213 (its text "
                                        "is not shown: a library that reads report files may quote the file in it)")
                          for line in warned), warned
    assert "PROP" not in terminal
    assert [c for c in RAW if c in terminal] == []

    # The lead's file was accepted (submission 1: files are read in order of their names): not reprocessed.
    done = _cli(tmp_path, "DEBUG", "reprocess", "1", *common)
    assert done.returncode != 0, done.stdout
    terminal = done.stdout + done.stderr
    lines = terminal.splitlines()
    reason = f"submission 1 ({NAME_SHOWN}) is accepted; only quarantined files are reprocessed"
    [at] = [i for i, line in enumerate(lines) if "refused:" in line]
    # Before: the name raw in this line and again in the traceback's last.
    assert lines[at].endswith(f"refused: {reason}"), lines[at]
    assert lines[at + 1] == "Traceback (most recent call last):"
    assert f"warehouse.errors.Refusal: {reason}" in lines[at + 2:], lines[at:]
    assert [c for c in RAW if c in terminal] == []
