"""The example files on an agency's home page (web.md "Upload"; agency-report-v1.md: CSV, Excel
`.xlsx`, JSON): next to the CSV example, the format guide's Excel example as a real workbook
(W item 6). Its cells are pilots/guide's layout, typed as the guide says, and the very bytes
downloaded pass the upload check (the same code as `pilotkpi check`) for an agency of 01002."""
from __future__ import annotations

import io
import re
from datetime import datetime

import openpyxl

from tests.web.conftest import verdict
from web.accounts import accounts_path, add

XLSX = "/examples/PLT-2548-002_01002_2549-Q3.xlsx"


def test_an_agency_downloads_the_excel_example_and_it_passes_the_check(client_for, site_dir):
    agency = client_for("demo-agency")
    home = agency.get("/").text
    links = re.findall(r'<a href="(/examples/[^"]+)">([^<]+)</a>', home)
    assert links == [("/examples/PLT-2548-003_03009_2549-Q3.csv", "CSV"), (XLSX, "Excel"),
                     ("/examples/PLT-2548-005_07007_2549-Q3.json", "JSON")]
    for path, _ in links:
        assert agency.get(path).status_code == 200, path

    got = agency.get(XLSX)
    assert got.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert got.headers["content-disposition"] == 'attachment; filename="PLT-2548-002_01002_2549-Q3.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["รายงาน"]  # a sheet name the guide says is the report's
    rows = [list(r) for r in book["รายงาน"].iter_rows(values_only=True)]
    # pilots/guide/PLT-2548-002_01002_2549-Q3.xlsx.yaml, cell by cell: Thai headers, the agency code as
    # the number Excel makes of it, a Thai period, a date cell, Thai line types and funding source.
    assert rows[0] == ["รหัสโครงการ", "รหัสหน่วยงาน", "งวดรายงาน", "วันที่ส่ง", "ประเภทรายการ", "รหัสรายการ", "ชั้น",
                       "ผลการดำเนินงาน", "งบจัดสรร", "เบิกจ่าย", "แหล่งงบประมาณ", "หมายเหตุ"]
    assert rows[1] == ["PLT-2548-002", 1002, "ไตรมาส 3/2549", datetime(2006, 7, 25), "ตัวชี้วัด", "C1", None, 98450,
                       None, None, None, None]
    assert rows[2][7] == 82.5 and rows[3][7] == 21.5
    assert rows[4] == ["PLT-2548-002", 1002, "ไตรมาส 3/2549", datetime(2006, 7, 25), "งบประมาณ", "ACT-L2-01", 2, None,
                       31000000, 22750000, "งบบูรณาการ", "ศูนย์บริการข้อมูลภาครัฐ สายด่วน 1111"]
    assert rows[5][5:10] == ["ACT-L4-01", 4, None, 9500000, 6125000] and len(rows) == 6
    assert book["รายงาน"]["D2"].is_date and book["รายงาน"]["B2"].data_type == "n"

    # The agency that leads the example's pilot checks the very bytes: no defect, it would be accepted.
    add(accounts_path(site_dir / "warehouse.duckdb"), "gdx", "agency", "gdx-password-long", ["01002"])
    gdx = client_for()
    assert gdx.sign_in("gdx", "gdx-password-long").status_code == 303
    checked = gdx.upload("PLT-2548-002_01002_2549-Q3.xlsx", got.content)
    assert checked.status_code == 200
    assert verdict(checked.text) in ("new", "replaces"), checked.text[:2000]
    assert 'id="issues"' not in checked.text
