"""A library's warnings about a restricted pilot's workbook never quote it on the open side (verifier VO).

warehouse.md, "Messages stay on their side": the open side's logs, Prefect's database and the CLI's
output name no restricted file and quote no restricted value. openpyxl warns while it reads a
workbook, before the night knows the file's pilot, and quotes the workbook: "Unknown type for
<custom property name>", "Cell C3 is marked as a date but the serial value 28610777 is outside the
limits for dates" (an amount typed under a date format). The night logged that text at INFO
(flows/cli_common._LibraryWarnings: the CLI's output and Prefect's log at PREFECT_LOGGING_LEVEL=INFO),
and a reading process (a Dask worker, `--workers` or a night of 2,000 new files) printed it raw on
the CLI's stderr at any level. Now such a warning is shown as its category and openpyxl's line
only (warehouse/library_warnings.py), in the night's process and in the reading processes.

tests/test_restricted_store.py's registry: the open PLT-2548-003 of tests/test_flow.py and the
restricted PLT-2548-099 (lead 20004, secondary 15001; S9 count/higher/last weight 100, FY2548
thresholds [10, 20, 30, 40, 50]), as of 2005-05-15. Two workbooks of the restricted pilot:
- the lead's 2548-Q1 report, S9 = 31, with a custom property named `Qz9CODENAME` (a blob, which
  openpyxl does not read): accepted; by hand (scoring.md §1) s = 3 + (31 - 30)/(40 - 30) = 3.1,
  composite 3.1 x 100/100 = 3.1000, on_target;
- the secondary's 2548-Q1 budget line whose allocation 28,610,777 is typed under a date format:
  openpyxl reads it as `#VALUE!`, so NOT_A_NUMBER, quarantined; both in the restricted store.
"""
from __future__ import annotations

import io
import re
import subprocess
import sys
from decimal import Decimal

import openpyxl
import pytest

from tests.support import SERIAL, child_env, rows, with_custom_property
from tests.test_flow import AS_OF, HEADER, make_empty_scenario
from tests.test_restricted_store import RESTRICTED_PILOT, SECRET
from warehouse.paths import files_of

PROPERTY = "Qz9CODENAME"
AMOUNT = 28610777
# Nothing of the restricted workbooks may be on the open side's terminal, in any spelling.
LEAKS = re.compile(r"qz9|28,?610,?777", re.I)


