"""The leak test over the open side's outputs (issue 14 item 2, warehouse.md "Restricted pilots").

A small inbox: an open pilot and a restricted one, each with recognisable values (an actual, an
activity code, a note, file names, a KPI name, and a defective file so that there is a defect to
show or hide). One nightly run through the CLI at PREFECT_LOGGING_LEVEL=DEBUG, then `report`
(HTML and Markdown), `letters`, `explain`, `export --format parquet` and `--format csv`, and the
Prefect artifact and flow-run logs read back from the API. Every byte they wrote is searched: none of the
restricted pilot's values may be there, and the open pilot's values must be (so the search can
fail). Parquet files are also read back as text, as their numbers are binary.

The file-away step is made to fail after moving the files, with an error naming an open and a
restricted file: that error reaches the logs, the CLI's stderr and ops.runs, and must name the
open file only.

Not searched here: the open warehouse and its published copy (the warehouse-level leak test of the
restricted store covers them), the inbox and the evidence store (the agencies' own bytes).
`open_side_outputs` lists every place searched; extend it where an output is added.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.log_capture import Records, all_loggers
from tests.test_flow import AGENCIES, HEADER

AS_OF = "2005-05-15"  # FY2548: 2548-Q1 due 2005-01-30, 2548-Q2 due 2005-04-30 (30 days)
OPEN, SECRET = "PLT-2548-003", "PLT-2548-006"

# Every value of the restricted pilot carries the token Qz9 (searched case-insensitively) or is
# one of these numbers: the actual, the allocation and the thresholds, written any way a page or
# a CSV could write them (plain, with thousands separators, with more decimals).
# One or two backslashes may stand before "," and ".": agency text in Markdown has every ASCII
# punctuation character escaped (warehouse/display.py md_text: 987654\.321), and JSON doubles it.
QZ9 = re.compile(rb"qz9", re.I)
RESTRICTED_VALUES = [
    QZ9,
    re.compile(rb"987\\{0,2},?654\\{0,2}\.32"),        # actual 987654.321 (count)
    re.compile(rb"3\\{0,2},?456\\{0,2},?789\\{0,2}\.1"),    # allocated 3456789.12 baht
    re.compile(rb"555\\{0,2},?00[1-5]\\{0,2}\.25"),    # thresholds 555001.25 .. 555005.25
]
# The open pilot's values, with the token Opn7: the same outputs must show these.
OPEN_TOKEN = re.compile(rb"opn7", re.I)
OPEN_ACTUAL = re.compile(rb"45\.678")  # K1 = 45.678 %
OPEN_BAD_FILE = b"opn7_bad_q2.csv"
# As agency text in Markdown (md_text escapes the "."); in Prefect's database the artifact's
# Markdown is JSON, whose string doubles the backslash.
OPEN_BAD_FILE_MD = re.compile(rb"opn7_bad_q2\\{1,2}\.csv")

PILOTS = {
    OPEN: f"""
pilot_id: {OPEN}
name_th: ระบบบริการประชาชนแบบเบ็ดเสร็จ
name_en: One-stop e-citizen service
layer: 5
strategies: [1]
classification: open
start: 2004-10-01
end: 2005-09-30
agencies:
  - {{code: "03009", role: lead}}
  - {{code: "15001", role: secondary}}
kpis:
  - {{code: K1, name_th: ร้อยละคำขอออนไลน์ Opn7, name_en: Opn7 share of applications online, unit: percent,
     direction: higher, aggregation: last, weight: 100, thresholds: {{2548: [20, 30, 40, 50, 60]}}}}
""",
    SECRET: f"""
pilot_id: {SECRET}
name_th: ระบบตรวจสอบบุคคลเพื่อความมั่นคง
name_en: Identity checks for national security
layer: 3
strategies: [6]
classification: restricted
start: 2004-10-01
end: 2005-09-30
agencies:
  - {{code: "11002", role: lead}}
  - {{code: "20004", role: secondary}}
