"""The command line's words (issue 23 item 6): `--help` in one line per command, the paths a run
prints, library warnings kept off the terminal, `sql` decimals, the command printed after exit 5
completing the job, and `check` naming what it did not recognise in the file's own language."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import SERIAL, child_env
from tests.test_flow import AS_OF, make_scenario
from warehouse.publish import published_path

DATA = Path(__file__).parent / "data"
REGISTRY = DATA / "registry" / "valid"


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


# --- --help ----------------------------------------------------------------------------------

def test_help_gives_every_command_one_whole_line():
    result = CliRunner().invoke(main, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert sorted(line.split()[0] for line in listed) == sorted(main.commands)  # no continuation lines
    for line in listed:
        assert len(line) <= 80 and not line.endswith("...") and "(e." not in line, line
    assert "  close-quarter  Close a due quarter: its figures change only by decision.\n" in result.output


# --- check -----------------------------------------------------------------------------------

def test_check_names_an_unknown_header_and_speaks_thai_for_a_thai_file(tmp_path):
    report = tmp_path / "typo.csv"
    report.write_text("รหัสโครงการ,รหัสหน่วยงาน,งวดรายงาน,วันที่ส่ง,ประเภทรายการ,รหัสรายการ,ผลการดำเนนงาน\n"
                      "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,47\n", encoding="utf-8")
    code, out = cli("check", report, "--registry", REGISTRY, "--as-of", "2006-08-15")
    assert code == 6
    assert out == (
        "typo.csv: ไฟล์จะถูกกักไว้ (QUARANTINED)\n"
        "  คำเตือน COLUMN_UNKNOWN (ทั้งไฟล์)\n"
        "    th: คอลัมน์ 'ผลการดำเนนงาน' ไม่ใช่คอลัมน์ของแบบรายงาน ระบบไม่ได้อ่านคอลัมน์นี้ หรือหมายถึง 'ผลการดำเนินงาน'\n"
        "    en: Column 'ผลการดำเนนงาน' is not a column of the report format: it was not read. "
        "Did you mean 'ผลการดำเนินงาน'?\n"
        "  ผิดพลาด COLUMN_MISSING (คอลัมน์ ผลการดำเนินงาน)\n"
        "    th: ไม่พบคอลัมน์ที่ต้องมี 'ผลการดำเนินงาน' (actual) ในแถวหัวตาราง\n"
        "    en: Required column 'actual' (ผลการดำเนินงาน) is missing from the header.\n")


def test_check_locates_in_thai_with_the_column_as_written(tmp_path):
    report = tmp_path / "th.csv"
    report.write_text("รหัสโครงการ,รหัสหน่วยงาน,งวดรายงาน,วันที่ส่ง,ประเภทรายการ,รหัสรายการ,ผลการดำเนินงาน\n"
                      "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,120\n", encoding="utf-8")
    code, out = cli("check", report, "--registry", REGISTRY, "--as-of", "2006-08-15")
    assert code == 6
    assert out.splitlines()[:2] == ["th.csv: ไฟล์จะถูกกักไว้ (QUARANTINED)",
                                    "  ผิดพลาด PERCENT_OUT_OF_RANGE (แถว 2 คอลัมน์ ผลการดำเนินงาน)"]


def test_check_prints_a_message_repeated_on_every_row_once(tmp_path):
    # 15001 is the secondary agency: KPI_NOT_LEAD is found on each of the three KPI rows.
    report = tmp_path / "sec.csv"
    report.write_text("pilot_id,agency_code,period,submitted_on,line_type,item_code,actual\n"
                      + "".join(f"PLT-2548-003,15001,2548-Q1,2005-01-20,kpi,{k},{v}\n"
                                for k, v in (("K1", 47), ("K2", "x"), ("K1", 50))), encoding="utf-8")
    code, out = cli("check", report, "--registry", REGISTRY, "--as-of", "2006-08-15")
    assert code == 6
    assert out.count("KPI_NOT_LEAD") == 1 and "  ERROR   KPI_NOT_LEAD (rows 2-4, column line_type)\n" in out
    assert out.startswith("sec.csv: would be QUARANTINED\n")
    assert "  ERROR   NOT_A_NUMBER (row 3, column actual)\n" in out  # other messages keep their row
    code, js = cli("check", report, "--registry", REGISTRY, "--as-of", "2006-08-15", "--format", "json")
    assert js.count('"KPI_NOT_LEAD"') == 3  # the machine format keeps one entry per row


def test_an_extra_column_is_a_warning_and_the_file_is_accepted():
    code, out = cli("check", DATA / "defects" / "COLUMN_UNKNOWN.csv", "--registry", REGISTRY,
                    "--as-of", "2006-08-15")
    assert code == 0
    assert out == ("COLUMN_UNKNOWN.csv: OK\n"
                   "  WARNING COLUMN_UNKNOWN (file)\n"
                   "    th: คอลัมน์ 'remarks' ไม่ใช่คอลัมน์ของแบบรายงาน ระบบไม่ได้อ่านคอลัมน์นี้\n"
                   "    en: Column 'remarks' is not a column of the report format: it was not read.\n")


# --- sql -------------------------------------------------------------------------------------

def test_sql_shows_decimals_without_trailing_zeros_and_the_stored_type_stays(tmp_path):
    from warehouse.db import connect

    path = tmp_path / "w.published.duckdb"
    con = connect(path)  # a migrated warehouse: core.kpi_actuals.actual is DECIMAL(18,10)
    con.execute("CREATE TABLE main.a AS SELECT actual, 1000000::DECIMAL(18,2) AS money FROM "
                "(SELECT 65.6::DECIMAL(18,10) AS actual UNION ALL SELECT 47::DECIMAL(18,10))")
    con.close()
    code, out = cli("sql", "--warehouse", path, "-c",
                    "SELECT * FROM a ORDER BY actual DESC; SELECT data_type FROM duckdb_columns() "
                    "WHERE table_name = 'kpi_actuals' AND column_name = 'actual';")
    assert code == 0, out
    assert re.search(r"│ +65\.6 │", out) and re.search(r"│ +47\.0 │", out) and "65.60" not in out  # scale 1
    assert "decimal(18,10)" in out  # headed by its stored type, the values trimmed (verifier VI F7)
    assert "1000000.00" in out  # money keeps its two decimals
    assert re.search(r"│ DECIMAL\(\d+,10\) │", out)  # the stored type is unchanged


# --- run, and exit 5 -------------------------------------------------------------------------

def with_unknown_extension(data: bytes) -> bytes:
    """The sheet part as some producers write it: an <extLst> openpyxl does not know."""
    ext = (b'<extLst><ext uri="{00000000-0000-0000-0000-00000000ABCD}" '
           b'xmlns:x="urn:example:producer"><x:tag/></ext></extLst></worksheet>')
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                content = content.replace(b"</worksheet>", ext)
            dst.writestr(info, content)
    return out.getvalue()


@SERIAL
def test_run_prints_the_validation_report_and_no_library_warning(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    registry, inbox = make_scenario(tmp_path)
    book = openpyxl.Workbook()
    book.active.append(["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "actual"])
    book.active.append(["PLT-2548-003", "03009", "2548-Q2", "2005-04-26", "kpi", "K1", 56])
    buffer = io.BytesIO()
    book.save(buffer)
    (inbox / "g_lead_q2.xlsx").write_bytes(with_unknown_extension(buffer.getvalue()))
    with pytest.warns(UserWarning, match="Unknown extension is not supported"):  # the workbook does warn
        list(openpyxl.load_workbook(inbox / "g_lead_q2.xlsx", read_only=True).active.iter_rows())

    env = {k: v for k, v in child_env(PREFECT_API_URL=PREFECT_API_URL.value(),
                                      PREFECT_HOME=str(tmp_path / "home"), PILOTKPI_SETTLE_SECONDS="0").items()
           if not k.startswith("PREFECT_API") or k == "PREFECT_API_URL"}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--registry", str(registry), "--inbox",
                           str(inbox), "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"),
                           "--as-of", AS_OF], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # neither the warning nor its source line
    assert f"validation report: {tmp_path / 'out' / 'validation.html'}\n" in done.stdout
    # The workbook was read all the same: submitted 2005-04-26, it replaces d_lead_q2_fix.csv (04-25).
    assert "files seen 7: accepted 3, superseded 2, duplicates 1, quarantined 1\n" in done.stdout


@SERIAL
def test_the_command_printed_after_exit_5_completes_the_job(tmp_path, scenario_copy, monkeypatch):
    registry, inbox = scenario_copy  # the first night (tests/conftest.py)
    wh, out = tmp_path / "wh.duckdb", tmp_path / "out"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("flows.cheap.write_letters", boom)
        code, printed = cli("rebuild", "--registry", registry, "--warehouse", wh, "--out", out, "--as-of", AS_OF)
    assert code == 5, printed
    fix = [line.strip() for line in printed.splitlines() if line.strip().startswith("pilotkpi ")]
    assert fix == [f"pilotkpi publish --warehouse {wh} --out {out}"]
    for name in os.listdir(out / "reminders"):
        (out / "reminders" / name).unlink()

    code, done = cli(*fix[0].split()[1:])
    assert code == 0, done
    assert (out / "reminders" / "11002.th.html").exists() and (out / "reminders" / "reminders.csv").exists()
    query = "SELECT kind, status, failed_steps, completed_by FROM ops.runs ORDER BY started_at"
    for path in (wh, published_path(wh)):  # the analysts' copy says so too
        con = duckdb.connect(str(path), read_only=True)
        try:
            assert con.execute(query).fetchall() == [("run", "succeeded", None, None),
                                                     ("rebuild", "committed_with_errors", "letters", "pilotkpi publish")]
        finally:
            con.close()


def test_check_shows_a_hostile_header_escaped(tmp_path):
    report = tmp_path / "esc.csv"
    report.write_text("pilot_id,agency_code,period,submitted_on,line_type,item_code,actual,\x1b[2Jboom\n"
                      "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,47,x\n", encoding="utf-8")
    code, out = cli("check", report, "--registry", REGISTRY, "--as-of", "2006-08-15")
    assert code == 0 and "\x1b" not in out
    assert "Column '\\x1b[2Jboom' is not a column of the report format" in out
