"""Built-in demo data: a registry and an inbox of agency reports for FY 2548-2549 (Oct 2004 - Sep 2006).

`write_demo(folder)` writes `folder/registry` (pilot-registry.md) and `folder/inbox`
(agency-report-v1.md) and returns their paths with the as-of date the story is told for
(2006-08-15: quarters 2548-Q1 to 2549-Q3 have ended). docs/demo.md tells the story in words.

Everything is generated from the plan below with seeded `random.Random` generators and no clock,
so two calls write the same bytes, and a test can say exactly which file carries which defect.
Agency codes follow the examples of the specs; they are illustrative, not official budget codes.

The story:
- seven pilots over the five layers; one of them (PLT-2548-006) restricted;
- most agencies send on time in their own "house style" (encoding, separator, Thai or English
  headers, JSON), because a real agency exports the same way every quarter;
- the Customs Department is habitually LATE; the Department of Business Development is MISSING
  for some quarters; OPDC RESUBMITS one report with corrected figures; one DOPA file arrives
  twice (DUPLICATE); a few files are DEFECTIVE and most of them are re-sent corrected.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from pilots.contract import BY_NAME, COLUMN_NAMES, COLUMNS, FUNDING_SOURCES, HEADER_FIELDS, LINE_TYPES
from pilots.fiscal import period_bounds

SEED = "pilotkpi-demo-2547"  # str seeds are hashed with SHA-512: stable across processes and runs
AS_OF = date(2006, 8, 15)
PILOT_START = date(2004, 10, 1)
# The fiscal quarters that have ended by AS_OF (2549-Q4 ends 2006-09-30, after it).
PERIODS: tuple[str, ...] = ("2548-Q1", "2548-Q2", "2548-Q3", "2548-Q4", "2549-Q1", "2549-Q2", "2549-Q3")


@dataclass(frozen=True)
class DemoPaths:
    registry: Path
    inbox: Path
    as_of: date


# --- the plan: agencies ------------------------------------------------------------------------

@dataclass(frozen=True)
class AgencyInfo:
    code: str
    name_th: str
    name_en: str
    ministry: str
    head_th: str | None = None   # the addressee of reminder letters (pilot-registry.md), optional
    head_en: str | None = None
    email: str | None = None


AGENCIES: tuple[AgencyInfo, ...] = (
    AgencyInfo("01002", "สำนักงานปลัดสำนักนายกรัฐมนตรี", "Office of the Permanent Secretary, Office of the Prime Minister",
               "Office of the Prime Minister"),
    AgencyInfo("01005", "สำนักงานสภาความมั่นคงแห่งชาติ", "Office of the National Security Council",
               "Office of the Prime Minister"),
    AgencyInfo("01006", "สำนักข่าวกรองแห่งชาติ", "National Intelligence Agency", "Office of the Prime Minister"),
    AgencyInfo("03009", "สำนักงาน ก.พ.ร.", "Office of the Public Sector Development Commission",
               "Office of the Prime Minister"),
    AgencyInfo("07004", "กรมบัญชีกลาง", "The Comptroller General's Department", "Ministry of Finance"),
    AgencyInfo("07005", "กรมศุลกากร", "Customs Department", "Ministry of Finance"),
    AgencyInfo("07007", "กรมสรรพากร", "Revenue Department", "Ministry of Finance"),
    # The agency that misses reports (see below) gets the demo's reminder letter: its addressee is set.
    AgencyInfo("10004", "กรมพัฒนาธุรกิจการค้า", "Department of Business Development", "Ministry of Commerce",
               "อธิบดีกรมพัฒนาธุรกิจการค้า", "The Director-General, Department of Business Development",
               "saraban@dbd.go.th"),
    AgencyInfo("11002", "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร", "Ministry of Information and Communication Technology",
               "Ministry of Information and Communication Technology"),
    AgencyInfo("12005", "ศูนย์เทคโนโลยีอิเล็กทรอนิกส์และคอมพิวเตอร์แห่งชาติ",
               "National Electronics and Computer Technology Center (NECTEC)", "Ministry of Science and Technology"),
    AgencyInfo("15001", "กรมการปกครอง", "Department of Provincial Administration", "Ministry of Interior"),
    AgencyInfo("16003", "กรมการจัดหางาน", "Department of Employment", "Ministry of Labour"),
    AgencyInfo("20004", "สำนักงานสถิติแห่งชาติ", "National Statistical Office",
               "Ministry of Information and Communication Technology"),
    # The Royal Thai Police is not in a ministry: it answers directly to the Prime Minister.
    AgencyInfo("25001", "สำนักงานตำรวจแห่งชาติ", "Royal Thai Police", "Directly under the Prime Minister"),
)


# The sender of the reminder letters: OPDC, as in pilot-registry.md's example.
SECRETARIAT = {
    "name_th": "สำนักงานคณะกรรมการพัฒนาระบบราชการ",
    "name_en": "Office of the Public Sector Development Commission",
    "letter_prefix": "นร 1200",
    "address_th": "ถนนพิษณุโลก เขตดุสิต กรุงเทพฯ 10300",
    "address_en": "Phitsanulok Road, Dusit, Bangkok 10300",
    "phone": "0 2356 9999",
    # The letter's signature block and contact lines (a fictional signer; the division as the
    # letter's ส่วนราชการเจ้าของเรื่อง).
    "signer_name_th": "นายสมมุติ ตัวอย่าง",
    "signer_name_en": "Mr Sommut Tuayang",
    "signer_position_th": "รองเลขาธิการ ก.พ.ร. ปฏิบัติราชการแทน เลขาธิการ ก.พ.ร.",
    "signer_position_en": "Deputy Secretary-General of the OPDC, for the Secretary-General",
    "division_th": "กองติดตามและประเมินผลโครงการนำร่อง",
    "division_en": "Pilot Project Monitoring and Evaluation Division",
    "fax": "0 2356 9998",
    "email": "pilots@opdc.go.th",
}


@dataclass(frozen=True)
class Style:
    """How an agency's systems export a report. Each agency keeps its own style every quarter."""
    fmt: str = "csv"           # csv | json
    encoding: str = "utf-8"    # utf-8 | utf-8-sig | cp874
    sep: str = ","
    thai: bool = False         # Thai headers, line types and funding sources
    newline: str = "\n"        # Windows tools write CRLF


