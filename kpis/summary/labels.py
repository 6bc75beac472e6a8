"""Words and number/date formats of the committee summary, in Thai and English."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, ROUND_HALF_UP

THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")

LABELS: dict[str, dict[str, str]] = {
    "th": {
        "title": "สรุปผลโครงการนำร่องรัฐบาลอิเล็กทรอนิกส์",
        "as_of": "ข้อมูล ณ วันที่",
        "overview": "ภาพรวม",
        "by_status": "จำนวนโครงการตามสถานะ",
        "by_layer": "จำนวนโครงการตามชั้นการพัฒนา",
        "by_strategy": "จำนวนโครงการตามยุทธศาสตร์",
        "budget_by_layer": "งบประมาณรวมและงบบูรณาการตามชั้น",
        "layer": "ชั้น", "strategy": "ยุทธศาสตร์", "status": "สถานะ", "count": "จำนวน",
        "total_budget": "งบจัดสรรรวม", "integrated": "งบบูรณาการ", "ratio": "สัดส่วนบูรณาการ",
        "pilot": "โครงการ", "period": "งวด", "composite": "คะแนนรวม",
        "trend": "แนวโน้มคะแนนรวม", "kpis": "ตัวชี้วัด", "kpi": "ตัวชี้วัด", "actual": "ผลการดำเนินงาน",
        "thresholds": "เกณฑ์ (1–5)", "score": "คะแนน", "weight": "น้ำหนัก",
        "budget": "การบูรณาการงบประมาณ", "fragmented": "งบแยกส่วน", "lead_share": "สัดส่วนหน่วยงานหลัก",
        "support": "งบสนับสนุน", "disbursed": "เบิกจ่าย", "disbursement_rate": "อัตราการเบิกจ่าย",
        "overlap": "กิจกรรมซ้ำซ้อน", "agencies_reporting": "หน่วยงานที่รายงาน",
        "late": "หน่วยงานที่ส่งรายงานล่าช้าหรือไม่ส่ง", "agency": "หน่วยงาน", "role": "บทบาท",
        "due": "กำหนดส่ง", "submitted_on": "วันที่ส่ง", "days_late": "ล่าช้า (วัน)", "not_submitted": "ไม่ส่ง",
        "quarantined": "ไฟล์ที่ถูกกักไว้", "file": "ไฟล์", "reasons": "เหตุผล", "row": "แถว", "column": "คอลัมน์",
        "none": "ไม่มี", "no_data": "ไม่มีข้อมูล", "restricted": "โครงการชั้นความลับ: แสดงเฉพาะสถานะและคะแนนรวม",
        "kpis_reported": "ตัวชี้วัดที่รายงาน",
        "on_target": "🟢 บรรลุเป้าหมาย", "at_risk": "🟡 มีความเสี่ยง", "off_track": "🔴 ไม่บรรลุเป้าหมาย",
        "no_data_status": "⚪ ไม่มีข้อมูล",
        "lead": "หน่วยงานหลัก", "secondary": "หน่วยงานรอง", "supporting": "หน่วยงานเสริม", "advisory": "หน่วยงานที่ปรึกษา",
        "higher": "ยิ่งมากยิ่งดี", "lower": "ยิ่งน้อยยิ่งดี",
    },
    "en": {
        "title": "E-government pilot projects: committee summary",
        "as_of": "As of",
        "overview": "Overview",
        "by_status": "Pilots by status",
        "by_layer": "Pilots by development layer",
        "by_strategy": "Pilots by strategy",
        "budget_by_layer": "Total and integrated budget by layer",
        "layer": "Layer", "strategy": "Strategy", "status": "Status", "count": "Count",
        "total_budget": "Total allocated", "integrated": "Integrated", "ratio": "Integration ratio",
        "pilot": "Pilot", "period": "Period", "composite": "Composite score",
        "trend": "Composite trend", "kpis": "Key performance indicators", "kpi": "KPI", "actual": "Actual",
        "thresholds": "Thresholds (1–5)", "score": "Score", "weight": "Weight",
        "budget": "Budget integration", "fragmented": "Fragmented", "lead_share": "Lead share",
        "support": "Support contributions", "disbursed": "Disbursed", "disbursement_rate": "Disbursement rate",
        "overlap": "Overlapping activities", "agencies_reporting": "Agencies reporting",
        "late": "Agencies late or missing", "agency": "Agency", "role": "Role",
        "due": "Due", "submitted_on": "Submitted", "days_late": "Days late", "not_submitted": "not submitted",
        "quarantined": "Quarantined files", "file": "File", "reasons": "Reasons", "row": "row", "column": "column",
        "none": "None", "no_data": "no data", "restricted": "Restricted pilot: status and composite score only",
        "kpis_reported": "KPIs reported",
        "on_target": "🟢 on target", "at_risk": "🟡 at risk", "off_track": "🔴 off track",
        "no_data_status": "⚪ no data",
        "lead": "lead", "secondary": "secondary", "supporting": "supporting", "advisory": "advisory",
        "higher": "higher is better", "lower": "lower is better",
    },
}


def status_label(status: str, lang: str) -> str:
    return LABELS[lang]["no_data_status" if status == "no_data" else status]


def fmt_date(value: date | None, lang: str) -> str:
    if value is None:
        return "–"
    if lang == "th":  # Buddhist Era with Thai month abbreviations, e.g. 15 ส.ค. 2549
        return f"{value.day} {THAI_MONTHS_ABBR[value.month - 1]} {value.year + 543}"
    return value.strftime("%-d %b %Y")


def fmt_period(period: str | None, lang: str) -> str:
    if not period:
        return "–"
    fy, q = period.split("-Q")
    return f"ไตรมาส {q}/{fy}" if lang == "th" else f"FY{fy} Q{q}"


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