def _workbook(rows_: list[list], date_cell: str | None = None, prop: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    for row in rows_:
        sheet.append(row)
    if date_cell:
        sheet[date_cell].number_format = "d/m/yyyy"
    plain = io.BytesIO()
    book.save(plain)
    if prop is None:
        return plain.getvalue()
    return with_custom_property(plain.getvalue(), prop)


def lead_report(submitted_on: str) -> bytes:
    return _workbook([[SECRET, "20004", "2548-Q1", submitted_on, "kpi", "S9", None, 31]], prop=PROPERTY)


def secondary_report(submitted_on: str) -> bytes:
    # Row 2, column I (allocated_thb): the amount under a date format.
    return _workbook([[SECRET, "15001", "2548-Q1", submitted_on, "budget", "ACT-ZQ9", 3, None, AMOUNT, 0, "own"]],
                     date_cell="I2")


def _cli(tmp_path, level: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m flows.cli` in a child, as an operator runs it: its whole terminal, the reading
    processes' stderr included, with Prefect's console at `level`."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in child_env(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL=level,
                                      PREFECT_HOME=str(tmp_path / "home"), PILOTKPI_SETTLE_SECONDS="0").items()
           if not k.startswith("PREFECT_API") or k == "PREFECT_API_URL"}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)


@SERIAL
def test_a_restricted_workbooks_library_warnings_quote_nothing_of_it(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (registry / "pilots" / f"{SECRET}.yaml").write_text(RESTRICTED_PILOT, encoding="utf-8")
    wh = tmp_path / "wh.duckdb"
    common = ["--registry", str(registry), "--inbox", str(inbox), "--warehouse", str(wh),
              "--out", str(tmp_path / "out"), "--as-of", AS_OF]

    # Night 1, read in the night's own process, Prefect's log at INFO (what its database gets).
    (inbox / "r-lead.xlsx").write_bytes(lead_report("2005-01-22"))
    (inbox / "r-secondary.xlsx").write_bytes(secondary_report("2005-02-10"))
    done = _cli(tmp_path, "INFO", "run", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in done.stdout, done.stdout
    terminal = done.stdout + done.stderr
    assert LEAKS.findall(terminal) == [], [line for line in terminal.splitlines() if LEAKS.search(line)]
    # Before: "library warning: …custom.py:213: UserWarning: Unknown type for Qz9CODENAME …" and
    # "… the serial value 28610777 is outside the limits for dates …". Still logged, without the text:
    warned = sorted(line.split("library warning: ", 1)[1] for line in terminal.splitlines() if "library warning: " in line)
    assert warned == [
        "UserWarning from openpyxl/packaging/custom.py:213 (its text is not shown: a library that reads report "
        "files may quote the file in it)",
        "UserWarning from openpyxl/worksheet/_reader.py:223 (its text is not shown: a library that reads report "
        "files may quote the file in it)"], warned

    # Each workbook in the restricted store, nothing of them on the open side; the score by hand.
    rs = files_of(wh).restricted
    assert rows(rs, "SELECT file_name, agency_code, status FROM ingest.submissions ORDER BY 1") == [
        ("r-lead.xlsx", "20004", "accepted"), ("r-secondary.xlsx", "15001", "quarantined")]
    assert rows(rs, "SELECT code, column_name FROM ingest.issues i JOIN ingest.submissions s USING (submission_id) "
                    "WHERE s.file_name = 'r-secondary.xlsx'") == [("NOT_A_NUMBER", "allocated_thb")]
    assert rows(wh, "SELECT count(*) FROM ingest.submissions") == [(0,)]
    assert rows(wh, "SELECT period, composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? ORDER BY 1",
                [SECRET]) == [("2548-Q1", Decimal("3.1000"), "on_target"), ("2548-Q2", None, "no_data")]

    # Night 2: corrections (later submitted_on, the same warnings) read on a Dask worker as well as
    # here (`--workers 1`, a batch a file: which process reads which file is the night's choice), at
    # the default level. A worker printed each warning raw on the shared stderr.
    for n in range(6):
        (inbox / f"s{n}-lead.xlsx").write_bytes(lead_report(f"2005-03-{10 + n}"))
        (inbox / f"s{n}-secondary.xlsx").write_bytes(secondary_report(f"2005-03-{10 + n}"))
    done = _cli(tmp_path, "WARNING", "run", "--workers", "1", "--batch-size", "1", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "files seen 12: accepted 1, superseded 5, duplicates 0, quarantined 6" in done.stdout, done.stdout
    terminal = done.stdout + done.stderr
    assert LEAKS.findall(terminal) == [], [line for line in terminal.splitlines() if LEAKS.search(line)]
    assert rows(wh, "SELECT count(*) FROM ingest.submissions") == [(0,)]
    assert rows(wh, "SELECT period, composite_score FROM marts.pilot_scores WHERE pilot_id = ? ORDER BY 1",
                [SECRET]) == [("2548-Q1", Decimal("3.1000")), ("2548-Q2", None)]


@pytest.mark.parametrize("reader", ["read_files_packed", "read_files", "read_files after GE"])
def test_a_reading_process_shows_no_workbook_text(tmp_path, reader):
    """What a Dask worker runs (pilots.reading.read_files_packed), in a fresh Python as the worker
    is; and what a served night's own process runs when it reads a batch itself (read_files: the
    night is `python -m prefect.engine`, which imports the flow but never the command line's
    warning handler; reviewer RV13). The warnings on its stderr, if any, quote nothing of the
    workbook. "after GE": the served night has validated a batch before it reads the next itself,
    with Prefect's logging set up: Great Expectations turned logging.captureWarnings on at its
    import, and `py.warnings` passed openpyxl's text to the root's console handler (reviewer RV14)."""
    path = tmp_path / "r-lead.xlsx"
    path.write_bytes(lead_report("2005-01-22"))
    second = tmp_path / "r-secondary.xlsx"
    second.write_bytes(secondary_report("2005-02-10"))
    read = ("unpack_read(read_files_packed(items, {}))" if reader == "read_files_packed"
            else "read_files(items, {})")
    served = ("from prefect.logging.configuration import setup_logging; setup_logging(); "
              "import great_expectations.validator.validator; ") if reader.endswith("after GE") else ""
    code = ("import sys; from pathlib import Path; import flows.nightly; " + served +
            "from pilots.reading import ToRead, read_files, read_files_packed, unpack_read; "
            "items = [ToRead(p.name, 'x', path=p) for p in map(Path, sys.argv[1:])]; "
            f"print([(r.path.name, [row['allocated_thb'] for row in r.table.rows]) for r in {read}])")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(second)], env=child_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Read as before: openpyxl gives an amount beyond the dates as #VALUE! (NOT_A_NUMBER, by validation).
    assert done.stdout.strip() == "[('r-lead.xlsx', [None]), ('r-secondary.xlsx', ['#VALUE!'])]", done.stdout
    assert LEAKS.findall(done.stdout + done.stderr) == [], done.stderr