STYLES: dict[str, Style] = {
    "03009": Style(),
    "15001": Style(encoding="cp874", thai=True, newline="\r\n"),             # an old Windows-874 desktop system
    "11002": Style(encoding="utf-8-sig", newline="\r\n"),                    # Excel "CSV UTF-8" adds a BOM
    "20004": Style(sep="\t"),                                                # statisticians' tab-separated export
    "07007": Style(fmt="json"),                                              # the e-filing system's API
    "07005": Style(sep=";"),                                                 # a European-locale spreadsheet
    "10004": Style(encoding="utf-8-sig", thai=True, newline="\r\n"),
    "01002": Style(encoding="cp874", thai=True, newline="\r\n"),
    "16003": Style(thai=True),
    "01005": Style(),
    "01006": Style(encoding="cp874", sep="\t", thai=True, newline="\r\n"),
    "25001": Style(sep=";"),
    "12005": Style(),
}


# --- the plan: strategies --------------------------------------------------------------------

# The seven strategies of the Thai Public Sector Development Strategic Plan B.E. 2546-2550
# (แผนยุทธศาสตร์การพัฒนาระบบราชการไทย พ.ศ. 2546-2550); the 2004 resolution names 1, 3 and 6.
STRATEGIES: tuple[tuple[int, str, str], ...] = (
    (1, "การพัฒนากระบวนการทำงาน", "Reengineering work processes"),
    (2, "การปรับปรุงบทบาท ภารกิจ และโครงสร้างของหน่วยงานภาครัฐ",
     "Restructuring the roles, missions and organisation of government agencies"),
    (3, "การรื้อปรับระบบการเงินและการงบประมาณ", "Reforming the financial and budgeting systems"),
    (4, "การสร้างระบบบริหารงานบุคคลและค่าตอบแทนใหม่", "Creating new personnel management and compensation systems"),
    (5, "การปรับเปลี่ยนกระบวนทัศน์ วัฒนธรรม และค่านิยม", "Changing paradigms, culture and values"),
    (6, "การเสริมสร้างระบบราชการให้ทันสมัย", "Modernising the public sector"),
    (7, "การเปิดระบบราชการให้มีส่วนร่วมจากภาคประชาชน", "Opening the public sector to public participation"),
)


# --- the plan: pilots ------------------------------------------------------------------------

@dataclass(frozen=True)
class KpiPlan:
    code: str
    name_th: str
    name_en: str
    unit: str
    direction: str
    aggregation: str
    weight: int
    thresholds: dict[int, tuple[float, float, float, float, float]]
    decimals: int      # how the lead agency writes the actual
    offset: float      # this KPI runs ahead (+) or behind (-) the pilot's overall performance


@dataclass(frozen=True)
class Activity:
    code: str
    layer: int
    funding: str
    millions: dict[int, float]  # allocation per fiscal year, in million baht
    note_th: str


@dataclass(frozen=True)
class PilotPlan:
    pilot_id: str
    name_th: str
    name_en: str
    layer: int
    strategies: tuple[int, ...]
    classification: str
    end: date
    agencies: tuple[tuple[str, str], ...]            # (code, role)
    kpis: tuple[KpiPlan, ...]
    activities: dict[str, tuple[Activity, ...]]      # per reporting agency
    trend: tuple[float, float]                       # latent score in the first and the last due period
    report_due_days: int | None = None

    @property
    def due_days(self) -> int:
        return self.report_due_days or 30

    @property
    def lead(self) -> str:
        return next(code for code, role in self.agencies if role == "lead")

    def role_of(self, code: str) -> str:
        return next(role for c, role in self.agencies if c == code)

    @property
    def periods(self) -> tuple[str, ...]:
        return tuple(p for p in PERIODS if period_bounds(p)[0] <= self.end)


def _k(code, th, en, unit, direction, aggregation, weight, t48, t49, decimals, offset=0.0) -> KpiPlan:
    return KpiPlan(code, th, en, unit, direction, aggregation, weight, {2548: t48, 2549: t49}, decimals, offset)


def _a(code, layer, funding, m48, m49, note) -> Activity:
    return Activity(code, layer, funding, {2548: m48, 2549: m49}, note)


END_FY2549 = date(2006, 9, 30)

