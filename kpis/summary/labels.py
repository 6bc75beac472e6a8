"""Words and number/date formats of the committee summary, in Thai and English."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, ROUND_HALF_UP

from pilots.fiscal import be_year, ce_year as _ce_year
from pilots.thai_dates import ENGLISH_MONTHS_ABBR, THAI_MONTHS_ABBR

from kpis.outliers import THRESHOLD
from warehouse.times import bangkok_date

# The outlier flag's limit on |z| (data-quality.md §1), as the flags are computed: 3.5.
Z_LIMIT = format(Decimal(THRESHOLD.numerator) / THRESHOLD.denominator, "f")

# Canonical period text as ingest stores it. Anything else reaching a formatter is shown as it is:
# formatters are total, so no text in the warehouse can stop a summary after the commit.
_PERIOD = re.compile(r"[0-9]{4}-Q[1-4]")


LABELS: dict[str, dict[str, str]] = {
    "th": {
        "title": "สรุปผลโครงการนำร่องรัฐบาลอิเล็กทรอนิกส์",
        "as_of": "ข้อมูล ณ วันที่",
        "overview": "ภาพรวม",
        "by_status": "จำนวนโครงการตามสถานะ",
        "by_layer": "จำนวนโครงการตามชั้นการพัฒนา",
        "by_strategy": "จำนวนโครงการตามยุทธศาสตร์",
        "budget_by_layer": "งบประมาณรวมและงบบูรณาการตามชั้น",
        "left_out_restricted": "ไม่รวมโครงการชั้นความลับ {n} โครงการ ข้อมูลงบประมาณของโครงการนั้นอยู่ในระบบที่แยกไว้",
        "layer": "ชั้น", "strategy": "ยุทธศาสตร์", "status": "สถานะ", "count": "จำนวน",
        "total_budget": "งบจัดสรรรวม", "integrated": "งบบูรณาการ", "ratio": "สัดส่วนบูรณาการ",
        "pilot": "โครงการ", "period": "งวด", "composite": "คะแนนรวม",
        "trend": "แนวโน้มคะแนนรวม", "kpis": "ตัวชี้วัด", "kpi": "ตัวชี้วัด", "actual": "ผลการดำเนินงาน",
        "thresholds": "เกณฑ์คะแนน 1–5 ที่ใช้", "score": "คะแนน", "weight": "น้ำหนัก", "unit": "หน่วย",
        "ytd": "ผลสะสมตั้งแต่ต้นปีงบประมาณ (ไตรมาส 1–{q})",
        "prorated": "ปรับตามสัดส่วนของปีที่ผ่านไป ({q}/4) จากเกณฑ์ทั้งปี {annual}",
        "budget": "การบูรณาการงบประมาณ", "fragmented": "งบแยกส่วน", "lead_share": "สัดส่วนหน่วยงานหลัก",
        "support": "งบสนับสนุน", "disbursed": "เบิกจ่าย", "disbursement_rate": "อัตราการเบิกจ่าย",
        "overlap": "กิจกรรมซ้ำซ้อน", "agencies_reporting": "หน่วยงานที่รายงาน",
        "late": "หน่วยงานที่ส่งรายงานล่าช้าหรือไม่ส่ง", "agency": "หน่วยงาน", "role": "บทบาท",
        "due": "กำหนดส่ง", "submitted_on": "วันที่ส่ง", "days_late": "ล่าช้า (วัน)", "not_submitted": "ไม่ส่ง",
        "quarantined": "ไฟล์ที่ถูกกักไว้", "file": "ไฟล์", "reasons": "เหตุผล", "row": "แถว", "column": "คอลัมน์",
        "resolved": "แก้ไขแล้ว", "unresolved": "ยังไม่ได้แก้ไข",
        "replaced_by": "หน่วยงานส่งไฟล์ฉบับถูกต้องมาแทนแล้ว:",
        "accepted": "ใช้ข้อมูลชุดนี้", "superseded": "มีฉบับใหม่กว่ามาแทน",
        "unknown_agency": "หน่วยงานที่อ่านรหัสไม่ได้", "submission": "ลำดับรับที่",
        "none": "ไม่มี", "no_data": "ไม่มีข้อมูล", "restricted": "โครงการชั้นความลับ: แสดงเฉพาะสถานะ คะแนนรวม และการส่งรายงาน",
        "more_reasons": "และข้อบกพร่องอื่นในไฟล์นี้อีก {n} รายการ (บันทึกไว้ครบในตาราง ingest.issues ของคลังข้อมูล)",
        "kpis_reported": "ตัวชี้วัดที่รายงาน",
        "on_target": "🟢 บรรลุเป้าหมาย", "at_risk": "🟡 มีความเสี่ยง", "off_track": "🔴 ไม่บรรลุเป้าหมาย",
        "no_data_status": "⚪ ไม่มีข้อมูล",
        "lead": "หน่วยงานหลัก", "secondary": "หน่วยงานรอง", "supporting": "หน่วยงานเสริม", "advisory": "หน่วยงานที่ปรึกษา",
        "higher": "ยิ่งมากยิ่งดี", "lower": "ยิ่งน้อยยิ่งดี",
        "validation_report": "รายงานการตรวจสอบไฟล์", "integrated_vs_total": "งบบูรณาการเทียบกับงบจัดสรรรวม",
        "footer": "จัดทำโดยระบบ pilotkpi จากคลังข้อมูลโครงการนำร่อง ตัวเลขทุกตัวมาจากตารางสรุปผลของคลังข้อมูล",
        "page": "หน้า",
    },
    "en": {
        "title": "E-government pilot projects: committee summary",
        "as_of": "As of",
        "overview": "Overview",
        "by_status": "Pilots by status",
        "by_layer": "Pilots by development layer",
        "by_strategy": "Pilots by strategy",
        "budget_by_layer": "Total and integrated budget by layer",
        "left_out_restricted": "Leaves out {n} restricted pilot(s): their budget stays in the restricted store",
        "layer": "Layer", "strategy": "Strategy", "status": "Status", "count": "Count",
        "total_budget": "Total allocated", "integrated": "Integrated", "ratio": "Integration ratio",
        "pilot": "Pilot", "period": "Period", "composite": "Composite score",
        "trend": "Composite trend", "kpis": "Key performance indicators", "kpi": "KPI", "actual": "Actual",
        "thresholds": "Thresholds for scores 1–5, as applied", "score": "Score", "weight": "Weight", "unit": "Unit",
        "ytd": "year to date (Q1–Q{q})",
        "prorated": "pro-rated to the share of the year elapsed ({q}/4) from the annual thresholds {annual}",
        "budget": "Budget integration", "fragmented": "Fragmented", "lead_share": "Lead share",
        "support": "Support contributions", "disbursed": "Disbursed", "disbursement_rate": "Disbursement rate",
        "overlap": "Overlapping activities", "agencies_reporting": "Agencies reporting",
        "late": "Agencies late or missing", "agency": "Agency", "role": "Role",
        "due": "Due", "submitted_on": "Submitted", "days_late": "Days late", "not_submitted": "not submitted",
        "quarantined": "Quarantined files", "file": "File", "reasons": "Reasons", "row": "row", "column": "column",
        "resolved": "resolved", "unresolved": "not resolved",
        "replaced_by": "a valid version replaced it:",
        "accepted": "in use", "superseded": "since replaced by a newer version",
        "unknown_agency": "agency code unreadable", "submission": "submission",
        "none": "None", "no_data": "no data", "restricted": "Restricted pilot: status, composite score and reporting only",
        "more_reasons": "and {n} more defect(s) in this file (all of them are in the warehouse's ingest.issues)",
        "kpis_reported": "KPIs reported",
        "on_target": "🟢 on target", "at_risk": "🟡 at risk", "off_track": "🔴 off track",
        "no_data_status": "⚪ no data",
        "lead": "lead", "secondary": "secondary", "supporting": "supporting", "advisory": "advisory",
        "higher": "higher is better", "lower": "lower is better",
        "validation_report": "File validation report", "integrated_vs_total": "Integrated against total allocated",
        "footer": "Generated by pilotkpi from the pilot warehouse; every figure comes from its marts tables.",
        "page": "Page",
    },
}


# The five layers of development work of the 22 June 2004 resolution (../shared/seed/), short names.
LAYERS: dict[int, dict[str, str]] = {
    1: {"th": "โครงข่ายโทรคมนาคม", "en": "Network"},
    2: {"th": "มาตรฐานและช่องทางการเข้าสู่โครงข่าย", "en": "Standards and access channels"},
    3: {"th": "ข้อมูลกลางและความปลอดภัยของข้อมูล", "en": "Shared central data and its security"},
    4: {"th": "โปรแกรมประยุกต์ที่ใช้ข้อมูลร่วมกัน", "en": "Shared applications across agencies"},
    5: {"th": "การบูรณาการข้อมูลเพื่อบริการประชาชน (E-Citizen / One Stop Service)",
        "en": "Integration for citizens (e-citizen / one-stop service)"},
}

# KPI units (registry.kpis.unit) in words, for the KPI table's unit column.
UNITS: dict[str, dict[str, str]] = {
    "percent": {"th": "ร้อยละ", "en": "percent"},
    "baht": {"th": "บาท", "en": "baht"},
    "days": {"th": "วัน", "en": "days"},
    "count": {"th": "จำนวน (นับ)", "en": "count"},
    "score": {"th": "คะแนน", "en": "score"},
}

# The report file's columns in Thai (pilots/contract.py says them once; kpis does not import pilots,
# so tests/test_summary_words.py checks that this copy matches).
COLUMNS_TH: dict[str, str] = {
    "pilot_id": "รหัสโครงการ", "agency_code": "รหัสหน่วยงาน", "period": "งวดรายงาน", "submitted_on": "วันที่ส่ง",
    "line_type": "ประเภทรายการ", "item_code": "รหัสรายการ", "layer": "ชั้น", "actual": "ผลการดำเนินงาน",
    "allocated_thb": "งบจัดสรร", "disbursed_thb": "เบิกจ่าย", "funding_source": "แหล่งงบประมาณ", "note": "หมายเหตุ",
}


def layer_name(layer: object, lang: str) -> str:
    """"5 Integration for citizens (…)"; a number outside 1–5 (never in a valid registry) alone."""
    names = LAYERS.get(layer) if isinstance(layer, int) else None
    return f"{layer} {names[lang]}" if names else str(layer)


def strategy_name(number: object, names: dict, lang: str) -> str:
    """"6 Modernising the public sector" where strategies.yaml names it, else the number alone."""
    named = names.get(number)
    return f"{number} {named[lang]}" if named else str(number)


def column_label(column: str | None, lang: str) -> str:
    """A report column in the edition's language, its canonical name in brackets in Thai."""
    if not column:
        return "–"
    if lang == "th" and column in COLUMNS_TH:
        return f"{COLUMNS_TH[column]} ({column})"
    return column