kpis:
  - {{code: QZ9K, name_th: ตัวชี้วัดลับ Qz9, name_en: Qz9 watch-list matches, unit: count, direction: higher,
     aggregation: last, weight: 100,
     thresholds: {{2548: [555001.25, 555002.25, 555003.25, 555004.25, 555005.25]}}}}
""",
}


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def make_inbox(root: Path) -> tuple[Path, Path]:
    registry = root / "registry"
    (registry / "pilots").mkdir(parents=True)
    (registry / "agencies.yaml").write_text(AGENCIES, encoding="utf-8")
    for pilot_id, text in PILOTS.items():
        (registry / "pilots" / f"{pilot_id}.yaml").write_text(text, encoding="utf-8")
    inbox = root / "inbox"
    inbox.mkdir()
    # Open: the lead's Q1 report, and its Q2 report with a defect quoting the cell (NOT_A_NUMBER).
    (inbox / "opn7_lead_q1.csv").write_bytes(_csv(
        f"{OPEN},03009,2548-Q1,2005-01-20,kpi,K1,,45.678,,,,",
        f"{OPEN},03009,2548-Q1,2005-01-20,budget,OPN7-ACT,5,,1234567.89,100000,own,opn7 open note"))
    (inbox / "opn7_bad_q2.csv").write_bytes(_csv(f"{OPEN},03009,2548-Q2,2005-04-20,kpi,K1,,opn7-not-a-number,,,,"))
    # Restricted: the same, plus a byte-identical copy (a duplicate records no pilot of its own).
    secret_q1 = _csv(f"{SECRET},11002,2548-Q1,2005-01-20,kpi,QZ9K,,987654.321,,,,",
                     f"{SECRET},11002,2548-Q1,2005-01-20,budget,QZ9-ACT-SECRET,3,,3456789.12,1000,own,qz9 secret note")
    (inbox / "qz9_secret_lead_q1.csv").write_bytes(secret_q1)
    (inbox / "qz9_secret_lead_q1_copy.csv").write_bytes(secret_q1)
    (inbox / "qz9_secret_bad_q2.csv").write_bytes(_csv(
        f"{SECRET},11002,2548-Q2,2005-04-20,kpi,QZ9K,,qz9-not-a-number,,,,"))
    return registry, inbox


@dataclass
class LeakRun:
    root: Path
    cli: dict[str, tuple[int, str]] = field(default_factory=dict)  # command -> (exit code, stdout+stderr)
    logs: list[str] = field(default_factory=list)        # records captured in this process
    api_logs: list[str] = field(default_factory=list)    # the flow run's logs as Prefect's API stores them
    artifact: str = ""
    prefect_db: Path | None = None                       # the folder of the harness's SQLite database
    prefect_home: Path | None = None
    started: float = 0.0
    debug_records: int = 0


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output  # stdout and stderr, as the terminal shows them


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory, prefect_harness) -> LeakRun:
    import os

    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    import flows.nightly  # noqa: F401 - Prefect sets its logging up on first import: the handler goes in after
    from pilots import inbox as inbox_folder

    run = LeakRun(tmp_path_factory.mktemp("leak"), started=time.time())
    registry, inbox = make_inbox(run.root)
    wh = run.root / "wh.duckdb"
    real_file_away = inbox_folder.file_away

    def file_away_then_fail(files, inbox_dir, *args, **kwargs):
        moved = real_file_away(files, inbox_dir, *args, **kwargs)
        raise OSError(13, "Permission denied", str(inbox_dir / "processed" / "opn7_lead_q1.csv"), None,
                      str(inbox_dir / "processed" / "qz9_secret_lead_q1.csv"))

    # PREFECT_LOGGING_LEVEL=DEBUG, as the variable sets it (logging.yml), for every logger of the
    # process; levels restored afterwards, as other tests share the process.
    handler = Records()
    loggers = all_loggers()
    names = ["prefect", "prefect.extra", "prefect.client", "prefect.infrastructure", "prefect.flow_runs",
             "prefect.task_runs"]
    levels = {name: logging.getLogger(name).level for name in names + [""]}
    for logger in loggers:
        logger.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    saved_env = os.environ.get("PREFECT_LOGGING_LEVEL")
    os.environ["PREFECT_LOGGING_LEVEL"] = "DEBUG"
    mp = pytest.MonkeyPatch()
    mp.setattr(inbox_folder, "file_away", file_away_then_fail)
    try:
        run.cli["run"] = _invoke(["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse", str(wh),
                                  "--out", str(run.root / "out"), "--as-of", AS_OF])
        mp.undo()
        run.cli["report"] = _invoke(["report", "--warehouse", str(wh), "--out", str(run.root / "report")])
        run.cli["letters"] = _invoke(["letters", "--warehouse", str(wh), "--out", str(run.root / "letters")])
        # explain on the published copy; the restricted pilot for a period it has no score of (as
        # when its scores live in the restricted store): the answer repeats no KPI code.
        run.cli["explain open"] = _invoke(["explain", OPEN, "K1", "2548-Q1", "--warehouse", str(wh)])
        run.cli["explain restricted"] = _invoke(["explain", SECRET, "QZ9K", "2549-Q1", "--warehouse", str(wh)])
        for fmt in ("parquet", "csv"):
            run.cli[f"export {fmt}"] = _invoke(["export", str(run.root / f"export-{fmt}"), "--format", fmt,
                                                "--warehouse", str(wh)])
        _read_back_from_prefect(run)
    finally:
        mp.undo()
        for logger in loggers:
            logger.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if saved_env is None:
            os.environ.pop("PREFECT_LOGGING_LEVEL", None)
        else:
            os.environ["PREFECT_LOGGING_LEVEL"] = saved_env
    run.logs = handler.lines
    run.debug_records = sum(line.startswith("DEBUG ") for line in handler.lines)
    run.prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]).parent
    run.prefect_home = Path(os.environ["PREFECT_HOME"])
    return run


def _read_back_from_prefect(run: LeakRun) -> None:
    """The summary artifact and the nightly flow run's logs, as the Prefect UI would show them."""
    import anyio
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import ArtifactSort
    from prefect.logging.handlers import APILogHandler

    from flows.nightly import SUMMARY_ARTIFACT_KEY

    APILogHandler().flush()  # the logs still queued for the API (the flow run flushes them too)

    async def read() -> None:
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_ARTIFACT_KEY])),
                sort=ArtifactSort.CREATED_DESC)
            # The artifact links the run's summaries: this run's is the one linking into its folder.
            mine = [a for a in artifacts if run.root.resolve().as_uri() in str(a.data)]
            assert len(mine) == 1, "the run's artifact"
            run.artifact = str(mine[0].data)
            only_this_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[mine[0].flow_run_id]))
            while page := await client.read_logs(log_filter=only_this_run, offset=len(run.api_logs)):
                run.api_logs += [f"{log.level} {log.name} {log.message}" for log in page]  # the API pages them

    anyio.run(read)