PILOTS: tuple[PilotPlan, ...] = (
    PilotPlan(
        "PLT-2548-001", "เครือข่ายสารสนเทศภาครัฐ (GIN)", "Government Information Network (GIN)",
        layer=1, strategies=(6,), classification="open", end=END_FY2549,
        agencies=(("11002", "lead"), ("12005", "secondary"), ("03009", "advisory")),
        kpis=(
            _k("G1", "ร้อยละของส่วนราชการระดับกรมที่เชื่อมต่อเครือข่าย GIN", "Share of departments connected to GIN",
               "percent", "higher", "last", 60, (20, 30, 40, 50, 60), (50, 60, 70, 80, 90), 1, +0.2),
            _k("G2", "จำนวนวันที่เครือข่ายขัดข้องสะสม", "Days of network outage (cumulative)",
               "days", "lower", "sum", 40, (24, 18, 12, 8, 4), (16, 12, 8, 5, 2), 1, -0.3),
        ),
        activities={
            "11002": (_a("ACT-L1-01", 1, "lead_integrated", 48.0, 62.0, "เช่าวงจรสื่อสารเครือข่าย GIN"),
                      _a("ACT-L2-01", 2, "lead_integrated", 6.5, 8.0, "ระบบรักษาความปลอดภัยเครือข่าย")),
            "12005": (_a("ACT-L1-02", 1, "own", 9.0, 7.5, "ศูนย์ปฏิบัติการเครือข่าย (NOC)"),
                      _a("ACT-L2-02", 2, "lead_integrated", 3.2, 4.0, "มาตรฐานการเชื่อมต่อเครือข่าย")),
        },
        trend=(2.4, 3.7),
    ),
    PilotPlan(
        "PLT-2548-002", "ศูนย์บริการข้อมูลภาครัฐ สายด่วน 1111 และเว็บท่าภาครัฐ",
        "Government contact centre 1111 and e-government portal",
        layer=2, strategies=(1, 7), classification="open", end=END_FY2549,
        agencies=(("01002", "lead"), ("11002", "secondary"), ("03009", "advisory")),
        kpis=(
            _k("C1", "จำนวนเรื่องที่รับผ่านช่องทางอิเล็กทรอนิกส์", "Requests received through electronic channels",
               "count", "higher", "sum", 30, (20000, 40000, 60000, 80000, 100000),
               (60000, 80000, 100000, 120000, 140000), 0, +0.4),
            _k("C2", "ร้อยละของเรื่องที่ตอบกลับภายใน 15 วัน", "Share of requests answered within 15 days",
               "percent", "higher", "last", 40, (60, 65, 70, 75, 80), (70, 75, 80, 85, 90), 1, 0.0),
            _k("C3", "ระยะเวลาเฉลี่ยในการยุติเรื่องร้องเรียน", "Average days to close a complaint",
               "days", "lower", "last", 30, (45, 38, 30, 24, 18), (35, 30, 25, 20, 15), 1, -0.4),
        ),
        activities={
            "01002": (_a("ACT-L2-01", 2, "lead_integrated", 25.0, 31.0, "ศูนย์บริการข้อมูลภาครัฐ สายด่วน 1111"),
                      _a("ACT-L4-01", 4, "lead_integrated", 7.8, 9.5, "ระบบติดตามเรื่องร้องเรียน")),
            "11002": (_a("ACT-L2-02", 2, "own", 12.0, 14.0, "พัฒนาเว็บท่าภาครัฐ"),),
        },
        trend=(3.1, 2.5),
    ),
    PilotPlan(
        "PLT-2548-003", "ระบบบริการประชาชนแบบเบ็ดเสร็จ", "One-stop e-citizen service",
        layer=5, strategies=(1, 6), classification="open", end=END_FY2549, report_due_days=30,
        agencies=(("03009", "lead"), ("15001", "secondary"), ("11002", "supporting"), ("20004", "advisory")),
        kpis=(
            _k("K1", "ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์", "Share of applications filed online",
               "percent", "higher", "last", 40, (20, 30, 40, 50, 60), (40, 50, 60, 70, 80), 1, +0.3),
            _k("K2", "ระยะเวลาเฉลี่ยในการออกใบอนุญาต", "Average days to issue a licence",
               "days", "lower", "last", 35, (30, 25, 20, 15, 10), (20, 15, 10, 7.5, 5), 1, -0.2),
            _k("K3", "จำนวนคำขอที่ดำเนินการเสร็จ", "Applications completed",
               "count", "higher", "sum", 25, (1000, 2000, 3000, 4000, 5000), (2000, 4000, 6000, 8000, 10000), 0, -0.1),
        ),
        activities={
            # OPDC and DOPA both fund counter services under ACT-L5-01; DOPA's share is its own
            # money, so the activity counts as an overlap in the budget-integration mart.
            "03009": (_a("ACT-L5-01", 5, "lead_integrated", 18.5, 24.0, "ระบบบริการประชาชนแบบเบ็ดเสร็จ"),
                      _a("ACT-L3-01", 3, "lead_integrated", 6.0, 7.2, "เชื่อมโยงข้อมูลบุคคลกับกรมการปกครอง")),
            "15001": (_a("ACT-L5-01", 5, "own", 9.5, 11.0, "จุดบริการเบ็ดเสร็จที่ว่าการอำเภอ"),
                      _a("ACT-L3-02", 3, "lead_integrated", 4.2, 5.0, "บริการตรวจสอบข้อมูลทะเบียนราษฎร")),
            "11002": (_a("ACT-L1-01", 1, "support_contribution", 5.0, 6.0, "สนับสนุนวงจรสื่อสารจุดบริการ"),),
        },
        trend=(2.6, 3.4),
    ),
    PilotPlan(
        "PLT-2548-004", "ระบบเชื่อมโยงข้อมูลกลางบุคคลและนิติบุคคลพร้อมการยืนยันตัวตน",
        "Central person and juristic-person data with identity authentication",
        layer=3, strategies=(1, 3), classification="open", end=END_FY2549,
        agencies=(("15001", "lead"), ("10004", "secondary"), ("11002", "supporting"), ("12005", "advisory")),
        kpis=(
            _k("D1", "จำนวนหน่วยงานที่ใช้บริการตรวจสอบข้อมูลบุคคลออนไลน์", "Agencies using the online person-data check",
               "count", "higher", "last", 50, (10, 20, 30, 40, 50), (40, 55, 70, 85, 100), 0, -0.2),
            _k("D2", "ร้อยละความพร้อมใช้งานของระบบ", "System availability",
               "percent", "higher", "last", 30, (95, 96, 97, 98, 99), (97, 97.5, 98, 98.5, 99), 2, +0.4),
            _k("D3", "ระยะเวลาเฉลี่ยในการตรวจสอบข้อมูลนิติบุคคล", "Average days to verify a juristic person",
               "days", "lower", "last", 20, (10, 8, 6, 4, 2), (6, 5, 4, 3, 2), 1, 0.0),
        ),
        activities={
            "15001": (_a("ACT-L3-01", 3, "lead_integrated", 42.0, 55.0, "ฐานข้อมูลกลางบุคคล"),
                      _a("ACT-L3-02", 3, "lead_integrated", 12.0, 15.0, "ระบบยืนยันตัวตนด้วยบัตรประชาชนอเนกประสงค์")),
            "10004": (_a("ACT-L3-03", 3, "own", 14.0, 16.5, "ฐานข้อมูลนิติบุคคล"),),
            "11002": (_a("ACT-L3-01", 3, "support_contribution", 8.0, 10.0, "สนับสนุนงบเชื่อมโยงฐานข้อมูล"),),
        },
        trend=(2.3, 1.5),
    ),
    PilotPlan(
        "PLT-2548-005", "ระบบภาษีและศุลกากรอิเล็กทรอนิกส์เชื่อมโยงข้อมูลระหว่างหน่วยงาน",
        "e-Revenue and e-Customs data exchange",
        layer=4, strategies=(3, 6), classification="open", end=END_FY2549,
        agencies=(("07007", "lead"), ("07005", "secondary"), ("07004", "advisory")),
        kpis=(
            _k("R1", "ร้อยละของแบบแสดงรายการภาษีที่ยื่นทางอินเทอร์เน็ต", "Share of tax returns filed online",
               "percent", "higher", "last", 40, (5, 10, 15, 20, 25), (15, 20, 25, 30, 35), 1, +0.3),
            _k("R2", "มูลค่าภาษีที่ชำระผ่านระบบอิเล็กทรอนิกส์", "Tax paid electronically",
               "baht", "higher", "sum", 35, (4e9, 6e9, 8e9, 10e9, 12e9), (8e9, 11e9, 14e9, 17e9, 20e9), 0, 0.0),
            _k("R3", "ระยะเวลาเฉลี่ยในการคืนภาษี", "Average days to refund tax",
               "days", "lower", "last", 25, (90, 75, 60, 45, 30), (60, 50, 40, 30, 20), 0, -0.4),
        ),
        activities={
            "07007": (_a("ACT-L4-01", 4, "lead_integrated", 65.0, 72.0, "ระบบยื่นแบบและชำระภาษีทางอินเทอร์เน็ต"),
                      _a("ACT-L3-01", 3, "lead_integrated", 11.0, 13.5, "เชื่อมโยงข้อมูลผู้เสียภาษีกับข้อมูลนิติบุคคล")),
            "07005": (_a("ACT-L4-02", 4, "own", 38.0, 45.0, "ระบบพิธีการศุลกากรไร้เอกสาร (e-Customs)"),
                      _a("ACT-L4-03", 4, "lead_integrated", 6.5, 7.0, "แลกเปลี่ยนข้อมูลภาษีนำเข้ากับกรมสรรพากร")),
        },
        trend=(3.2, 4.1),
    ),
    PilotPlan(
        # Segregated e-government system for national security (the resolution's "segregated" case).
        "PLT-2548-006", "ระบบยืนยันตัวบุคคลและแลกเปลี่ยนข้อมูลเพื่อความมั่นคง (ระบบแยกส่วน)",
        "Segregated identity verification and watch-list exchange for national security",
        layer=3, strategies=(6,), classification="restricted", end=END_FY2549, report_due_days=45,
        agencies=(("01005", "lead"), ("01006", "secondary"), ("25001", "secondary"), ("11002", "supporting"),
                  ("12005", "advisory")),
        kpis=(
            _k("S1", "จำนวนหน่วยงานความมั่นคงที่เชื่อมโยงข้อมูล", "Security agencies linked",
               "count", "higher", "last", 50, (2, 4, 6, 8, 10), (6, 8, 10, 12, 14), 0, 0.0),
            _k("S2", "ระยะเวลาเฉลี่ยในการตรวจสอบประวัติบุคคล", "Average days to vet a person",
               "days", "lower", "last", 50, (30, 25, 20, 15, 10), (20, 16, 12, 9, 6), 1, 0.0),
        ),
        activities={
            "01005": (_a("ACT-L3-01", 3, "lead_integrated", 22.0, 28.0, "ระบบยืนยันตัวบุคคลเพื่อความมั่นคง"),
                      _a("ACT-L1-01", 1, "lead_integrated", 9.0, 10.5, "เครือข่ายสื่อสารแยกส่วนเพื่อความมั่นคง")),
            "01006": (_a("ACT-L4-01", 4, "own", 15.0, 17.0, "ฐานข้อมูลบุคคลเฝ้าระวัง"),),
            "25001": (_a("ACT-L4-02", 4, "own", 19.0, 23.0, "ระบบตรวจสอบบุคคลที่ด่านตรวจคนเข้าเมือง"),
                      _a("ACT-L3-02", 3, "lead_integrated", 5.5, 6.0, "เชื่อมโยงข้อมูลหมายจับ")),
            "11002": (_a("ACT-L1-02", 1, "support_contribution", 4.0, 4.5, "สนับสนุนวงจรสื่อสารแยกส่วน"),),
        },
        trend=(2.0, 2.5),
    ),
    PilotPlan(
        "PLT-2548-007", "ระบบบริการจัดหางานอิเล็กทรอนิกส์", "e-Employment job-matching service",
        layer=5, strategies=(1, 7), classification="open", end=date(2006, 3, 31),
        agencies=(("16003", "lead"), ("20004", "secondary"), ("03009", "advisory")),
        kpis=(
            _k("J1", "จำนวนผู้สมัครงานที่ได้รับการบรรจุผ่านระบบ", "Job seekers placed through the e-service",
               "count", "higher", "sum", 60, (8000, 12000, 16000, 20000, 24000),
               (15000, 20000, 25000, 30000, 35000), 0, -0.2),
            _k("J2", "ร้อยละของตำแหน่งงานว่างที่ประกาศทางออนไลน์", "Share of vacancies posted online",
               "percent", "higher", "last", 40, (30, 40, 50, 60, 70), (50, 60, 70, 80, 90), 1, +0.3),
        ),
        activities={
            "16003": (_a("ACT-L5-01", 5, "lead_integrated", 14.0, 16.0, "ระบบจัดหางานอิเล็กทรอนิกส์"),
                      _a("ACT-L4-01", 4, "lead_integrated", 4.5, 5.0, "ระบบจับคู่ตำแหน่งงานว่าง")),
            "20004": (_a("ACT-L3-01", 3, "own", 3.5, 4.0, "ข้อมูลสถิติแรงงานเพื่อการจัดหางาน"),),
        },
        trend=(2.2, 1.4),
    ),
)

