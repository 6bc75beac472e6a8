"""Property tests: canonical records rendered through every spelling the spec allows read back to
the same canonical values, whatever the format and encoding: CSV (UTF-8, BOM, cp874), JSON and XLSX,
where a cell is either text in one of those spellings or a typed cell (a number, a date) as Excel
stores what an agency types."""
from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal

import openpyxl
from hypothesis import given, settings, strategies as st

from pilots.normalise import normalise_table
from pilots.readers import read_report

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
THAI_MONTHS_FULL = ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
                    "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"]
HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer",
          "allocated_thb", "disbursed_thb", "funding_source"]
THAI_HEADER = ["รหัสโครงการ", "รหัสหน่วยงาน", "งวดรายงาน", "วันที่ส่ง", "ประเภทรายการ", "รหัสรายการ", "ชั้น",
               "งบจัดสรร", "เบิกจ่าย", "แหล่งงบประมาณ"]


def period_spellings(fy: int, q: int) -> list[str]:
    return [f"{fy}-Q{q}", f"Q{q}/{fy}", f"ไตรมาส {q}/{fy}", f"ไตรมาส {q}/{fy}".translate(THAI_DIGITS),
            f"ไตรมาส {q}/{fy % 100}", f"FY{fy - 543}-Q{q}"]


def date_spellings(d: date) -> list[str]:
    be = d.year + 543
    return [d.isoformat(), f"{be}-{d.month:02d}-{d.day:02d}", f"{d.day:02d}/{d.month:02d}/{be}",
            f"{d.day}/{d.month}/{d.year}", f"{d.day} {THAI_MONTHS[d.month - 1]} {be}",
            f"{d.day} {THAI_MONTHS[d.month - 1]} {be % 100}", f"{d.day} {THAI_MONTHS_FULL[d.month - 1]} {be}",
            f"{d.day} {THAI_MONTHS[d.month - 1].replace('.', '')} {be}",
            f"{d.day:02d}/{d.month:02d}/{be}".translate(THAI_DIGITS)]


def amount_spellings(baht: Decimal) -> list[str]:
    out = [f"{baht:.2f}", f"{baht:,.2f}", f"{baht:,.2f}".translate(THAI_DIGITS), f"{baht:.2f} บาท"]
    if baht % 10000 == 0:
        out.append(f"{baht / 1000000} ล้านบาท")
    return out


records = st.fixed_dictionaries({
    "fy": st.integers(2548, 2550), "q": st.integers(1, 4),
    "day": st.dates(date(2004, 10, 1), date(2007, 9, 30)),
    "agency": st.integers(1, 99999), "layer": st.integers(1, 5),
    "allocated": st.integers(0, 10**9).map(lambda satang: Decimal(satang) / 100),  # baht with satang
    "disbursed_share": st.integers(0, 100),
    "fund": st.sampled_from([("own", "งบของหน่วยงาน"), ("lead_integrated", "งบบูรณาการ"),
                             ("support_contribution", "งบสนับสนุน")]),
})


def typed_or_text(data, text: str, typed: object) -> object:
    """An XLSX cell: the text spelling, or the typed value Excel stores when the agency types it."""
    return data.draw(st.sampled_from([text, typed]))


def xlsx(header: list[str], cells: list[object]) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(header)
    book.active.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(records, st.data(), st.sampled_from(["csv-utf8", "csv-bom", "csv-cp874", "json", "xlsx", "xlsx-thai"]),
       st.sampled_from([",", ";", "\t"]))
def test_any_spelling_reads_to_the_canonical_values(rec, data, fmt, sep):
    disbursed = (rec["allocated"] * rec["disbursed_share"] / 100).quantize(Decimal("0.01"))
    thai = fmt in ("csv-cp874", "xlsx-thai")
    cells = [
        "PLT-2548-003",
        data.draw(st.sampled_from([f"{rec['agency']:05d}", str(rec["agency"])])),
        data.draw(st.sampled_from(period_spellings(rec["fy"], rec["q"]))),
        data.draw(st.sampled_from(date_spellings(rec["day"]))),
        "งบประมาณ" if thai else "budget",
        "ACT-01",
        data.draw(st.sampled_from([str(rec["layer"]), str(rec["layer"]).translate(THAI_DIGITS)])),
        data.draw(st.sampled_from(amount_spellings(rec["allocated"]))),
        data.draw(st.sampled_from(amount_spellings(disbursed))),
        rec["fund"][1] if thai else rec["fund"][0],
    ]
    header = THAI_HEADER if thai else HEADER
    if fmt.startswith("xlsx"):  # typed cells: a number cell holds a float, a date cell a datetime
        cells[3] = typed_or_text(data, cells[3], datetime(rec["day"].year, rec["day"].month, rec["day"].day))
        cells[6] = typed_or_text(data, cells[6], rec["layer"])
        cells[7] = typed_or_text(data, cells[7], float(rec["allocated"]))
        cells[8] = typed_or_text(data, cells[8], float(disbursed))
        name, raw = "r.xlsx", xlsx(header, cells)
    elif fmt == "json":
        doc = dict(zip(header[:4], cells[:4]), lines=[dict(zip(header[4:], cells[4:]))])
        name, raw = "r.json", json.dumps(doc, ensure_ascii=False).encode("utf-8")
    else:
        quote = (lambda c: f'"{c}"' if sep in c else c)
        text = "\n".join(sep.join(quote(c) for c in row) for row in (header, cells)) + "\n"
        name = "r.csv"
        raw = {"csv-utf8": text.encode("utf-8"), "csv-bom": ("\ufeff" + text).encode("utf-8"),
               "csv-cp874": text.encode("cp874")}[fmt]
    table = read_report(name, raw)
    out = normalise_table(table)
    assert not [i for i in out.issues if i.is_error]
    row = out.rows[0]
    assert row["agency_code"] == f"{rec['agency']:05d}"
    assert row["period"] == f"{rec['fy']}-Q{rec['q']}"
    assert row["submitted_on"] == rec["day"].isoformat()
    assert row["layer"] == str(rec["layer"])
    assert Decimal(row["allocated_thb"]) == rec["allocated"]
    assert Decimal(row["disbursed_thb"]) == disbursed
    assert row["funding_source"] == rec["fund"][0]
    assert row["line_type"] == "budget"