def parquet_text(path: Path) -> bytes:
    """A Parquet file's rows as text: its numbers are binary and its text may be compressed."""
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    finally:
        con.close()
    return "\n".join(map(repr, rows)).encode("utf-8")


def _files(folder: Path, since: float | None = None) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (since is None or path.stat().st_mtime >= since):
            yield path


def open_side_outputs(run: LeakRun) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of everything the open side wrote in the leak run: the out folders, the
    exports (Parquet also read back as text), the CLI's output, the captured log records, the flow
    run's logs and artifact from Prefect's API, the harness's Prefect database (SQLite and its
    journal files), and what this run left under PREFECT_HOME. Extend it where an output is added
    (the open warehouse and its published copy belong to the warehouse-level leak test)."""
    for folder in ("out", "report", "letters", "export-parquet", "export-csv"):
        for path in _files(run.root / folder):
            yield str(path), path.read_bytes()
            if path.suffix == ".parquet":
                yield f"{path} (rows)", parquet_text(path)
    for command, (_, output) in run.cli.items():
        yield f"pilotkpi {command} output", output.encode("utf-8")
    yield "log records", "\n".join(run.logs).encode("utf-8")
    yield "Prefect API logs", "\n".join(run.api_logs).encode("utf-8")
    yield "Prefect artifact", run.artifact.encode("utf-8")
    for path in _files(run.prefect_db):
        if path.suffix == ".db":  # SQLite: its rows as text (the log's rows too, as SQLite reads them)
            yield f"{path} (rows)", sqlite_text(path)
        # Its bytes too (a row deleted is still there), for the values of more than three bytes: a
        # database grown by every earlier test of the worker holds megabytes of binary pages, where
        # three random bytes spelt "Qz9" (CI, 2026-12-07: a match between \x00 bytes of the WAL).
        yield f"{path} (bytes)", path.read_bytes()
    for path in _files(run.prefect_home, since=run.started):
        yield str(path), path.read_bytes()


def sqlite_text(path: Path) -> bytes:
    """Every row of every table of a SQLite database, as text (a BLOB that is not UTF-8 text is left
    out: random bytes can spell a short token)."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        lines = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"'):
                lines.append(repr(tuple(_as_text(value) for value in row)))
        return "\n".join(lines).encode("utf-8")
    finally:
        con.close()