# --- the plan: the story's special cases (docs/demo.md describes each) ------------------------

LATE_AGENCY = "07005"          # Customs: every report 45-70 days after the quarter ends (due: 30)
LATE_DAYS = (45, 70)
MISSING_AGENCY = "10004"       # Business Development: nothing at all for these quarters of PLT-2548-004
MISSING_PERIODS = ("2548-Q3", "2549-Q2", "2549-Q3")

# OPDC under-counted K3 in its first 2549-Q2 report and restated an allocation; the revision wins.
RESUBMISSION = ("PLT-2548-003_03009_2549-Q2.csv", "PLT-2548-003_03009_2549-Q2_rev1.csv")
# DOPA e-mailed the same export twice; the copy sorts after the original, so it is the duplicate.
DUPLICATE = ("PLT-2548-004_15001_2548-Q4.csv", "สำเนา PLT-2548-004_15001_2548-Q4.csv")

# Each defective file and the defect code it must raise (each file has exactly this one defect).
DEFECTIVE: dict[str, str] = {
    "PLT-2548-030_15001_2548-Q2.csv": "PILOT_UNKNOWN",             # typo for PLT-2548-003
    "PLT-2548-001_11002_2548-Q3.csv": "PERCENT_OUT_OF_RANGE",      # G1 typed with an extra leading 1
    "PLT-2548-006_25001_2549-Q1.csv": "DISBURSED_OVER_ALLOCATED",  # carry-over money added to disbursed
    "PLT-2548-007_16003_2548-Q2.csv": "NOT_A_NUMBER",              # J1 written "3,912 คน"
    "PLT-2548-001_12005_2548-Q1.csv": "COLUMN_MISSING",            # old template without disbursed_thb
    "PLT-2548-003_15001_2549-Q1.csv": "KPI_NOT_LEAD",              # the secondary agency sent a K1 line
    "PLT-2548-005_07007_2548-Q4.json": "KPI_UNKNOWN",              # R4, a KPI of the draft plan
}
# The corrected file each agency sent after its file was quarantined. The unknown-pilot file needs
# none: DOPA's regular PLT-2548-003 report for 2548-Q2 is in the inbox too.
CORRECTED: dict[str, str] = {
    "PLT-2548-001_11002_2548-Q3.csv": "PLT-2548-001_11002_2548-Q3_v2.csv",
    "PLT-2548-006_25001_2549-Q1.csv": "PLT-2548-006_25001_2549-Q1_v2.csv",
    "PLT-2548-007_16003_2548-Q2.csv": "PLT-2548-007_16003_2548-Q2_v2.csv",
    "PLT-2548-001_12005_2548-Q1.csv": "PLT-2548-001_12005_2548-Q1_v2.csv",
    "PLT-2548-003_15001_2549-Q1.csv": "PLT-2548-003_15001_2549-Q1_v2.csv",
    "PLT-2548-005_07007_2548-Q4.json": "PLT-2548-005_07007_2548-Q4_v2.json",
}
# Regular reports saved under names that are not the usual pattern (Thai words, spaces).
RENAMED: dict[tuple[str, str, str], str] = {
    ("PLT-2548-007", "16003", "2549-Q1"): "รายงานไตรมาส PLT-2548-007 กรมการจัดหางาน 2549-Q1.csv",
    ("PLT-2548-002", "01002", "2548-Q3"): "PLT-2548-002 01002 2548-Q3.csv",
}

