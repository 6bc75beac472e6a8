"""The agency format guides (docs/report-format.md, docs/report-format.th.md): generated from the
code, their worked examples accepted by the real checks, their spellings read by the normaliser."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from flows import cli_common
from flows.cli import main
from pilots import demo, guide
from pilots.contract import COLUMNS
from pilots.defects import catalogue
from pilots.ingest import check_files
from pilots.normalise import normalise_table, parse_agency_code, parse_date, parse_number, parse_period
from pilots.readers import read_report
from pilots.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# --- no drift --------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", guide.LANGUAGES)
def test_committed_guides_equal_the_generated_ones(lang):
    name = guide.GUIDE_FILES[lang]
    assert (DOCS / name).read_text(encoding="utf-8") == guide.guide_markdown(lang), \
        f"docs/{name} is stale: run `pilotkpi docs`"


def test_docs_check_reports_a_stale_guide(tmp_path):
    for name in ("defects.md", "warehouse.md", "registry.md", *guide.GUIDE_FILES.values()):
        shutil.copy(DOCS / name, tmp_path / name)
    runner = CliRunner()
    assert runner.invoke(main, ["docs", "--check", "--out", str(tmp_path)]).exit_code == 0
    (tmp_path / "report-format.th.md").write_text("old", encoding="utf-8")
    result = runner.invoke(main, ["docs", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "report-format.th.md is out of date" in result.output


@pytest.mark.parametrize("lang", guide.LANGUAGES)
def test_each_guide_lists_every_column_and_every_defect_with_its_fix(lang):
    text = guide.guide_markdown(lang)
    for c in COLUMNS:
        assert f"| `{c.name}` | `{c.thai}` |" in text
    for d in catalogue().values():
        assert f"#### `{d.code}`" in text
        assert (d.fix_en if lang == "en" else d.fix_th) in text
        assert (d.en if lang == "en" else d.th) in text


def test_the_exit_codes_in_the_guides_are_the_cli_codes():
    en = guide.guide_markdown("en")
    said = dict(re.findall(r"(\d) (when every file would be accepted|when at least one file would be quarantined|"
                           r"when the registry folder is broken|when the command itself is wrong)", en))
    assert {v: int(k) for k, v in said.items()} == {
        "when every file would be accepted": cli_common.EXIT_OK,
        "when at least one file would be quarantined": cli_common.EXIT_QUARANTINED,
        "when the registry folder is broken": cli_common.EXIT_REGISTRY,
        "when the command itself is wrong": cli_common.EXIT_USAGE,
    }
    th = guide.guide_markdown("th")
    assert (f"{cli_common.EXIT_OK} เมื่อทุกไฟล์ผ่าน" in th and f"{cli_common.EXIT_QUARANTINED} เมื่อมีไฟล์" in th
            and f"{cli_common.EXIT_REGISTRY} เมื่อโฟลเดอร์ทะเบียน" in th and f"{cli_common.EXIT_USAGE} เมื่อเรียกคำสั่ง" in th)


# --- the worked examples are valid -----------------------------------------------------------

@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("registry")
    for rel, text in demo.registry_files().items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def write_xlsx(path: Path) -> Path:
    layout = guide.xlsx_layout()
    book = openpyxl.Workbook()
    book.active.title = "notes"  # the named sheet must win over the first one
    book.active["A1"] = "ข้อความอื่นที่ไม่ใช่รายงาน"
    sheet = book.create_sheet(layout["sheet"])
    for row in layout["rows"]:
        sheet.append(row)
    book.save(path)
    return path


@pytest.fixture(scope="module")
def example_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("examples")
    files = {}
    for name in (guide.CSV_EXAMPLE, guide.JSON_EXAMPLE):
        files[name] = folder / name
        shutil.copy(guide.HERE / name, files[name])
    files[guide.XLSX_EXAMPLE] = write_xlsx(folder / guide.XLSX_EXAMPLE)
    return files


def test_every_example_is_accepted_without_a_warning(registry_dir, example_files):
    outcomes = check_files(list(example_files.values()), load_registry(registry_dir), demo.AS_OF)
    assert [(o.file_name, o.status, o.issues) for o in outcomes] == [
        (name, "accepted", []) for name in example_files]


def rows_of(path: Path) -> list[tuple]:
    table = normalise_table(read_report(path.name, path.read_bytes()))
    return [(r["row_number"], r["pilot_id"], r["agency_code"], r["period"], r["submitted_on"], r["line_type"],
             r["item_code"], r["layer"], r["actual"], r["allocated_thb"], r["disbursed_thb"], r["funding_source"])
            for r in table.rows]


def test_the_csv_example_reads_as_the_guide_says(example_files):
    common = ("PLT-2548-003", "03009", "2549-Q3", "2006-07-20")
    assert rows_of(example_files[guide.CSV_EXAMPLE]) == [
        (2, *common, "kpi", "K1", None, "64.5", None, None, None),
        (3, *common, "kpi", "K2", None, "9.5", None, None, None),
        (4, *common, "kpi", "K3", None, "5210", None, None, None),
        (5, *common, "budget", "ACT-L5-01", "5", None, "24000000.00", "17250000.00", "lead_integrated"),
        (6, *common, "budget", "ACT-L3-01", "3", None, "7200000.00", "4100000.00", "lead_integrated"),
    ]


def test_the_excel_example_reads_as_the_guide_says(example_files):
    # 1002 in a number cell -> 01002; ไตรมาส 3/2549 -> 2549-Q3; the date cell -> 2006-07-25;
    # Thai line types and funding sources -> their codes.
    common = ("PLT-2548-002", "01002", "2549-Q3", "2006-07-25")
    assert rows_of(example_files[guide.XLSX_EXAMPLE]) == [
        (2, *common, "kpi", "C1", None, "98450", None, None, None),
        (3, *common, "kpi", "C2", None, "82.5", None, None, None),
        (4, *common, "kpi", "C3", None, "21.5", None, None, None),
        (5, *common, "budget", "ACT-L2-01", "2", None, "31000000", "22750000", "lead_integrated"),
        (6, *common, "budget", "ACT-L4-01", "4", None, "9500000", "6125000", "lead_integrated"),
    ]


def test_the_json_example_reads_as_the_guide_says(example_files):
    common = ("PLT-2548-005", "07007", "2549-Q3", "2006-07-18")
    assert rows_of(example_files[guide.JSON_EXAMPLE]) == [
        (1, *common, "kpi", "R1", None, "31.2", None, None, None),
        (2, *common, "kpi", "R2", None, "14250000000", None, None, None),
        (3, *common, "kpi", "R3", None, "38", None, None, None),
        (4, *common, "budget", "ACT-L4-01", "4", None, "72000000", "50400000", "lead_integrated"),
        (5, *common, "budget", "ACT-L3-01", "3", None, "13500000", "9000000", "lead_integrated"),
    ]


def test_the_guides_show_the_example_files_verbatim():
    for lang in guide.LANGUAGES:
        text = guide.guide_markdown(lang)
        for name in (guide.CSV_EXAMPLE, guide.JSON_EXAMPLE):
            assert guide.example_text(name).rstrip("\n") in text
        assert "| 5 | PLT-2548-002 | 1002 | ไตรมาส 3/2549 | *25/7/2006* | งบประมาณ | ACT-L2-01 | 2 |  | 31000000 |" in text
        assert "B2:B6, G5:G6, H2:H4, I5:I6, J5:J6" in text and "D2:D6" in text


# --- the spellings the guides promise are the ones the normaliser reads -----------------------

@pytest.mark.parametrize("written, canonical", guide.PERIOD_VARIANTS)
def test_period_spellings(written, canonical):
    assert parse_period(written) == canonical


@pytest.mark.parametrize("written", guide.PERIOD_REFUSED)
def test_refused_periods(written):
    assert parse_period(written) is None


@pytest.mark.parametrize("written, canonical", guide.DATE_VARIANTS)
def test_date_spellings(written, canonical):
    assert parse_date(written) == canonical


@pytest.mark.parametrize("written, canonical, where", guide.NUMBER_VARIANTS)
def test_number_spellings(written, canonical, where):
    assert parse_number(written, allow_percent=where == "percent", allow_baht=where == "baht") == canonical
    if where != "any":  # and only where the guide says
        assert parse_number(written, allow_percent=False, allow_baht=False) is None


@pytest.mark.parametrize("written, canonical", guide.AGENCY_VARIANTS)
def test_agency_code_spellings(written, canonical):
    assert parse_agency_code(written) == canonical

