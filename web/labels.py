"""The site's words in Thai and English, and the formatting filters its templates use (dates in
the summary's rules: Buddhist Era with Thai month abbreviations in Thai, kpis/summary/labels.py)."""
from __future__ import annotations

from datetime import date, datetime

from kpis.summary.labels import fmt_date, fmt_period

LANGS = ("th", "en")

WORDS = {
    "th": {
        "site": "ระบบติดตามโครงการนำร่องรัฐบาลอิเล็กทรอนิกส์", "sign_in": "เข้าสู่ระบบ", "sign_out": "ออกจากระบบ",
        "account": "ชื่อบัญชี", "password": "รหัสผ่าน", "switch": "English", "home": "หน้าแรก",
        "upload": "ส่งรายงาน", "submissions": "รายงานที่ส่งแล้ว", "role_agency": "หน่วยงาน",
        "role_analyst": "นักวิเคราะห์", "role_committee": "คณะกรรมการ",
        "bad_sign_in": "ชื่อบัญชีหรือรหัสผ่านไม่ถูกต้อง",
        "throttled": "ลองเข้าสู่ระบบผิดหลายครั้งเกินไป กรุณารออีก {minutes} นาทีแล้วลองใหม่",
        "due": "รายงานที่ต้องส่งไตรมาสนี้และไตรมาสก่อน", "pilot": "โครงการ", "agency": "หน่วยงาน",
        "period": "ไตรมาส", "due_date": "กำหนดส่ง", "status": "สถานะ", "reminders": "หนังสือแจ้งเตือน",
        "no_reminders": "ไม่มีรายงานค้างส่ง", "days_overdue": "เกินกำหนด (วัน)", "level": "ระดับ",
        "guide": "คู่มือรูปแบบรายงาน", "examples": "ไฟล์ตัวอย่าง",
        "st_not_sent": "ยังไม่ส่ง", "st_waiting": "ได้รับแล้ว รอการประมวลผลคืนนี้", "st_accepted": "รับแล้ว",
        "st_quarantined": "ถูกกักไว้ (มีข้อผิดพลาด)", "st_held": "รอคณะกรรมการพิจารณา (ไตรมาสปิดแล้ว)",
        "st_superseded": "ถูกแทนที่ด้วยฉบับใหม่", "st_duplicate": "ไฟล์ซ้ำ", "st_rejected": "คณะกรรมการไม่อนุมัติ",
        "choose": "เลือกไฟล์รายงาน (.csv, .xlsx หรือ .json)", "check": "ตรวจไฟล์",
        "checked": "ผลการตรวจไฟล์", "would_quarantine": "ไฟล์นี้จะถูกกักไว้ ส่งไม่ได้ กรุณาแก้ไขตามรายการด้านล่างแล้วตรวจใหม่",
        "ok": "ไฟล์ผ่านการตรวจ", "row": "แถว", "column": "คอลัมน์", "code": "รหัส", "message": "ข้อความ",
        "fix": "วิธีแก้ไข", "whole_file": "ทั้งไฟล์", "error": "ข้อผิดพลาด", "warning": "คำเตือน",
        "v_new": "รายงานใหม่สำหรับ{period}", "v_replaces": "แทนที่รายงานของท่านลงวันที่ {of}",
        "v_earlier": "วันที่ส่งในไฟล์ก่อนรายงานของท่านลงวันที่ {of} จึงเก็บไว้เป็นประวัติเท่านั้น",
        "v_held": "รอคณะกรรมการพิจารณา: {period} ปิดแล้ว", "v_duplicate": "ส่งไฟล์นี้แล้วเมื่อ {on}",
        "v_foreign": "ไฟล์นี้เป็นของหน่วยงาน {agencies} ซึ่งบัญชีนี้ไม่ได้รับมอบให้ส่ง",
        "send": "ส่งรายงาน", "receipt": "ใบรับรายงาน", "file_name": "ชื่อไฟล์ที่ส่ง", "size": "ขนาด (ไบต์)",
        "sent_by": "ผู้ส่ง", "bytes": "ไบต์",
        "next_night": "ผลการประมวลผลคืนนี้จะแสดงในหน้ารายงานที่ส่งแล้วของหน่วยงาน:",
        "sent_at": "เวลาที่ส่ง (ระบบเว็บได้รับไฟล์ เวลาประเทศไทย)",
        "processed_at": "เวลาที่รอบประมวลผลกลางคืนรับเข้า (เวลาประเทศไทย)",
        "too_large": "ไฟล์ใหญ่เกินขนาดที่รับได้ ({limit} ไบต์) ระบบหยุดรับไฟล์แล้ว",
        "not_found": "ไม่พบหน้าที่ต้องการ", "forbidden": "บัญชีนี้ไม่มีสิทธิ์ใช้หน้านี้",
        "not_allowed": "หน้านี้ไม่รับคำขอแบบนี้", "signed_out": "กรุณาเข้าสู่ระบบก่อนใช้หน้านี้",
        "bad_form": "ข้อมูลที่ส่งมาไม่ใช่แบบฟอร์มของระบบนี้ กรุณากลับไปหน้าเดิมแล้วลองใหม่",
        "csrf": "แบบฟอร์มหมดอายุ กรุณากลับไปหน้าเดิมแล้วลองใหม่", "again": "ตรวจไฟล์อื่น",
        "no_files": "ยังไม่มีรายงานที่ส่ง", "defects": "ข้อผิดพลาด", "warnings": "คำเตือน",
        "stored": "รายงานที่จัดเก็บ", "expired": "ผลการตรวจหมดอายุ กรุณาตรวจไฟล์อีกครั้ง",
        "nothing_due": "ไม่มีรายงานที่ต้องส่งในสองไตรมาสนี้", "submitted_on": "วันที่ส่งในไฟล์",
        "all_submissions": "รายงานที่หน่วยงานส่ง",
    },
    "en": {
        "site": "E-government pilot projects tracker", "sign_in": "Sign in", "sign_out": "Sign out",
        "account": "Account", "password": "Password", "switch": "ภาษาไทย", "home": "Home",
        "upload": "Send a report", "submissions": "My submissions", "role_agency": "agency",
        "role_analyst": "analyst", "role_committee": "committee",
        "bad_sign_in": "The account or password is not right.",
        "throttled": "Too many failed sign-ins. Wait {minutes} minutes, then try again.",
        "due": "Reports due this quarter and last quarter", "pilot": "Pilot", "agency": "Agency",
        "period": "Quarter", "due_date": "Due", "status": "Status", "reminders": "Reminders",
        "no_reminders": "No report is overdue.", "days_overdue": "Days overdue", "level": "Level",
        "guide": "Report format guide", "examples": "Example files",
        "st_not_sent": "not sent", "st_waiting": "received, waiting for the night", "st_accepted": "accepted",
        "st_quarantined": "quarantined (defects)", "st_held": "held (the quarter is closed)",
        "st_superseded": "superseded", "st_duplicate": "duplicate", "st_rejected": "rejected by the committee",
        "choose": "Choose the report file (.csv, .xlsx or .json)", "check": "Check the file",
        "checked": "Check result", "would_quarantine": "This file would be quarantined and cannot be sent. Fix what the list below says, then check it again.",
        "ok": "The file passed the check", "row": "Row", "column": "Column", "code": "Code", "message": "Message",
        "fix": "How to fix it", "whole_file": "whole file", "error": "error", "warning": "warning",
        "v_new": "New report for {period}", "v_replaces": "Replaces your report of {of}",
        "v_earlier": "Its submission date is before your report of {of}: it will be kept as history only",
        "v_held": "Held: {period} is closed", "v_duplicate": "Already sent on {on}",
        "v_foreign": "This file is for agency {agencies}, which this account does not speak for",
        "send": "Send the report", "receipt": "Receipt", "file_name": "File name as sent", "size": "Size (bytes)",
        "sent_by": "Sent by", "bytes": "bytes",
        "next_night": "The result of tonight's run will show on your agency's submissions page:",
        "sent_at": "Sent (received by the site, Bangkok time)",
        "processed_at": "Taken in by the night's run (Bangkok time)",
        "too_large": "The file is larger than the limit ({limit} bytes); the upload was stopped.",
        "not_found": "Page not found", "forbidden": "This account may not use this page.",
        "not_allowed": "This page does not take this kind of request.", "signed_out": "Sign in to use this page.",
        "bad_form": "What was sent is not a form of this site. Go back to the page and try again.",
        "csrf": "The form has expired. Go back to the page and try again.", "again": "Check another file",
        "no_files": "No report sent yet.", "defects": "Defects", "warnings": "Warnings",
        "stored": "Stored submission", "expired": "The check result has expired; check the file again.",
        "nothing_due": "No report is due for these two quarters.", "submitted_on": "Submission date in the file",
        "all_submissions": "the agencies' submissions",
    },
}


def day(value: object, lang: str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return fmt_date(value, lang)


def moment(value: datetime | None, lang: str) -> str:
    """A Bangkok time: 4 ธ.ค. 2569 00:15 น. / 4 Dec 2026 00:15."""
    if value is None:
        return "–"
    return f"{fmt_date(value.date(), lang)} {value:%H:%M}" + (" น." if lang == "th" else "")


def period(value: str | None, lang: str) -> str:
    return fmt_period(value, lang)


def add_words(th: dict[str, str], en: dict[str, str]) -> None:
    """A page module's own words, added at its import: both languages, and no key taken twice."""
    if th.keys() != en.keys():
        raise ValueError(f"words missing in one language: {sorted(th.keys() ^ en.keys())}")
    taken = th.keys() & WORDS["th"].keys()
    if taken:
        raise ValueError(f"words already defined: {sorted(taken)}")
    WORDS["th"].update(th)
    WORDS["en"].update(en)