# The composite status each pilot ends with in its latest due period (tests recompute it).
EXPECTED_LATEST_STATUS: dict[str, str] = {
    "PLT-2548-001": "on_target", "PLT-2548-002": "at_risk", "PLT-2548-003": "on_target",
    "PLT-2548-004": "off_track", "PLT-2548-005": "on_target", "PLT-2548-006": "at_risk",
    "PLT-2548-007": "off_track",
}


# --- time ------------------------------------------------------------------------------------

def default_file_name(pilot_id: str, agency: str, period: str, fmt: str) -> str:
    return f"{pilot_id}_{agency}_{period}.{fmt}"


# --- reports ---------------------------------------------------------------------------------

@dataclass
class Report:
    pilot_id: str
    agency_code: str
    period: str
    submitted_on: date
    lines: list[dict] = field(default_factory=list)  # canonical line fields; values are text or None


def _rng(*parts: str) -> random.Random:
    # One generator per subject: changing one pilot's plan leaves every other file byte-identical.
    return random.Random(":".join((SEED, *parts)))


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _actual_for(score: float, ts: list[float]) -> float:
    """The actual that earns `score` under thresholds t1..t5 (the inverse of scoring.md §1).

    The same formula serves both directions, because score k is earned at t_k either way.
    Beyond 1 and 5 it extrapolates with the nearest step, so that real values overshoot a little.
    """
    s = min(max(score, 0.5), 5.5)
    if s <= 1:
        return ts[0] - (1 - s) * (ts[1] - ts[0])
    if s >= 5:
        return ts[4] + (s - 5) * (ts[4] - ts[3])
    k = int(s)
    return ts[k - 1] + (s - k) * (ts[k] - ts[k - 1])


