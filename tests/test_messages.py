"""Messages in the reader's language (issue 16 item 2): columns named as the file wrote them, and
Thai messages with no English words in them."""
from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest

from pilots.defects import catalogue
from pilots.ingest import check_files
from pilots.readers import read_report
from pilots.readers.base import ReadFailure
from pilots.readers.limits import Limits
from pilots.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = load_registry(ROOT / "tests" / "data" / "registry" / "valid")
AS_OF = date(2006, 8, 15)

TH_HEADER = "รหัสโครงการ,รหัสหน่วยงาน,งวดรายงาน,วันที่ส่ง,ประเภทรายการ,รหัสรายการ,ผลการดำเนินงาน,หมายเหตุ"
EN_HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,actual,note"


def check_one(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    [outcome] = check_files([path], REGISTRY, AS_OF)
    return outcome


def only(outcome, code: str):
    [issue] = [i for i in outcome.issues if i.code == code]
    return issue


# --- columns named as written ----------------------------------------------------------------

def test_a_thai_header_is_named_in_both_messages_and_the_column_name_stays_canonical(tmp_path):
    out = check_one(tmp_path, "r.csv", f"{TH_HEADER}\n"
                    "PLT-2548-003,03009,ไตรมาส 3/2549,20/07/2549,ตัวชี้วัด,K3,\"3,045 คน\",\n")
    issue = only(out, "NOT_A_NUMBER")
    assert (issue.row_number, issue.column_name) == (2, "actual")
    assert issue.message_th == "'3,045 คน' ในคอลัมน์ 'ผลการดำเนินงาน' ไม่ใช่ตัวเลข"
    assert issue.message_en == "'3,045 คน' in 'ผลการดำเนินงาน' is not a number."


def test_an_english_header_is_named_as_written_too(tmp_path):
    # Headers match without regard to case and spaces; the message keeps the file's spelling.
    header = EN_HEADER.replace("actual", " Actual ")
    out = check_one(tmp_path, "r.csv", f"{header}\nPLT-2548-003,03009,2549-Q3,2006-07-20,kpi,K3,abc,\n")
    issue = only(out, "NOT_A_NUMBER")
    assert issue.column_name == "actual"
    assert issue.message_en == "'abc' in 'Actual' is not a number."


def test_rows_disagree_and_value_required_name_the_thai_header(tmp_path):
    out = check_one(tmp_path, "r.csv", f"{TH_HEADER}\n"
                    "PLT-2548-003,03009,2549-Q3,2006-07-20,kpi,K1,50,\n"
                    "PLT-2548-003,03009,2549-Q3,2006-07-20,kpi,K2,12,\n"
                    "PLT-2548-003,15001,2549-Q3,2006-07-20,kpi,K3,,\n")
    disagree = only(out, "ROWS_DISAGREE")
    assert (disagree.row_number, disagree.column_name) == (4, "agency_code")
    assert disagree.message_th == ("'รหัสหน่วยงาน' ในแถวนี้คือ '15001' แต่แถวส่วนใหญ่คือ '03009' "
                                   "ไฟล์หนึ่งต้องเป็นรายงานเดียว")
    required = only(out, "VALUE_REQUIRED")
    assert (required.row_number, required.column_name) == (4, "actual")
    assert required.message_th == "แถวนี้ต้องระบุค่า 'ผลการดำเนินงาน'"


def test_a_json_field_is_named_as_written(tmp_path):
    out = check_one(tmp_path, "r.json", '{"pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2549-Q3",'
                    ' "submitted_on": "2006-07-20", "lines": [{"line_type": "kpi", "item_code": "K3",'
                    ' "ผลการดำเนินงาน": "many"}]}')
    issue = only(out, "NOT_A_NUMBER")
    assert issue.column_name == "actual"
    assert issue.message_th == "'many' ในคอลัมน์ 'ผลการดำเนินงาน' ไม่ใช่ตัวเลข"


def test_a_missing_column_keeps_its_canonical_name_and_thai_label(tmp_path):
    header = TH_HEADER.replace(",ผลการดำเนินงาน", "")
    out = check_one(tmp_path, "r.csv", f"{header}\nPLT-2548-003,03009,2549-Q3,2006-07-20,kpi,K3,\n")
    issue = only(out, "COLUMN_MISSING")
    assert issue.message_th == "ไม่พบคอลัมน์ที่ต้องมี 'ผลการดำเนินงาน' (actual) ในแถวหัวตาราง"


# --- Thai messages are Thai ------------------------------------------------------------------

def test_the_empty_file_message_is_all_thai(tmp_path):
    out = check_one(tmp_path, "empty.csv", "")
    issue = only(out, "FILE_NO_TABLE")
    assert issue.message_th == "ไม่พบตารางรายงานในไฟล์: ไฟล์ว่างเปล่า"
    assert not re.search("[A-Za-z]", issue.message_th)
    assert issue.message_en == "The file holds no report table: the file is empty."


def test_a_header_without_rows_and_broken_json_say_why_in_thai(tmp_path):
    out = check_one(tmp_path, "h.csv", EN_HEADER + "\n")
    assert only(out, "FILE_NO_TABLE").message_th == "ไม่พบตารางรายงานในไฟล์: มีแถวหัวตารางแต่ไม่มีแถวข้อมูล"
    out = check_one(tmp_path, "b.json", '{"pilot_id": "PLT-2548-003",\n    oops}')
    issue = only(out, "FILE_UNREADABLE")
    assert issue.message_th == ("ไม่สามารถอ่านไฟล์ได้: ไฟล์ JSON ผิดรูปแบบที่บรรทัด 2 ตำแหน่งที่ 5 "
                                "กรุณาส่งออกไฟล์จากระบบต้นทางใหม่แล้วส่งอีกครั้ง")
    assert issue.message_en.startswith("The file cannot be read: invalid JSON at line 2, column 5 (")


def test_a_role_is_named_in_thai(tmp_path):
    header = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,allocated_thb,disbursed_thb,funding_source"
    out = check_one(tmp_path, "r.csv", f"{header}\nPLT-2548-003,15001,2549-Q3,2006-07-20,budget,ACT-L3-02,3,100,50,งบสนับสนุน\n")
    issue = only(out, "SUPPORT_NOT_SUPPORTING")
    assert issue.message_th == "เฉพาะหน่วยงานเสริมส่ง 'งบสนับสนุน' ได้ หน่วยงาน 15001 เป็นหน่วยงานรอง"
    assert issue.message_en == "Only supporting agencies send 'support_contribution'; agency 15001 is secondary."


def test_the_size_limits_are_said_in_thai(monkeypatch):
    monkeypatch.setattr("pilots.readers.LIMITS", Limits(max_file_bytes=10, max_inflated_bytes=10, max_member_bytes=10,
                                                         max_compression_ratio=2, max_rows=1))
    with pytest.raises(ReadFailure) as info:
        read_report("r.csv", b"x" * 11)
    assert info.value.issue.message_th == ("ไฟล์มีขนาดใหญ่เกินไป: ไฟล์มีขนาด 11 ไบต์ (จำกัดที่ 10 ไบต์) "
                                           "กรุณาแยกเป็นหนึ่งไฟล์ต่อโครงการต่อไตรมาส")
    monkeypatch.setattr("pilots.readers.LIMITS", Limits(max_file_bytes=10_000, max_inflated_bytes=10, max_member_bytes=10,
                                                         max_compression_ratio=2, max_rows=1))
    with pytest.raises(ReadFailure) as info:
        read_report("r.csv", f"{EN_HEADER}\na\nb\n".encode())
    assert "ไฟล์มี 2 แถว (จำกัดที่ 1 แถว)" in info.value.issue.message_th


# --- the scan --------------------------------------------------------------------------------

# What Latin text a Thai message may hold, and nothing else:
# - a {parameter}: it is filled with a code, a number or the agency's own text;
# - one token in single quotes ('N/A', 'lines', '2548-Q1'): a value, code or column name as written;
# - these names of programs, file formats and encodings, which Thai writes in Latin letters:
ALLOWED_NAMES = {"Excel", "LibreOffice", "Word", "PDF", "CSV", "JSON", "UTF-8", "Windows-874", "TIS-620",
                 ".csv", ".xlsx", ".json", ".xls", ".pdf"}


def latin_words(thai_text: str) -> list[str]:
    text = re.sub(r"\{\w+\}", " ", thai_text)
    text = re.sub(r"'[^'\s]+'", " ", text)
    words = re.findall(r"[.\w-]*[A-Za-z][.\w-]*", text)
    return [w for w in words if w not in ALLOWED_NAMES]


def test_the_scan_finds_english_words():
    assert latin_words("ไม่พบตารางรายงานในไฟล์: the file is empty") == ["the", "file", "is", "empty"]
    assert latin_words("ใน 'actual' ของ '{column}' เป็น {role} ไฟล์ CSV หรือ .xlsx") == []
    assert latin_words("ใน 'a b' หรือ \"actual\"") == ["a", "b", "actual"]
    assert latin_words("ชนิด UTF-16 หรือ Excel2") == ["UTF-16", "Excel2"]


@pytest.mark.parametrize("code", sorted(catalogue()))
def test_every_thai_text_of_the_catalogue_is_thai(code):
    d = catalogue()[code]
    texts = {"th": d.th, "fix_th": d.fix_th, **{f"details.{k}": t.th for k, t in d.details.items()}}
    for where, text in texts.items():
        assert latin_words(text) == [], f"{code}.{where}: {text}"
        assert re.search("[ก-๛]", text), f"{code}.{where} holds no Thai"


WORD_PARAMS = ("detail", "limit", "role")  # parameters that carry words, not values or codes


def test_every_worded_parameter_comes_from_the_catalogue_in_both_languages():
    """A reason passed as a plain string would put English into the Thai message: every detail,
    limit and role the code passes is a `detail(...)` call (a catalogued, bilingual text)."""
    offenders = []
    for path in sorted((ROOT / "pilots").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "make_issue":
                for kw in node.keywords:
                    if kw.arg in WORD_PARAMS and not (isinstance(kw.value, ast.Call)
                                                      and getattr(kw.value.func, "id", None) == "detail"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {kw.arg}=")
    assert offenders == []
    used = {p for d in catalogue().values() for p in d.params}
    assert set(WORD_PARAMS) <= used


def test_every_entry_says_how_to_fix_it_in_both_languages():
    for d in catalogue().values():
        assert d.fix_en.strip() and d.fix_th.strip(), d.code
        assert re.search("[ก-๛]", d.fix_th), d.code