def fmt_quantity(value: Decimal | None, unit: str, lang: str) -> str:
    """A KPI actual or threshold with its unit: 85.5%, 6,000.00 ล้านบาท, 12 วัน / 12 days, 3,045."""
    if value is None:
        return "–"
    if unit == "baht":
        return fmt_money(value, lang)
    if unit == "percent":
        return f"{fmt_number(value)}%"
    if unit == "days":
        return f"{fmt_number(value)} {'วัน' if lang == 'th' else 'days'}"
    return fmt_number(value)  # count, score: the unit column says which


def status_label(status: str, lang: str) -> str:
    return LABELS[lang]["no_data_status" if status == "no_data" else status]


def status_text(status: str, lang: str) -> str:
    """The status in words only (the HTML shows colour through CSS, not emoji a font may lack)."""
    return status_label(status, lang).split(" ", 1)[1]


def raw_value(value: object) -> str:
    """The machine-readable form of a figure, for data-value attributes (tests compare these)."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def is_period(text: str) -> bool:
    """Whether text is a canonical period (2549-Q3)."""
    return bool(_PERIOD.fullmatch(text))


def quarter_of(period: str | None) -> str:
    """The quarter number of a canonical period (2549-Q3 -> 3); total, like every formatter."""
    return period[-1] if period and _PERIOD.fullmatch(period) else "?"


def fmt_date(value: date | None, lang: str) -> str:
    if value is None:
        return "–"
    if not isinstance(value, date):
        return str(value)
    if isinstance(value, datetime):  # a stored moment (UTC): the day it was in Bangkok, not in UTC
        value = bangkok_date(value)
    if lang == "th":  # Buddhist Era with Thai month abbreviations, e.g. 15 ส.ค. 2549
        return f"{value.day} {THAI_MONTHS_ABBR[value.month - 1]} {be_year(value.year)}"
    return f"{value.day} {ENGLISH_MONTHS_ABBR[value.month - 1]} {value.year}"  # not %b: it follows LC_TIME


def fmt_period(period: str | None, lang: str) -> str:
    if not period:
        return "–"
    if not _PERIOD.fullmatch(period):
        return str(period)
    fy, q = period.split("-Q")
    return f"ไตรมาส {q}/{fy}" if lang == "th" else f"FY{_ce_year(fy)} Q{q}"


def fmt_period_short(period: str, lang: str) -> str:
    """Axis labels of trend charts: 3/2549 (Thai) or Q3 FY2006."""
    if not _PERIOD.fullmatch(period or ""):
        return str(period)
    fy, q = period.split("-Q")
    return f"{q}/{fy}" if lang == "th" else f"Q{q} FY{_ce_year(fy)}"


def fmt_money(value: Decimal | None, lang: str) -> str:
    """Baht with separators; millions where easier to read."""
    if value is None:
        return "–"
    unit = "บาท" if lang == "th" else "THB"
    if abs(value) >= 1_000_000:
        millions = (Decimal(value) / Decimal(1_000_000)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return f"{millions:,} {'ล้านบาท' if lang == 'th' else 'million THB'}"
    return f"{Decimal(value):,.2f} {unit}"


def fmt_number(value: Decimal | None) -> str:
    if value is None:
        return "–"
    d = Decimal(value).normalize()
    return f"{d:,f}" if d == d.to_integral() else f"{d:,}"


def fmt_score(value: Decimal | None) -> str:
    return "–" if value is None else f"{Decimal(value):.4f}"


def fmt_ratio(value: Decimal | None) -> str:
    return "–" if value is None else f"{Decimal(value) * 100:.2f}%"


# The committee's controls (kpis/summary/controls.py), kept apart from LABELS' own entries and
# merged into them: closed quarters, held files, and outlier flags ("Figures to confirm").
CONTROL_LABELS: dict[str, dict[str, str]] = {
    "th": {
        "closed": "ปิดงวดแล้ว", "closed_quarters": "งวดที่ปิดแล้ว", "closed_on": "วันที่ปิด", "closed_by": "ปิดโดย",
        "composite_at_closing": "คะแนนรวมเมื่อปิดงวด", "composite_now": "คะแนนรวมปัจจุบัน",
        "changed_since_closing": "เปลี่ยนแปลงหลังปิดงวด",
        "changed_since_closing_note": "คะแนนรวมต่างจากเมื่อปิดงวด ({was})",
        "unchanged": "ไม่เปลี่ยนแปลง",
        "held_files": "ไฟล์ที่รอคณะกรรมการพิจารณา", "held_submission": "เลขที่รายงาน", "received_on": "วันที่รับ",
        "figures_to_confirm": "ตัวเลขที่ควรยืนยัน", "history_median": "มัธยฐานย้อนหลัง", "modified_z": "ค่า z ปรับแก้",
        "rule": "เกณฑ์", "rule_modified_z": f"ค่า |z| ปรับแก้เกิน {Z_LIMIT}",
        "rule_changed_after_flat": "เปลี่ยนจากค่าที่คงที่มาตลอด",
    },
    "en": {
        "closed": "closed", "closed_quarters": "Closed quarters", "closed_on": "Closed on", "closed_by": "Closed by",
        "composite_at_closing": "Composite at closing", "composite_now": "Composite now",
        "changed_since_closing": "changed since closing",
        "changed_since_closing_note": "the composite differs from the one at closing ({was})",
        "unchanged": "unchanged",
        "held_files": "Files waiting for the committee's decision", "held_submission": "Submission",
        "received_on": "Received",
        "figures_to_confirm": "Figures to confirm", "history_median": "History median", "modified_z": "modified z",
        "rule": "Rule", "rule_modified_z": f"|z| (modified z-score) above {Z_LIMIT}",
        "rule_changed_after_flat": "changed after a flat history",
    },
}
def _merge(extra: dict[str, dict[str, str]], what: str) -> None:
    """Add a block's labels to LABELS; one key, one meaning (found when `submission` collided)."""
    for lang, words in extra.items():
        if set(words) & set(LABELS[lang]):
            raise RuntimeError(f"{what} labels would replace summary labels: {set(words) & set(LABELS[lang])}")
        LABELS[lang].update(words)