def _kpi_actuals(pilot: PilotPlan) -> dict[str, dict[str, str]]:
    """period -> KPI code -> the actual the lead agency reports, as written text.

    A latent score drifts from trend[0] to trend[1] with noise; each KPI sits at an offset from
    it. `sum` KPIs report quarterly flows whose year-to-date total earns the latent score against
    the thresholds x q/4, so that scoring the file gives back the story.
    """
    rng = _rng("kpi", pilot.pilot_id)
    periods = pilot.periods
    last = len(periods) - 1
    out: dict[str, dict[str, str]] = {p: {} for p in periods}
    latent = []
    for i in range(len(periods)):
        base = pilot.trend[0] + (pilot.trend[1] - pilot.trend[0]) * i / last
        # The latest period keeps little noise: its status is the headline of the story.
        latent.append(base + rng.uniform(-0.1, 0.1) if i == last else base + rng.uniform(-0.35, 0.35))
    for kpi in pilot.kpis:
        year_to_date = 0.0
        for i, period in enumerate(periods):
            fy, q = int(period[:4]), int(period[-1])
            if q == 1:
                year_to_date = 0.0
            score = latent[i] + kpi.offset + rng.uniform(-0.15, 0.15)
            if kpi.aggregation == "sum":
                target = _actual_for(score, [t * q / 4 for t in kpi.thresholds[fy]])
                # A flow is never negative, and a quarter of a "higher" KPI is never empty (floor: t1/40).
                floor = 0.0 if kpi.direction == "lower" else kpi.thresholds[fy][0] / 4 * 0.1
                value = round(max(target - year_to_date, floor), kpi.decimals)
                year_to_date += value
            else:
                value = round(_actual_for(score, list(kpi.thresholds[fy])), kpi.decimals)
            if kpi.unit == "percent":
                value = min(max(value, 0.0), 99.9)
            out[period][kpi.code] = _fmt(max(value, 0.0), kpi.decimals)
    return out


def _budget_lines(pilot: PilotPlan, agency: str) -> dict[str, list[dict]]:
    """period -> the agency's budget lines: allocations restated now and then, disbursement
    year-to-date and growing, never above the allocation."""
    rng = _rng("budget", pilot.pilot_id, agency)
    out: dict[str, list[dict]] = {p: [] for p in pilot.periods}
    share_by_quarter = {1: (0.05, 0.15), 2: (0.22, 0.38), 3: (0.45, 0.62), 4: (0.70, 0.93)}
    for act in pilot.activities[agency]:
        allocated = disbursed = 0.0
        for period in pilot.periods:
            fy, q = int(period[:4]), int(period[-1])
            if q == 1:  # a new fiscal year: a new allocation, disbursement starts from zero
                allocated = round(act.millions[fy] * 1e6 * rng.uniform(0.95, 1.05), -4)
                disbursed = 0.0
            elif rng.random() < 0.3:  # mid-year restatement: a cut or a top-up
                allocated = round(allocated * rng.choice((0.92, 0.95, 1.05, 1.10)), -4)
            disbursed = min(max(round(allocated * rng.uniform(*share_by_quarter[q]), 2), disbursed), allocated)
            out[period].append({
                "line_type": "budget", "item_code": act.code, "layer": str(act.layer),
                "allocated_thb": _fmt(allocated, 2), "disbursed_thb": _fmt(disbursed, 2),
                "funding_source": act.funding, "note": act.note_th if q == 1 else None,
            })
    return out


def _submitted_on(pilot: PilotPlan, agency: str, period: str, rng: random.Random) -> date:
    quarter_end = period_bounds(period)[1]
    if agency == LATE_AGENCY:
        days = rng.randint(*LATE_DAYS)
    else:
        days = rng.randint(7, pilot.due_days - 8)  # on time, leaving room for a corrected file
    # Nothing is signed on or after the as-of date (that would be a defect: a date in the future).
    return min(quarter_end + timedelta(days=days), AS_OF - timedelta(days=1))


def _regular_reports(pilot: PilotPlan) -> list[Report]:
    actuals = _kpi_actuals(pilot)
    reports = []
    for agency, role in pilot.agencies:
        if role == "advisory":
            continue  # advisers give advice, not reports
        budget = _budget_lines(pilot, agency)
        rng = _rng("dates", pilot.pilot_id, agency)
        for period in pilot.periods:
            on = _submitted_on(pilot, agency, period, rng)
            if agency == MISSING_AGENCY and period in MISSING_PERIODS:
                continue
            lines = []
            if role == "lead":
                notes = {}
                if period == "2548-Q1":
                    notes = {pilot.kpis[0].code: "ข้อมูล ณ วันสิ้นไตรมาส"}
                lines += [{"line_type": "kpi", "item_code": k.code, "actual": actuals[period][k.code],
                           "note": notes.get(k.code)} for k in pilot.kpis]
            lines += budget[period]
            reports.append(Report(pilot.pilot_id, agency, period, on, lines))
    return reports


# --- rendering -------------------------------------------------------------------------------