def _as_text(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    return value


def leaks(outputs: Iterator[tuple[str, bytes]], patterns: list[re.Pattern]) -> list[str]:
    """Each match of a pattern in the outputs, with where it was and a little context. In the bytes
    of a binary database (`(bytes)`), only the longer patterns: "qz9" is three bytes."""
    found = []
    for where, data in outputs:
        for pattern in patterns:
            if where.endswith("(bytes)") and pattern.pattern == QZ9.pattern:
                continue
            for m in pattern.finditer(data):
                context = data[max(0, m.start() - 60):m.end() + 60].decode("utf-8", "replace")
                found.append(f"{where}: {m.group().decode('utf-8', 'replace')!r} in …{context}…")
    return found


def test_the_commands_ran(leak_run):
    # The run committed and published; only the file-away step failed (made to), so it exits 5.
    assert leak_run.cli["run"][0] == 5, leak_run.cli["run"][1]
    for command in ("report", "letters", "export parquet", "export csv", "explain open"):
        assert leak_run.cli[command][0] == 0, (command, leak_run.cli[command][1])
    assert leak_run.cli["explain restricted"] == (
        1, f"pilotkpi explain: {SECRET} is a restricted pilot: its KPI lineage is only in the restricted store; the "
           "operator can show it with --restricted-store (default: <warehouse>.restricted.duckdb)\n")
    assert leak_run.debug_records > 0  # the logs were captured at DEBUG
    assert leak_run.api_logs, "the flow run's logs in Prefect's API"


def test_no_restricted_value_in_any_output(leak_run):
    assert leaks(open_side_outputs(leak_run), RESTRICTED_VALUES) == []


def test_the_open_values_are_found_where_they_belong(leak_run):
    """The search finds the open pilot's values in each kind of output, so the test above can fail."""
    outputs = dict(open_side_outputs(leak_run))

    def where(pattern: re.Pattern, prefix: str) -> bool:
        return any(pattern.search(data) for name, data in outputs.items() if name.startswith(prefix))

    root = str(leak_run.root)
    for folder in ("out", "report"):
        for name in ("summary.en.html", "summary.th.html", "summary.en.md", "summary.th.md"):
            page = outputs[f"{root}/{folder}/{name}"]
            shown = OPEN_BAD_FILE_MD.search(page) if name.endswith(".md") else OPEN_BAD_FILE in page
            assert OPEN_TOKEN.search(page) and shown, name  # KPI name, quarantined file
        # The trend's 2548-Q1 composite: K1 = 45.678 lies between t3 = 40 and t4 = 50 ->
        # 3 + (45.678 - 40) / (50 - 40) = 3.5678, weight 100; the open allocation in the layer totals.
        assert b"FY2005 Q1 3.5678" in outputs[f"{root}/{folder}/summary.en.md"]
        assert b'data-value="1234567.89"' in outputs[f"{root}/{folder}/summary.en.html"]
    report = outputs[f"{root}/out/validation.html"]
    assert OPEN_BAD_FILE in report and b"opn7-not-a-number" in report  # the file and its defect
    for folder in ("out/reminders", "letters/reminders"):
        assert OPEN_BAD_FILE in outputs[f"{root}/{folder}/03009.th.html"]
        assert OPEN_BAD_FILE in outputs[f"{root}/{folder}/reminders.csv"]
    for fmt in ("parquet", "csv"):
        exported = f"{root}/export-{fmt}/core."
        assert where(OPEN_ACTUAL, exported) and where(re.compile(rb"OPN7-ACT"), exported), fmt
        assert where(re.compile(rb"opn7 open note"), exported), fmt
    explained = outputs["pilotkpi explain open output"]
    assert OPEN_ACTUAL.search(explained) and b"opn7_lead_q1.csv" in explained  # the actual and its file
    assert OPEN_BAD_FILE_MD.search(outputs["Prefect artifact"])  # Markdown
    assert any(OPEN_BAD_FILE_MD.search(data) for name, data in outputs.items()
               if name.startswith(str(leak_run.prefect_db)))  # the artifact, in Prefect's database
    rows = [data for name, data in outputs.items() if name.startswith(str(leak_run.prefect_db)) and name.endswith("(rows)")]
    assert rows and any(b"opn7_lead_q1.csv" in data for data in rows)  # its rows are read: the failed step's log
    # The failed step's error names the open file, and the restricted one by a stand-in, in every
    # place it goes.
    for source in ("log records", "Prefect API logs", "pilotkpi run output"):
        assert b"opn7_lead_q1.csv" in outputs[source], source
        assert b"[file of a restricted pilot]" in outputs[source], source


def test_the_restricted_pilot_shows_what_the_spec_allows(leak_run):
    """Its id, status and composite, and its overdue reports by period (warehouse.md): present, so
    hiding is not done by leaving the pilot out. QZ9K: 987654.321 >= t5 = 555005.25, higher is
    better -> score 5, weight 100 -> composite 5 in 2548-Q1, on_target; 2548-Q2 has no accepted
    report -> no_data."""
    root = leak_run.root
    en = (root / "out" / "summary.en.md").read_text(encoding="utf-8")
    section = en.split(f"## {SECRET}", 1)[1].split("\n## ", 1)[0]
    assert "Restricted pilot" in section
    # The budget by layer leaves the restricted pilot out and says so, in both languages.
    assert "Leaves out 1 restricted pilot(s)" in en
    assert "ไม่รวมโครงการชั้นความลับ 1 โครงการ" in (root / "out" / "summary.th.md").read_text(encoding="utf-8")
    for lang in ("th", "en"):
        assert 'data-left-out="1"' in (root / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")
    # The open pilot's layer 5 only: 1,234,567.89 baht (1.23 million), no layer 3 row.
    budget = en.split("### Total and integrated budget by layer", 1)[1].split("\n## ", 1)[0]
    assert "| 3 " not in budget and "Integration for citizens" in budget
    # Letters: 11002 is told of its overdue 2548-Q2 report (the file failed), by pilot id only.
    letter = (root / "out" / "reminders" / "11002.en.html").read_text(encoding="utf-8")
    assert SECRET in letter and "Identity checks" not in letter
    # The validation report counts the restricted pilot's three files and lists the open two.
    report = " ".join((root / "out" / "validation.html").read_text(encoding="utf-8").split())
    assert "Not counted above: 3 file(s) of restricted pilots, details in the restricted store." in report
    assert "2 ไฟล์ / file(s): รับแล้ว / accepted 1," in report