_merge(CONTROL_LABELS, "control")


# The summary at national scale (kpis/summary/pages.py): the overview table of every pilot, the
# contents by layer and status, and the per-pilot files a page over about 5 MB is split into.
NATIONAL_LABELS: dict[str, dict[str, str]] = {
    "th": {
        "all_pilots": "โครงการทั้งหมด", "contents": "สารบัญตามชั้นและสถานะ",
        "change": "เปลี่ยนจากงวดก่อน", "late_agencies": "หน่วยงานส่งช้าหรือไม่ส่ง (งวดล่าสุด)",
        "back_to_summary": "กลับไปหน้าสรุป",
        "split_note": "รายละเอียดของแต่ละโครงการอยู่ในไฟล์แยกในโฟลเดอร์ pilots/ เพราะหน้าสรุปหน้าเดียวจะมีขนาดใหญ่เกินกว่าจะเปิดหรือส่งทางอีเมลได้สะดวก",
    },
    "en": {
        "all_pilots": "All pilots", "contents": "Contents by layer and status",
        "change": "Change from the previous period", "late_agencies": "Agencies late or missing (latest period)",
        "back_to_summary": "Back to the summary",
        "split_note": "Each pilot's details are in its own file in the pilots/ folder: one page would be too big to open or e-mail easily",
    },
}
_merge(NATIONAL_LABELS, "national")