def render(report: Report, style: Style, drop_columns: tuple[str, ...] = ()) -> bytes:
    """The bytes of one report file in an agency's style."""
    if style.fmt == "json":
        lines = []
        for line in report.lines:
            out = {}
            for name in COLUMN_NAMES:
                if name in HEADER_FIELDS:
                    continue  # said once, at the top of the document
                value = line.get(name)
                if value is None or name in drop_columns:
                    continue  # JSON lines carry only the fields they use
                numeric = BY_NAME[name].kind in ("layer", "number", "amount")
                out[name] = _json_number(value) if numeric else value
            lines.append(out)
        doc = {"pilot_id": report.pilot_id, "agency_code": report.agency_code, "period": report.period,
               "submitted_on": report.submitted_on.isoformat(), "lines": lines}
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    columns = [c for c in COLUMNS if c.name not in drop_columns]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=style.sep, lineterminator=style.newline)
    writer.writerow([c.thai if style.thai else c.name for c in columns])
    for line in report.lines:
        row = {"pilot_id": report.pilot_id, "agency_code": report.agency_code, "period": report.period,
               "submitted_on": report.submitted_on.isoformat(), **line}
        if style.thai:
            row["line_type"] = LINE_TYPES.get(row["line_type"], row["line_type"])
            if row.get("funding_source"):
                row["funding_source"] = FUNDING_SOURCES.get(row["funding_source"], row["funding_source"])
        writer.writerow([row.get(c.name) or "" for c in columns])
    data = buf.getvalue()
    if style.encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + data.encode("utf-8")
    return data.encode(style.encoding)


