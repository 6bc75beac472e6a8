"""Variants of agency-report-v1.md read to canonical values (hand-written expectations)."""
from __future__ import annotations

import pytest

from pilots.normalise import (
    clean_text, normalise_table, parse_agency_code, parse_date, parse_number, parse_period,
)
from warehouse.personal import mask_national_ids, valid_national_id
from pilots.readers import RawTable


@pytest.mark.parametrize("text, expected", [
    ("2548-Q1", "2548-Q1"),
    ("Q1/2548", "2548-Q1"),
    ("ไตรมาส 1/2548", "2548-Q1"),
    ("ไตรมาส ๑/๒๕๔๘", "2548-Q1"),
    ("ไตรมาส 1/48", "2548-Q1"),
    ("1/48", "2548-Q1"),          # reading: a bare q/yy in the period column is a period, BE
    ("FY2005-Q1", "2548-Q1"),     # CE name of FY 2548
    ("ไตรมาส 5/2548", None),
    ("Q1-Q2/2548", None),
    ("2005-Q1", None),            # a CE year without the FY prefix is not a BE fiscal year
])
def test_periods(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2004-12-20", "2004-12-20"),
    ("2547-12-20", "2004-12-20"),
    ("20/12/2547", "2004-12-20"),
    ("20/12/2004", "2004-12-20"),
    ("20 ธ.ค. 2547", "2004-12-20"),
    ("20 ธ.ค. 47", "2004-12-20"),
    ("20 ธค 2547", "2004-12-20"),
    ("20 ธันวาคม 2547", "2004-12-20"),
    ("๒๐/๑๒/๒๕๔๗", "2004-12-20"),
    ("05/04/2548", "2005-04-05"),  # slashed dates are day/month/year
    ("31/02/2548", None),
    ("20/13/2548", None),
    ("yesterday", None),
])
def test_dates(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text, kw, expected", [
    ("1,250,000.00", {}, "1250000.00"),
    ("๑,๒๕๐,๐๐๐", {}, "1250000"),
    ("1.25 ล้านบาท", {}, "1250000.00"),
    ("1250000 บาท", {}, "1250000"),
    ("85%", {}, "85"),
    ("85%", {"allow_percent": False}, None),
    ("-5", {}, "-5"),
    ("12,34", {}, None),
    ("abc", {}, None),
])
def test_numbers(text, kw, expected):
    args = {"allow_percent": True, "allow_baht": True, **kw}
    assert parse_number(text, **args) == expected


def test_agency_codes_get_their_leading_zeros_back():
    assert parse_agency_code("3009") == "03009"
    assert parse_agency_code("3009.0") == "03009"
    assert parse_agency_code("03009") == "03009"
    assert parse_agency_code("AB123") == "AB123"


def test_text_quirks_and_placeholders():
    assert clean_text("\u200bK1\u200d ") == "K1"
    assert clean_text("ส\u0e4d\u0e32นักงาน") == "สำนักงาน"
    for placeholder in ("", " - ", "N/A", "n/a", "รอข้อมูล"):
        assert clean_text(placeholder) is None


def test_national_id_check_digit_and_masking():
    # 1 1 0 1 7 0 0 2 0 3 9 3 weighted 13..2 sums to 155; 155 mod 11 = 1; (11 - 1) mod 10 = 0.
    assert valid_national_id("1101700203930")
    assert not valid_national_id("1101700203931")
    assert mask_national_ids("ติดต่อ 1-1017-00203-93-0 ด่วน") == ("ติดต่อ [masked-id] ด่วน", True)
    assert mask_national_ids("1 1017 00203 93 0") == ("[masked-id]", True)
    assert mask_national_ids("ref 1101700203931") == ("ref 1101700203931", False)


def test_thai_headers_total_rows_and_missing_columns():
    raw = RawTable("csv", "utf-8", ["\u200bรหัสโครงการ", "รหัสหน่วยงาน", "งวดรายงาน", "วันที่ส่ง", "ประเภทรายการ",
                                    "รหัสรายการ", "ผลการดำเนินงาน", "หมายเหตุ"], [
        (2, ["PLT-1", "3009", "Q1/2548", "20/01/2548", "ตัวชี้วัด", "K1", "47", "โทร 1101700203930"]),
        (3, [None, None, None, None, None, None, "47", "รวม"]),
    ])
    out = normalise_table(raw)
    assert out.rows == [{
        "row_number": 2, "pilot_id": "PLT-1", "agency_code": "03009", "period": "2548-Q1",
        "submitted_on": "2005-01-20", "line_type": "kpi", "item_code": "K1", "layer": None, "actual": "47",
        "allocated_thb": None, "disbursed_thb": None, "funding_source": None, "note": "โทร [masked-id]",
    }]
    assert [(i.code, i.row_number, i.column_name) for i in out.issues] == [
        ("NATIONAL_ID_MASKED", 2, "note"), ("TOTAL_ROW_IGNORED", 3, None)]
    assert out.missing_columns == set()


def test_budget_lines_need_their_columns():
    raw = RawTable("csv", "utf-8", ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code"],
                   [(2, ["P", "03009", "2548-Q1", "2005-01-20", "budget", "ACT-1"])])
    out = normalise_table(raw)
    assert out.missing_columns == {"layer", "allocated_thb", "disbursed_thb", "funding_source"}
    assert sorted(i.column_name for i in out.issues if i.code == "COLUMN_MISSING") == [
        "allocated_thb", "disbursed_thb", "funding_source", "layer"]