# Words the summary explains (issue 23): a glossary in each edition, a pilot past its end date,
# and quarantined files that no pilot could take. The status bands' figures come from the model
# (SummaryModel.bands, read from marts.score_band), not from here.
EXPLAIN_LABELS: dict[str, dict[str, str]] = {
    "th": {
        "glossary": "คำอธิบายศัพท์",
        "g_flag": "ตัวเลขที่ควรยืนยัน (ธง)",
        "g_flag_text": ("ค่าตัวชี้วัดที่ต่างจากค่าในอดีตของตัวเองมาก คือค่าสัมบูรณ์ของ z ปรับแก้ (|z|) เกิน {z} "
                        "เมื่อเทียบกับมัธยฐานของค่าย้อนหลังไม่เกิน 8 ไตรมาส (อย่างน้อย 4 ไตรมาส) "
                        "ทั้งค่าที่สูงขึ้นและต่ำลง หรือค่าที่เปลี่ยนไปจากค่าที่คงที่มาตลอด ธงเป็นเพียงคำเตือน "
                        "ไฟล์ยังได้รับและค่ายังนับ หน่วยงานหลักควรยืนยันตัวเลข"),
        "g_fragmented": "งบแยกส่วน",
        "g_fragmented_text": ("งบที่หน่วยงานอื่นนอกจากหน่วยงานหลักจัดสรรจากงบของตนเอง (แหล่งงบ own) "
                              "โดยไม่ได้บูรณาการไว้กับหน่วยงานหลัก เท่ากับงบจัดสรรรวมลบงบบูรณาการ"),
        "g_lead_share": "สัดส่วนหน่วยงานหลัก",
        "g_lead_share_text": "งบจัดสรรในรายการของหน่วยงานหลักเอง คิดเป็นร้อยละของงบจัดสรรรวมของโครงการ",
        "g_status": "สถานะของโครงการ",
        "g_status_text": "ตามคะแนนรวม (คะแนน 1–5 ถ่วงน้ำหนักของตัวชี้วัดทุกตัว) ของงวดล่าสุด",
        "band_on_target": "คะแนนรวมตั้งแต่ {on} ขึ้นไป",
        "band_at_risk": "คะแนนรวมตั้งแต่ {at} แต่ต่ำกว่า {on}",
        "band_off_track": "คะแนนรวมต่ำกว่า {at}",
        "band_no_data": "ไม่มีตัวชี้วัดใดรายงาน",
        "ended": "สิ้นสุดโครงการแล้วเมื่อ {date} (เลยวันสิ้นสุดโครงการ)",
        "unplaced": "ไฟล์ที่ถูกกักไว้ซึ่งไม่มีโครงการใดรับได้",
        "unplaced_note": "รหัสโครงการในไฟล์อ่านไม่ได้หรือไม่มีในทะเบียน จึงไม่ปรากฏในหัวข้อของโครงการใด",
        "pilot_as_written": "รหัสโครงการในไฟล์",
    },
    "en": {
        "glossary": "Glossary",
        "g_flag": "Flag (figure to confirm)",
        "g_flag_text": ("A KPI value that breaks sharply with its own history: the absolute value of its "
                        "modified z-score, |z|, is above {z} against the median of up to 8 earlier quarters "
                        "(at least 4), whether the value rose or fell; or it changed after a history of equal "
                        "values. A flag is a warning: the file stays accepted and the value still counts; the "
                        "lead agency is asked to confirm it."),
        "g_fragmented": "Fragmented budget",
        "g_fragmented_text": ("Money that agencies other than the lead allocate from their own budgets (funding "
                              "source own), not integrated under the lead agency: total allocated minus integrated."),
        "g_lead_share": "Lead share",
        "g_lead_share_text": "The lead agency's own allocated budget as a share of the pilot's total allocated.",
        "g_status": "Pilot status",
        "g_status_text": "From the composite score (the weighted 1–5 scores of all its KPIs) of the latest due period",
        "band_on_target": "composite {on} or more",
        "band_at_risk": "composite from {at} to under {on}",
        "band_off_track": "composite under {at}",
        "band_no_data": "no KPI reported",
        "ended": "Ended on {date}: past its end date",
        "unplaced": "Quarantined files that no pilot could take",
        "unplaced_note": "The pilot code in the file is unreadable or not in the registry, so no pilot's section lists them.",
        "pilot_as_written": "pilot as written",
    },
}
_merge(EXPLAIN_LABELS, "explanation")