def _json_number(text: str) -> int | float | str:
    """A canonical number as a JSON number (the text itself when it is not one, e.g. a defect)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


# --- the special cases -------------------------------------------------------------------------

def _find(reports: list[Report], pilot_id: str, agency: str, period: str) -> Report:
    return next(r for r in reports if (r.pilot_id, r.agency_code, r.period) == (pilot_id, agency, period))


def _copy(report: Report, **changes) -> Report:
    return replace(report, lines=[dict(line) for line in report.lines], **changes)


def _with_line(report: Report, item_code: str, **changes) -> Report:
    out = _copy(report)
    for line in out.lines:
        if line["item_code"] == item_code:
            line.update(changes)
    return out


def _special_files(reports: list[Report]) -> dict[str, tuple[Report, dict]]:
    """file name -> (report, render options) for the story's special files.

    Regular reports that a special file stands for are replaced here (a defective first attempt
    keeps the regular name; its correction gets a _v2 name), so every (pilot, agency, period) of
    the regular plan still has exactly one accepted report in the end.
    """
    files: dict[str, tuple[Report, dict]] = {}
    days = timedelta

    # Resubmission: OPDC counted only the applications of its own counters in K3 at first.
    first = _find(reports, "PLT-2548-003", "03009", "2549-Q2")
    original = _copy(first)
    for line in original.lines:
        if line["item_code"] == "K3":
            line["actual"] = str(round(int(line["actual"]) * 0.6))
        if line["item_code"] == "ACT-L5-01" and line["line_type"] == "budget":
            line["allocated_thb"] = _fmt(float(line["allocated_thb"]) - 1_500_000, 2)
    revised = _copy(first, submitted_on=first.submitted_on + days(22))
    for line in revised.lines:
        if line["item_code"] == "K3":
            line["note"] = "ฉบับแก้ไข รวมคำขอจากจุดบริการของกรมการปกครอง"
    files[RESUBMISSION[0]] = (original, {})
    files[RESUBMISSION[1]] = (revised, {})

    # Defective files, each with exactly one defect, and their corrections.
    typo = _find(reports, "PLT-2548-003", "15001", "2548-Q2")
    files["PLT-2548-030_15001_2548-Q2.csv"] = (
        _copy(typo, pilot_id="PLT-2548-030", submitted_on=typo.submitted_on - days(2)), {})

    def defective(name: str, bad: Report, **options) -> None:
        good = _find(reports, bad.pilot_id, bad.agency_code, bad.period)
        on = period_bounds(good.period)[1] + days(6)
        files[name] = (replace(bad, submitted_on=on), options)
        files[CORRECTED[name]] = (replace(good, submitted_on=on + days(8)), {})

    r = _find(reports, "PLT-2548-001", "11002", "2548-Q3")
    g1 = next(line["actual"] for line in r.lines if line["item_code"] == "G1")
    defective("PLT-2548-001_11002_2548-Q3.csv", _with_line(r, "G1", actual=_fmt(float(g1) + 100, 1)))

    r = _find(reports, "PLT-2548-006", "25001", "2549-Q1")
    alloc = float(next(line["allocated_thb"] for line in r.lines if line["item_code"] == "ACT-L4-02"))
    defective("PLT-2548-006_25001_2549-Q1.csv", _with_line(
        r, "ACT-L4-02", disbursed_thb=_fmt(alloc * 1.18, 2), note="รวมเงินกันไว้เบิกเหลื่อมปี"))

    r = _find(reports, "PLT-2548-007", "16003", "2548-Q2")
    j1 = next(line["actual"] for line in r.lines if line["item_code"] == "J1")
    defective("PLT-2548-007_16003_2548-Q2.csv", _with_line(r, "J1", actual=f"{int(j1):,} คน"))

    r = _find(reports, "PLT-2548-001", "12005", "2548-Q1")
    defective("PLT-2548-001_12005_2548-Q1.csv", _copy(r), drop_columns=("disbursed_thb",))

    r = _copy(_find(reports, "PLT-2548-003", "15001", "2549-Q1"))
    r.lines.insert(0, {"line_type": "kpi", "item_code": "K1", "actual": "61.5",
                       "note": "นับจากจุดบริการที่ว่าการอำเภอ"})
    defective("PLT-2548-003_15001_2549-Q1.csv", r)

    r = _copy(_find(reports, "PLT-2548-005", "07007", "2548-Q4"))
    r.lines.insert(3, {"line_type": "kpi", "item_code": "R4", "actual": "82.5",
                       "note": "ร้อยละความพึงพอใจของผู้ใช้บริการ"})
    defective("PLT-2548-005_07007_2548-Q4.json", r)
    return files


# --- the registry ------------------------------------------------------------------------------

def _yaml_text(text: str) -> str:
    """A YAML scalar for text: plain when YAML would read it back unchanged, else double-quoted."""
    plain = (text and text == text.strip() and not any(ch in text for ch in ":#{}[],&*!|>'\"%@`")
             and not text[0] in "-?")
    return text if plain else json.dumps(text, ensure_ascii=False)


def _yaml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def registry_files(agencies: tuple[AgencyInfo, ...] = AGENCIES,
                   pilots: tuple[PilotPlan, ...] = PILOTS) -> dict[str, str]:
    """Relative path -> YAML text of the demo registry (or of another plan: bench/workload.py)."""
    files = {}
    lines = ["# Agencies that take part in the demo pilots. Codes are 5-digit strings, always quoted;",
             "# they follow the examples of the specs and are not official budget codes."]
    for a in agencies:
        lines += [f'- code: "{a.code}"', f"  name_th: {_yaml_text(a.name_th)}", f"  name_en: {_yaml_text(a.name_en)}",
                  f"  ministry: {_yaml_text(a.ministry)}"]
        lines += [f"  {key}: {_yaml_text(getattr(a, key))}" for key in ("head_th", "head_en", "email") if getattr(a, key)]
    files["agencies.yaml"] = "\n".join(lines) + "\n"
    lines = ["# The Thai Public Sector Development Strategic Plan B.E. 2546-2550: its seven strategies."]
    for number, name_th, name_en in STRATEGIES:
        lines += [f"- number: {number}", f"  name_th: {_yaml_text(name_th)}", f"  name_en: {_yaml_text(name_en)}"]
    files["strategies.yaml"] = "\n".join(lines) + "\n"
    files["secretariat.yaml"] = "\n".join(
        ["# The office that sends the reminder letters (follow-up.md)."]
        + [f"{key}: {_yaml_text(value)}" for key, value in SECRETARIAT.items()]) + "\n"
    for p in pilots:
        lines = [
            f"pilot_id: {p.pilot_id}",
            f"name_th: {_yaml_text(p.name_th)}",
            f"name_en: {_yaml_text(p.name_en)}",
            f"layer: {p.layer}",
            f"strategies: [{', '.join(map(str, p.strategies))}]",
            f"classification: {p.classification}",
            f"start: {PILOT_START.isoformat()}",
            f"end: {p.end.isoformat()}",
        ]
        if p.report_due_days is not None:
            lines.append(f"report_due_days: {p.report_due_days}")
        lines.append("agencies:")
        lines += [f'  - {{code: "{code}", role: {role}}}' for code, role in p.agencies]
        lines.append("kpis:")
        for k in p.kpis:
            lines += [f"  - code: {k.code}", f"    name_th: {_yaml_text(k.name_th)}",
                      f"    name_en: {_yaml_text(k.name_en)}", f"    unit: {k.unit}", f"    direction: {k.direction}",
                      f"    aggregation: {k.aggregation}", f"    weight: {k.weight}", "    thresholds:"]
            lines += [f"      {fy}: [{', '.join(_yaml_number(t) for t in ts)}]" for fy, ts in k.thresholds.items()]
        files[f"pilots/{p.pilot_id}.yaml"] = "\n".join(lines) + "\n"
    return files


# --- the inbox ---------------------------------------------------------------------------------

def inbox_files() -> dict[str, bytes]:
    """File name -> bytes of every file in the demo inbox."""
    reports = [r for p in PILOTS for r in _regular_reports(p)]
    special = _special_files(reports)
    # The unknown-pilot typo does not replace anything: its key (PLT-2548-030, ...) is no regular one,
    # so DOPA's regular PLT-2548-003 report for 2548-Q2 is written as usual.
    replaced = {(r.pilot_id, r.agency_code, r.period) for r, _ in special.values()}
    files: dict[str, bytes] = {}
    for r in reports:
        if (r.pilot_id, r.agency_code, r.period) in replaced:
            continue  # written below in its special form
        style = STYLES[r.agency_code]
        name = RENAMED.get((r.pilot_id, r.agency_code, r.period)) or default_file_name(
            r.pilot_id, r.agency_code, r.period, style.fmt)
        files[name] = render(r, style)
    for name, (report, options) in special.items():
        if name in files:
            raise RuntimeError(f"demo plan error: two files named {name}")
        files[name] = render(report, STYLES[report.agency_code], **options)
    files[DUPLICATE[1]] = files[DUPLICATE[0]]
    return dict(sorted(files.items()))


def write_demo(folder: Path) -> DemoPaths:
    """Write the demo registry and inbox under `folder` (created if needed) and return their paths.

    Files of the same names are overwritten; nothing else in the folder is touched.
    """
    folder = Path(folder)
    registry, inbox = folder / "registry", folder / "inbox"
    (registry / "pilots").mkdir(parents=True, exist_ok=True)
    inbox.mkdir(parents=True, exist_ok=True)
    for rel, text in registry_files().items():
        (registry / rel).write_bytes(text.encode("utf-8"))  # bytes: no platform newline translation
    for name, data in inbox_files().items():
        (inbox / name).write_bytes(data)
    return DemoPaths(registry, inbox, AS_OF)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the pilotkpi demo registry and inbox.")
    parser.add_argument("folder", type=Path, nargs="?", default=Path("demo-output"))
    paths = write_demo(parser.parse_args(argv).folder)
    print(f"registry: {paths.registry}\ninbox: {paths.inbox}\nas of: {paths.as_of.isoformat()}")


if __name__ == "__main__":
    main()
