"""The pilot registry (shared/spec/pilot-registry.md): the valid fixture loads, every rule is enforced.

Each broken case copies tests/data/registry/valid into tmp_path, breaks one thing, and expects the
problem naming the file, the subject and the rule.
"""
from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
import yaml

from pilots.registry import (
    Agency, Kpi, Participant, RegistryError, RegistryProblem, Secretariat, fiscal_year, load_registry, registry_rows,
)

VALID = Path(__file__).parent / "data" / "registry" / "valid"
MIGRATIONS = Path(__file__).parents[1] / "warehouse" / "migrations"
P1, P3 = "pilots/PLT-2548-001.yaml", "pilots/PLT-2548-003.yaml"
D = Decimal


def copy_valid(tmp_path: Path) -> Path:
    folder = tmp_path / "registry"
    shutil.copytree(VALID, folder)
    return folder


def replace(file: str, old: str, new: str) -> Callable[[Path], None]:
    """An edit of the YAML text; the old text must be there exactly once, so a case cannot go stale."""
    def edit(folder: Path) -> None:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} not found exactly once in {file}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return edit


def change(file: str, fn: Callable[[dict], None]) -> Callable[[Path], None]:
    """An edit of the parsed data, written back as YAML."""
    def edit(folder: Path) -> None:
        path = folder / file
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        fn(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return edit


def problems_of(folder: Path) -> list[RegistryProblem]:
    with pytest.raises(RegistryError) as caught:
        load_registry(folder)
    return caught.value.problems


# --- the valid registry ------------------------------------------------------------------------

def test_fiscal_year_is_buddhist_era_ending_30_september():
    assert fiscal_year(date(2004, 10, 1)) == 2548
    assert fiscal_year(date(2005, 9, 30)) == 2548
    assert fiscal_year(date(2004, 9, 30)) == 2547
    assert fiscal_year(date(2005, 10, 1)) == 2549


def test_valid_registry_loads_with_the_right_values():
    reg = load_registry(VALID)

    assert list(reg.agencies) == ["03009", "07001", "07004", "11002", "15001", "20004", "90001"]
    assert reg.agencies["03009"] == Agency("03009", "สำนักงาน ก.พ.ร.",
                                           "Office of the Public Sector Development Commission",
                                           "Office of the Prime Minister")
    assert reg.agencies["90001"].ministry is None

    assert list(reg.pilots) == ["PLT-2548-001", "PLT-2548-003"]
    p = reg.pilots["PLT-2548-003"]
    assert (p.name_th, p.name_en) == ("ระบบบริการประชาชนแบบเบ็ดเสร็จ", "One-stop e-citizen service")
    assert (p.layer, p.strategies, p.classification) == (5, (1, 6), "open")
    assert (p.start, p.end, p.report_due_days) == (date(2004, 10, 1), date(2006, 9, 30), 30)
    assert p.agencies == (Participant("03009", "lead"), Participant("15001", "secondary"),
                          Participant("11002", "supporting"), Participant("20004", "advisory"))
    assert p.lead_agency_code == "03009"
    assert [k.code for k in p.kpis] == ["K1", "K2", "K3"]
    assert p.kpi("K1") == Kpi("K1", "ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์", "Share of applications filed online",
                              "percent", "higher", "last", D(40),
                              {2548: (D(20), D(30), D(40), D(50), D(60)),
                               2549: (D(40), D(50), D(60), D(70), D(80))})
    k2 = p.kpi("K2")
    assert (k2.unit, k2.direction, k2.aggregation, k2.weight) == ("days", "lower", "last", D(35))
    assert k2.thresholds[2549] == (D(20), D(15), D(10), D("7.5"), D(5))
    k3 = p.kpi("K3")
    assert (k3.unit, k3.aggregation, k3.weight) == ("count", "sum", D(25))

    q = reg.pilots["PLT-2548-001"]
    assert (q.layer, q.strategies, q.classification, q.report_due_days) == (3, (2, 7), "restricted", 45)
    assert q.lead_agency_code == "07004"
    assert q.role_of("90001") == "advisory" and q.role_of("03009") is None
    assert [(k.code, k.weight) for k in q.kpis] == [("E1", D("62.5")), ("E2", D("37.5"))]
    assert q.kpi("E1").thresholds == {2548: (D(1), D("1.5"), D(2), D("2.5"), D(3))}
    assert q.kpi("E2").unit == "baht"


def test_report_due_days_defaults_to_30(tmp_path):
    folder = copy_valid(tmp_path)
    replace(P1, "report_due_days: 45\n", "")(folder)
    assert load_registry(folder).pilots["PLT-2548-001"].report_due_days == 30


def test_weights_add_up_exactly_where_floats_would_not(tmp_path):
    # 30.1 + 34.2 + 35.7 is 100.00000000000001 in binary floating point.
    folder = copy_valid(tmp_path)
    for old, new in (("weight: 40", "weight: 30.1"), ("weight: 35", "weight: 34.2"), ("weight: 25", "weight: 35.7")):
        replace(P3, old, new)(folder)
    assert [k.weight for k in load_registry(folder).pilots["PLT-2548-003"].kpis] == [D("30.1"), D("34.2"), D("35.7")]


def test_content_hash_follows_the_bytes_not_the_location(tmp_path):
    folder = copy_valid(tmp_path)
    same = load_registry(folder).content_sha256
    assert re.fullmatch(r"[0-9a-f]{64}", same) and same == load_registry(VALID).content_sha256
    replace(P1, "report_due_days: 45", "report_due_days: 46")(folder)
    assert load_registry(folder).content_sha256 != same


# --- one case per rule ---------------------------------------------------------------------------

def _rename(old: str, new: str) -> Callable[[Path], None]:
    return lambda folder: (folder / old).rename(folder / new)


def _write(file: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / file).write_text(text, encoding="utf-8")


def _empty_pilots(folder: Path) -> None:
    for path in (folder / "pilots").iterdir():
        path.unlink()


S1, S3 = "PLT-2548-001", "PLT-2548-003"
SEC = "secretariat.yaml"
SECRETARIAT = "name_th: สำนักงาน ก.พ.ร.\nname_en: Office of the Public Sector Development Commission\nletter_prefix: นร 1200\n"


def _with_secretariat(text: str) -> Callable[[Path], None]:
    return _write(SEC, text)


QUOTE_IT = 'agency code must be a quoted 5-digit string (read as the number {}): quote it, e.g. "03009"'
ONCE = "a key may be given only once in a mapping (YAML would silently keep the last one)"

# (id, edit, file, subject, rule, number of problems in all). A rule ending in "..." is a prefix.
CASES = [
    # pilot-registry.md rules
    ("no-lead", replace(P3, '"03009", role: lead', '"03009", role: secondary'),
     P3, S3, "every pilot must have exactly one lead agency (found 0)", 1),
    ("two-leads", replace(P3, '"15001", role: secondary', '"15001", role: lead'),
     P3, S3, "every pilot must have exactly one lead agency (found 2)", 1),
    ("unknown-agency", replace(P3, '"20004", role: advisory', '"99999", role: advisory'),
     P3, S3, "every agency code must exist in agencies.yaml (99999 does not)", 1),
    ("agency-twice", replace(P3, '"20004", role: advisory', '"15001", role: advisory'),
     P3, S3, "an agency may appear at most once in a pilot (15001 appears 2 times)", 1),
    ("layer-6", replace(P3, "layer: 5", "layer: 6"), P3, S3, "layer must be a whole number from 1 to 5", 1),
    ("layer-0", replace(P3, "layer: 5", "layer: 0"), P3, S3, "layer must be a whole number from 1 to 5", 1),
    ("strategy-8", replace(P3, "strategies: [1, 6]", "strategies: [1, 8]"),
     P3, S3, "strategies must be a non-empty list of distinct whole numbers from 1 to 7", 1),
    ("strategies-empty", replace(P3, "strategies: [1, 6]", "strategies: []"),
     P3, S3, "strategies must be a non-empty list of distinct whole numbers from 1 to 7", 1),
    ("strategy-text", replace(P3, "strategies: [1, 6]", 'strategies: [1, "6"]'),
     P3, S3, "strategies must be a non-empty list of distinct whole numbers from 1 to 7", 1),
    ("start-equals-end", replace(P1, "start: 2005-01-01", "start: 2005-09-30"),
     P1, S1, "start must be before end", 1),
    ("start-after-end", replace(P1, "start: 2005-01-01", "start: 2006-01-01"),
     P1, S1, "start must be before end", 1),
    ("kpi-code-twice", replace(P3, "code: K3", "code: K1"),
     P3, f"{S3} / K1", "KPI codes must be unique within a pilot", 1),
    ("weight-zero", replace(P3, "weight: 25", "weight: 0"), P3, f"{S3} / K3", "weight must be a positive number", 1),
    ("weight-negative", replace(P3, "weight: 25", "weight: -25"),
     P3, f"{S3} / K3", "weight must be a positive number", 1),
    ("weight-not-a-number", replace(P3, "weight: 25", "weight: yes"),
     P3, f"{S3} / K3", "weight must be a positive number", 1),
    ("weights-95", replace(P3, "weight: 25", "weight: 20"),
     P3, S3, "KPI weights must add up to 100 (they add up to 95)", 1),
    ("weights-99.9", replace(P1, "weight: 37.5", "weight: 37.4"),
     P1, S1, "KPI weights must add up to 100 (they add up to 99.9)", 1),
    ("four-thresholds", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548: [20, 30, 40, 50]"),
     P3, f"{S3} / K1", "thresholds for 2548 must be five numbers", 1),
    # A year with no list at all, or one number, is not five numbers (it once crashed the loader).
    ("threshold-year-empty", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548:"),
     P3, f"{S3} / K1", "thresholds for 2548 must be five numbers", 1),
    ("threshold-year-one-number", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548: 5"),
     P3, f"{S3} / K1", "thresholds for 2548 must be five numbers", 1),
    ("threshold-text", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548: [20, 30, forty, 50, 60]"),
     P3, f"{S3} / K1", "thresholds for 2548 must be five numbers: YAML read 'forty' as text, not a number", 1),
    ("higher-not-increasing", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548: [20, 30, 30, 50, 60]"),
     P3, f"{S3} / K1", "thresholds for 2548 must be strictly increasing (direction higher)", 1),
    ("lower-not-decreasing", replace(P3, "2548: [30, 25, 20, 15, 10]", "2548: [10, 15, 20, 25, 30]"),
     P3, f"{S3} / K2", "thresholds for 2548 must be strictly decreasing (direction lower)", 1),
    ("fiscal-year-missing", replace(P3, "      2549: [40, 50, 60, 70, 80]\n", ""),
     P3, f"{S3} / K1", "every fiscal year the pilot's dates touch must have thresholds (missing 2549)", 1),
    # Ending on 1 October 2005 touches FY 2549: both KPIs lack it.
    ("end-crosses-into-2549", replace(P1, "end: 2005-09-30", "end: 2005-10-01"),
     P1, f"{S1} / E2", "every fiscal year the pilot's dates touch must have thresholds (missing 2549)", 2),
    ("start-crosses-into-2547", replace(P3, "start: 2004-10-01", "start: 2004-09-30"),
     P3, f"{S3} / K3", "every fiscal year the pilot's dates touch must have thresholds (missing 2547)", 3),
    ("percent-over-100", replace(P3, "2549: [40, 50, 60, 70, 80]", "2549: [60, 70, 80, 90, 101]"),
     P3, f"{S3} / K1", "thresholds for 2549 must be within 0-100 (unit percent)", 1),
    ("percent-below-0", replace(P3, "2548: [20, 30, 40, 50, 60]", "2548: [-10, 30, 40, 50, 60]"),
     P3, f"{S3} / K1", "thresholds for 2548 must be within 0-100 (unit percent)", 1),
    ("ce-fiscal-year", replace(P1, "2548: [1, 1.5, 2, 2.5, 3]", "2005: [1, 1.5, 2, 2.5, 3]"),
     P1, f"{S1} / E1", "thresholds are keyed by Buddhist-Era fiscal year, e.g. 2548 = CE + 543 (got 2005)", 2),
    ("thresholds-missing", replace(P1, "    thresholds:\n      2548: [1, 1.5, 2, 2.5, 3]\n", ""),
     P1, f"{S1} / E1", "thresholds must map each fiscal year (BE) to five numbers", 1),
    # structure
    ("unreadable-yaml", replace(P3, "name_en: One-stop e-citizen service", "name_en: [unclosed"),
     P3, S3, "the file must be readable YAML: ...", 1),
    ("impossible-date", replace(P1, "end: 2005-09-30", "end: 2005-02-30"),
     P1, S1, "the file must be readable YAML: ...", 1),
    ("unquoted-code", replace(P3, '"15001", role: secondary', "15001, role: secondary"),
     P3, S3, QUOTE_IT.format(15001), 1),
    ("unquoted-octal-code", replace(P1, '"07001", role: secondary', "07001, role: secondary"),
     P1, S1, QUOTE_IT.format(3585), 1),
    ("unquoted-code-in-agencies", replace("agencies.yaml", 'code: "90001"', "code: 90001"),
     "agencies.yaml", "90001", QUOTE_IT.format(90001), 1),
    ("four-digit-code", replace(P3, '"20004", role: advisory', '"2004", role: advisory'),
     P3, S3, "agency code must be a quoted 5-digit string, e.g. \"03009\" (got '2004')", 1),
    ("agency-code-missing", replace(P3, '{code: "20004", role: advisory}', "{role: advisory}"),
     P3, S3, "agency code is missing", 1),
    ("role", replace(P3, "role: advisory", "role: observer"),
     P3, S3, "role of agency 20004 must be one of lead | secondary | supporting | advisory", 1),
    ("unit", replace(P3, "unit: count", "unit: pieces"),
     P3, f"{S3} / K3", "unit must be one of percent | count | baht | days | score", 1),
    ("direction", replace(P3, "direction: lower", "direction: down"),
     P3, f"{S3} / K2", "direction must be higher | lower", 1),
    ("aggregation", replace(P3, "aggregation: sum", "aggregation: average"),
     P3, f"{S3} / K3", "aggregation must be last | sum", 1),
    ("classification", replace(P3, "classification: open", "classification: secret"),
     P3, S3, "classification must be open | restricted", 1),
    ("report-due-days-zero", replace(P1, "report_due_days: 45", "report_due_days: 0"),
     P1, S1, "report_due_days must be a positive whole number", 1),
    ("report-due-days-text", replace(P1, "report_due_days: 45", "report_due_days: forty-five"),
     P1, S1, "report_due_days must be a positive whole number", 1),
    # Bounds the marts can compute with (pilots/registry.py THRESHOLD_LIMIT, MAX_REPORT_DUE_DAYS).
    ("report-due-days-over-ten-years", replace(P1, "report_due_days: 45", "report_due_days: 3651"),
     P1, S1, "report_due_days must be at most 3650 (ten years)", 1),
    ("threshold-too-large", replace(P3, "2548: [1000, 2000, 3000, 4000, 5000]", "2548: [1000, 2000, 3000, 4000, 100000000000000000000]"),
     P3, f"{S3} / K3", "thresholds for 2548 must be below 10^20 in absolute value", 1),
    ("name-missing", replace(P3, "name_en: One-stop e-citizen service\n", ""), P3, S3, "name_en is missing", 1),
    ("name-not-text", replace(P3, "name_th: ระบบบริการประชาชนแบบเบ็ดเสร็จ", "name_th: 123"),
     P3, S3, "name_th must be non-empty text", 1),
    ("kpi-name-missing", replace(P3, "    name_en: Applications completed\n", ""),
     P3, f"{S3} / K3", "name_en is missing", 1),
    ("unknown-field", replace(P1, "report_due_days: 45", "report_due_day: 45"),
     P1, S1, "unknown field 'report_due_day'", 1),
    # A quoted "2004-10-01" is that date (taken: test_registry_refused_run.py); other text is not a date.
    ("start-text", replace(P3, "start: 2004-10-01", 'start: "1 October 2004"'),
     P3, S3, "start must be a CE date (YYYY-MM-DD)", 1),
    ("start-quoted-not-a-day", replace(P3, "start: 2004-10-01", 'start: "2005-02-30"'),
     P3, S3, "start must be a CE date (YYYY-MM-DD)", 1),
    ("start-quoted-be", replace(P3, "start: 2004-10-01", 'start: "2547-10-01"'),
     P3, S3, "start must be a CE date (YYYY-MM-DD)", 1),
    ("end-in-be", replace(P3, "end: 2006-09-30", "end: 2549-09-30"),
     P3, S3, "end must be a CE date (YYYY-MM-DD)", 1),
    ("weight-too-precise", replace(P1, "weight: 62.5", "weight: 62.50001"),
     P1, f"{S1} / E1", "weight must have at most 4 decimal places", 2),
    ("kpis-empty", change(P1, lambda d: d.update(kpis=[])), P1, S1, "kpis must be a non-empty list", 1),
    ("agencies-empty", change(P1, lambda d: d.update(agencies=[])),
     P1, S1, "agencies must be a non-empty list of {code, role}", 1),
    ("file-name", _rename(P1, "pilots/PLT-2548-002.yaml"),
     "pilots/PLT-2548-002.yaml", S1, "the file name must be <pilot_id>.yaml (PLT-2548-001.yaml)", 1),
    ("duplicate-pilot-id", lambda f: shutil.copy(f / P3, f / "pilots/PLT-2548-004.yaml"),
     "pilots/PLT-2548-004.yaml", S3, "pilot ids must be unique (also in pilots/PLT-2548-003.yaml)", 2),
    ("yml-extension", _rename(P1, "pilots/PLT-2548-001.yml"),
     "pilots/PLT-2548-001.yml", S1, "pilot files must be named <pilot_id>.yaml", 1),
    ("pilot-not-a-mapping", _write(P1, "- PLT-2548-001\n"), P1, S1, "a pilot file must be a YAML mapping", 1),
    ("duplicate-agency", lambda f: (f / "agencies.yaml").open("a", encoding="utf-8").write(
        '- {code: "03009", name_th: สำนักงาน ก.พ.ร., name_en: OPDC}\n'),
     "agencies.yaml", "03009", "agency codes must be unique in agencies.yaml", 1),
    ("agency-name-missing", replace("agencies.yaml", "  name_th: สำนักงบประมาณ\n", ""),
     "agencies.yaml", "07001", "name_th is missing", 1),
    ("agencies-not-a-list", _write("agencies.yaml", "code: '03009'\n"),
     "agencies.yaml", "agencies", "agencies.yaml must be a non-empty list of agencies", 1),
    ("agencies-unreadable", _write("agencies.yaml", "- {code: '03009'\n"),
     "agencies.yaml", "agencies", "the file must be readable YAML: ...", 1),
    ("no-agencies-yaml", lambda f: (f / "agencies.yaml").unlink(),
     "agencies.yaml", "registry", "a registry folder must contain agencies.yaml", 1),
    ("no-pilots-folder", lambda f: shutil.rmtree(f / "pilots"),
     "pilots", "registry", "a registry folder must contain a pilots/ folder", 1),
    ("empty-pilots-folder", _empty_pilots,
     "pilots", "registry", "the pilots/ folder must hold at least one <pilot_id>.yaml file", 1),
    # the optional fields of reminder letters (pilot-registry.md, follow-up.md)
    ("no-reminders-until-text", replace(P3, '"11002", role: supporting', '"11002", role: supporting, no_reminders_until: soon'),
     P3, S3, "no_reminders_until of agency 11002 must be a CE date (YYYY-MM-DD) or left out", 1),
    ("no-reminders-until-be", replace(P3, '"11002", role: supporting', '"11002", role: supporting, no_reminders_until: 2549-12-31'),
     P3, S3, "no_reminders_until of agency 11002 must be a CE date (YYYY-MM-DD) or left out", 1),
    ("no-reminders-until-misspelt", replace(P3, '"11002", role: supporting', '"11002", role: supporting, no_reminder_until: 2006-12-31'),
     P3, S3, "unknown field 'no_reminder_until'", 1),
    ("email-two-addresses", replace("agencies.yaml", "  ministry: Ministry of Interior\n",
                                    "  ministry: Ministry of Interior\n  email: a@dopa.go.th, b@dopa.go.th\n"),
     "agencies.yaml", "15001", "email must be one e-mail address such as saraban@opdc.go.th, or left out "
                               "(got 'a@dopa.go.th, b@dopa.go.th')", 1),
    ("head-empty", replace("agencies.yaml", "  ministry: Ministry of Interior\n", "  ministry: Ministry of Interior\n  head_th: ''\n"),
     "agencies.yaml", "15001", "head_th must be non-empty text or left out", 1),
    ("secretariat-prefix-missing", _with_secretariat(SECRETARIAT.replace("letter_prefix: นร 1200\n", "")),
     SEC, "secretariat", "letter_prefix is missing", 1),
    ("secretariat-unknown-field", _with_secretariat(SECRETARIAT + "telex: 02 356 9999\n"),
     SEC, "secretariat", "unknown field 'telex'", 1),
    ("secretariat-email-with-name", _with_secretariat(SECRETARIAT + "email: Pilots <pilots@opdc.go.th>\n"),
     SEC, "secretariat", "email must be one e-mail address such as saraban@opdc.go.th, or left out "
                         "(got 'Pilots <pilots@opdc.go.th>')", 1),
    ("secretariat-signer-without-position", _with_secretariat(SECRETARIAT + "signer_name_th: นายสมมุติ ตัวอย่าง\n"),
     SEC, "secretariat", "signer_name_th and signer_position_th must be given together", 1),
    ("secretariat-fax-empty", _with_secretariat(SECRETARIAT + "fax: ''\n"),
     SEC, "secretariat", "fax must be non-empty text or left out", 1),
    ("secretariat-not-a-mapping", _with_secretariat("- นร 1200\n"),
     SEC, "secretariat", "secretariat.yaml must be a mapping with name_th, name_en, letter_prefix", 1),
    ("secretariat-unreadable", _with_secretariat("name_th: [unclosed\n"),
     SEC, "secretariat", "the file must be readable YAML: ...", 1),
    ("secretariat-yml", _write("secretariat.yml", SECRETARIAT),
     "secretariat.yml", "secretariat", "the secretariat's file must be named secretariat.yaml", 1),
    # A key written twice: YAML keeps the last one without a word, in every registry file.
    ("weight-twice", replace(P3, "    weight: 40\n", "    weight: 100\n    weight: 40\n"),
     P3, f"{S3} / K1", "the key 'weight' is written 2 times (lines 22 and 23): " + ONCE, 1),
    ("fiscal-year-twice", replace(P3, "      2548: [20, 30, 40, 50, 60]\n",
                                  "      2548: [20, 30, 40, 50, 60]\n      2548: [2, 3, 4, 5, 6]\n"),
     P3, f"{S3} / K1", "the key 2548 in thresholds is written 2 times (lines 24 and 25): " + ONCE, 1),
    ("agencies-list-twice", lambda f: (f / P3).open("a", encoding="utf-8").write('agencies:\n  - {code: "03009", role: lead}\n'),
     P3, S3, "the key 'agencies' is written 2 times (lines 10 and 46): " + ONCE, 1),
    ("role-twice", replace(P3, '"15001", role: secondary', '"15001", role: secondary, role: secondary'),
     P3, S3, "the key 'role' in agency 15001 is written 2 times (line 12): " + ONCE, 1),
    ("agency-name-twice", replace("agencies.yaml", "  name_th: กรมการปกครอง\n", "  name_th: กรมการปกครอง\n  name_th: กรมการปกครอง\n"),
     "agencies.yaml", "15001", "the key 'name_th' is written 2 times (lines 7 and 8): " + ONCE, 1),
    ("secretariat-prefix-twice", _with_secretariat(SECRETARIAT + "letter_prefix: นร 1201\n"),
     SEC, "secretariat", "the key 'letter_prefix' is written 2 times (lines 3 and 4): " + ONCE, 1),
    # A code with a space at an end: report cells are read trimmed, so no report could name it.
    ("kpi-code-trailing-space", replace(P3, "code: K1", 'code: "K1 "'),
     P3, f"{S3} / K1 ", "code must not begin or end with a space (got 'K1 '): report cells are read trimmed, as 'K1'", 1),
    ("pilot-id-leading-space", replace(P3, "pilot_id: PLT-2548-003", 'pilot_id: " PLT-2548-003"'),
     P3, f" {S3}", "pilot_id must not begin or end with a space (got ' PLT-2548-003'): report cells are read trimmed, "
                   "as 'PLT-2548-003'", 1),
    ("agency-code-trailing-space", replace(P3, '"15001", role: secondary', '"15001 ", role: secondary'),
     P3, S3, "agency code must not begin or end with a space (got '15001 '): report cells are read trimmed", 1),
    ("agency-code-space-in-agencies", replace("agencies.yaml", 'code: "15001"', 'code: " 15001"'),
     "agencies.yaml", " 15001", "agency code must not begin or end with a space (got ' 15001'): report cells are read "
                                "trimmed", 1),
    # A code YAML reads as a number: the same hint as an agency code's.
    ("pilot-id-number", replace(P3, "pilot_id: PLT-2548-003", "pilot_id: 0042"),
     P3, S3, 'pilot_id must be non-empty text (read as the number 34): quote it, e.g. "PLT-2548-003"', 1),
    ("kpi-code-number", replace(P3, "code: K3", "code: 3"),
     P3, f"{S3} / KPI #3", 'code must be non-empty text (read as the number 3): quote it, e.g. "K1"', 1),
    ("kpi-code-boolean", replace(P3, "code: K3", "code: yes"),
     P3, f"{S3} / KPI #3", 'code must be non-empty text (read as true): quote it, e.g. "K1"', 1),
    # Text longer than MAX_TEXT (500): printed whole on letters and in reminders.csv, an Excel mail merge.
    ("agency-name-40000", replace("agencies.yaml", "name_th: กรมการปกครอง", "name_th: " + "ก" * 40000),
     "agencies.yaml", "15001", "name_th must be at most 500 characters (got 40,000)", 1),
    ("kpi-name-501", replace(P3, "name_en: Share of applications filed online", "name_en: " + "A" * 501),
     P3, f"{S3} / K1", "name_en must be at most 500 characters (got 501)", 1),
    ("head-501", replace("agencies.yaml", "  ministry: Ministry of Interior\n",
                         "  ministry: Ministry of Interior\n  head_en: " + "A" * 501 + "\n"),
     "agencies.yaml", "15001", "head_en must be at most 500 characters (got 501)", 1),
    ("email-501", replace("agencies.yaml", "  ministry: Ministry of Interior\n",
                          "  ministry: Ministry of Interior\n  email: " + "a" * 493 + "@x.go.th\n"),
     "agencies.yaml", "15001", "email must be at most 500 characters (got 501)", 1),
    ("secretariat-address-501", _with_secretariat(SECRETARIAT + "address_th: " + "ก" * 501 + "\n"),
     SEC, "secretariat", "address_th must be at most 500 characters (got 501)", 1),
    ("secretariat-email-501", _with_secretariat(SECRETARIAT + "email: " + "a" * 493 + "@x.go.th\n"),
     SEC, "secretariat", "email must be at most 500 characters (got 501)", 1),
    # Nor is a long code shown as the entry's name: the problem names the file's pilot, the KPI's place.
    ("pilot-id-501", replace(P3, "pilot_id: PLT-2548-003", "pilot_id: P" + "x" * 500),
     P3, S3, "pilot_id must be at most 500 characters (got 501)", 1),
    ("kpi-code-501", replace(P3, "code: K3", "code: K" + "3" * 500),
     P3, f"{S3} / KPI #3", "code must be at most 500 characters (got 501)", 1),
    ("agency-code-501", replace("agencies.yaml", 'code: "15001"', 'code: "' + "1" * 501 + '"'),
     "agencies.yaml", "entry 2", 'agency code must be a quoted 5-digit string, e.g. "03009" (got 501 characters)', 2),
]


def _matches(p: RegistryProblem, file: str, subject: str, rule: str) -> bool:
    same_rule = p.rule.startswith(rule[:-3]) if rule.endswith("...") else p.rule == rule
    return (p.file, p.subject) == (file, subject) and same_rule


@pytest.mark.parametrize("edit, file, subject, rule, count", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_is_enforced(tmp_path, edit, file, subject, rule, count):
    folder = copy_valid(tmp_path)
    edit(folder)
    problems = problems_of(folder)
    assert any(_matches(p, file, subject, rule) for p in problems), "\n".join(map(str, problems))
    assert len(problems) == count, "\n".join(map(str, problems))


@pytest.mark.parametrize("value", ["", " 5", " 40.5", ' "40"', " {a: 1}"])
def test_a_threshold_year_that_is_no_list_is_refused_in_both_languages(tmp_path, value):
    folder = copy_valid(tmp_path)
    replace(P3, "2548: [20, 30, 40, 50, 60]", f"2548:{value}")(folder)
    assert [(p.file, p.subject, p.rule, p.rule_th) for p in problems_of(folder)] == [
        (P3, f"{S3} / K1", "thresholds for 2548 must be five numbers", "thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า")]


def test_an_explicitly_tagged_code_is_taken(tmp_path):
    """`code: !!str 03009` is text to every YAML reader (1.1 and 1.2): the tag says so, as quotes
    would. Only a code with neither is refused as unquoted (the cases above)."""
    folder = copy_valid(tmp_path)
    replace("agencies.yaml", 'code: "03009"', "code: !!str 03009")(folder)
    replace(P3, '{code: "03009", role: lead}', "{code: !!str 03009, role: lead}")(folder)
    reg = load_registry(folder)
    assert reg.agencies["03009"].code == "03009" and reg.pilots[S3].lead_agency_code == "03009"
    assert type(reg.pilots[S3].agencies[0].code) is str


FORM_TH = 'รหัสหน่วยงานต้องเป็นตัวเลข 5 หลักในเครื่องหมายคำพูด เช่น "03009" (พบ \'ABCDE\')'
WEIGHT_EN = "weight must be a positive number: YAML read {!r} as text, not a number"
WEIGHT_TH = "weight ต้องเป็นจำนวนบวก: YAML อ่าน {!r} เป็นข้อความ ไม่ใช่ตัวเลข"
WEIGHT_RULE = ": write a plain number (no quotes) above 0 and at most 100, with at most 4 decimal places"
WEIGHT_RULE_TH = (": ให้เขียนเป็นตัวเลขธรรมดา (ไม่ใส่เครื่องหมายคำพูด) ที่มากกว่า 0 แต่ไม่เกิน 100 "
                  "และมีทศนิยมไม่เกิน 4 ตำแหน่ง")
THRESHOLD_EN = "thresholds for 2548 must be five numbers: YAML read {!r} as text, not a number"
THRESHOLD_TH = "thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า: YAML อ่าน {!r} เป็นข้อความ ไม่ใช่ตัวเลข"


# (id, edit, file, subject, rule in English, in Thai): the one problem, said exactly (reviewer RV11 F5).
MESSAGES = [
    # Unquoted but not five digits: its fault is the form, not the quotes.
    ("unquoted-letters", replace(P3, '{code: "20004", role: advisory}', "{code: ABCDE, role: advisory}"),
     P3, S3, "agency code must be a quoted 5-digit string, e.g. \"03009\" (got 'ABCDE')", FORM_TH),
    # A weight in quotes: "write it <n>" only where <n> would pass; else the rule a number must meet.
    ("weight-quoted", replace(P3, "weight: 25", 'weight: "25"'), P3, f"{S3} / K3",
     WEIGHT_EN.format("25") + ": write it 25 (a plain number, no quotes)",
     WEIGHT_TH.format("25") + ": ให้เขียนเป็น 25 (ตัวเลขธรรมดา ไม่ใส่เครื่องหมายคำพูด)"),
    ("weight-quoted-negative", replace(P3, "weight: 25", 'weight: "-40"'), P3, f"{S3} / K3",
     WEIGHT_EN.format("-40") + WEIGHT_RULE, WEIGHT_TH.format("-40") + WEIGHT_RULE_TH),
    ("weight-quoted-decimals", replace(P3, "weight: 25", 'weight: "40.00001"'), P3, f"{S3} / K3",
     WEIGHT_EN.format("40.00001") + WEIGHT_RULE, WEIGHT_TH.format("40.00001") + WEIGHT_RULE_TH),
    ("weight-quoted-zero", replace(P3, "weight: 25", 'weight: "0"'), P3, f"{S3} / K3",
     WEIGHT_EN.format("0") + WEIGHT_RULE, WEIGHT_TH.format("0") + WEIGHT_RULE_TH),
    # A threshold in quotes: its own rules (the order of the five is said apart, once written plainly).
    ("threshold-quoted-percent", replace(P3, "2548: [20, 30, 40, 50, 60]", '2548: [20, 30, 40, 50, "150"]'),
     P3, f"{S3} / K1", THRESHOLD_EN.format("150")
     + ": write a plain number (no quotes) within 0-100 (unit percent), with at most 10 decimal places",
     THRESHOLD_TH.format("150") + ": ให้เขียนเป็นตัวเลขธรรมดา (ไม่ใส่เครื่องหมายคำพูด) ที่อยู่ระหว่าง 0-100 (unit percent) "
     "และมีทศนิยมไม่เกิน 10 ตำแหน่ง"),
    ("threshold-quoted-huge", replace(P3, "2548: [30, 25, 20, 15, 10]", '2548: ["1e21", 25, 20, 15, 10]'),
     P3, f"{S3} / K2", THRESHOLD_EN.format("1e21")
     + ": write a plain number (no quotes) below 10^20 in absolute value, with at most 10 decimal places",
     THRESHOLD_TH.format("1e21") + ": ให้เขียนเป็นตัวเลขธรรมดา (ไม่ใส่เครื่องหมายคำพูด) ที่มีค่าสัมบูรณ์น้อยกว่า 10^20 "
     "และมีทศนิยมไม่เกิน 10 ตำแหน่ง"),
    ("threshold-quoted-ok", replace(P3, "2548: [30, 25, 20, 15, 10]", '2548: ["30", 25, 20, 15, 10]'),
     P3, f"{S3} / K2", THRESHOLD_EN.format("30") + ": write it 30 (a plain number, no quotes)",
     THRESHOLD_TH.format("30") + ": ให้เขียนเป็น 30 (ตัวเลขธรรมดา ไม่ใส่เครื่องหมายคำพูด)"),
]


@pytest.mark.parametrize("edit, file, subject, rule, rule_th", [c[1:] for c in MESSAGES], ids=[c[0] for c in MESSAGES])
def test_the_message_says_what_to_write(tmp_path, edit, file, subject, rule, rule_th):
    folder = copy_valid(tmp_path)
    edit(folder)
    assert [(p.file, p.subject, p.rule, p.rule_th) for p in problems_of(folder)] == [(file, subject, rule, rule_th)]


def test_every_problem_is_reported_at_once(tmp_path):
    folder = copy_valid(tmp_path)
    replace("agencies.yaml", 'code: "90001"', "code: 90001")(folder)
    replace(P1, "weight: 37.5", "weight: 30")(folder)
    replace(P1, "layer: 3", "layer: 9")(folder)
    replace(P3, '"03009", role: lead', '"03009", role: supporting')(folder)
    replace(P3, "2548: [30, 25, 20, 15, 10]", "2548: [30, 25, 20, 15]")(folder)
    problems = problems_of(folder)
    assert {(p.file, p.subject, p.rule) for p in problems} == {
        ("agencies.yaml", "90001", QUOTE_IT.format(90001)),
        (P1, S1, "layer must be a whole number from 1 to 5"),
        (P1, S1, "KPI weights must add up to 100 (they add up to 92.5)"),
        (P3, S3, "every pilot must have exactly one lead agency (found 0)"),
        (P3, f"{S3} / K2", "thresholds for 2548 must be five numbers"),
    }
    assert len(problems) == 5
    assert "pilots/PLT-2548-003.yaml: PLT-2548-003: every pilot must have exactly one lead" in str(
        RegistryError(problems))


def test_missing_folder(tmp_path):
    assert [p.rule for p in problems_of(tmp_path / "nowhere")][0].startswith("the registry folder must exist")


# --- warehouse rows ------------------------------------------------------------------------------

def _table_columns(table: str) -> list[str]:
    """Column names of one table after every migration, in order (CREATE TABLE, then ADD COLUMN)."""
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted(MIGRATIONS.glob("*.sql")))
    body = re.search(rf"CREATE TABLE {re.escape(table)} \((.*?)\n\);", sql, re.S).group(1)
    columns = [line.split()[0] for line in body.strip().splitlines() if not line.strip().startswith("PRIMARY KEY")]
    return columns + re.findall(rf"ALTER TABLE {re.escape(table)} ADD COLUMN (\w+)", sql)


def test_registry_rows():
    rows = registry_rows(load_registry(VALID))
    tables = ["registry.agencies", "registry.pilots", "registry.pilot_agencies", "registry.kpis",
              "registry.kpi_thresholds", "registry.secretariat"]
    assert sorted(rows) == sorted(tables + ["registry.strategies"])
    assert rows["registry.strategies"] == []  # the fixture has no strategies.yaml (tests/test_strategies.py)
    for table in tables:
        assert all(list(r) == _table_columns(table) for r in rows[table]), table
    assert [len(rows[t]) for t in tables] == [7, 2, 7, 5, 8, 0]  # no secretariat.yaml: no row

    assert rows["registry.agencies"][-1] == {"agency_code": "90001", "name_th": "สำนักงานการตรวจเงินแผ่นดิน",
                                             "name_en": "Office of the Auditor General", "ministry": None,
                                             "head_th": None, "head_en": None, "email": None}
    assert rows["registry.pilots"][0] == {
        "pilot_id": "PLT-2548-001", "name_th": "ระบบบริหารการเงินการคลังภาครัฐแบบอิเล็กทรอนิกส์",
        "name_en": "Government fiscal management information system", "layer": 3, "strategies": [2, 7],
        "classification": "restricted", "start_date": date(2005, 1, 1), "end_date": date(2005, 9, 30),
        "lead_agency_code": "07004", "report_due_days": 45,
    }
    assert rows["registry.pilots"][1]["lead_agency_code"] == "03009"
    assert rows["registry.pilot_agencies"][:3] == [
        {"pilot_id": "PLT-2548-001", "agency_code": "07004", "role": "lead", "no_reminders_until": None},
        {"pilot_id": "PLT-2548-001", "agency_code": "07001", "role": "secondary", "no_reminders_until": None},
        {"pilot_id": "PLT-2548-001", "agency_code": "90001", "role": "advisory", "no_reminders_until": None},
    ]
    assert rows["registry.kpis"][3] == {
        "pilot_id": "PLT-2548-003", "kpi_code": "K2", "name_th": "ระยะเวลาเฉลี่ยในการออกใบอนุญาต",
        "name_en": "Average days to issue a licence", "unit": "days", "direction": "lower",
        "aggregation": "last", "weight": D(35),
    }
    k2 = [r for r in rows["registry.kpi_thresholds"] if r["kpi_code"] == "K2"]
    assert k2 == [
        {"pilot_id": "PLT-2548-003", "kpi_code": "K2", "fiscal_year": 2548,
         "t1": D(30), "t2": D(25), "t3": D(20), "t4": D(15), "t5": D(10)},
        {"pilot_id": "PLT-2548-003", "kpi_code": "K2", "fiscal_year": 2549,
         "t1": D(20), "t2": D(15), "t3": D(10), "t4": D("7.5"), "t5": D(5)},
    ]
    assert all(isinstance(r[f"t{i}"], Decimal) for r in rows["registry.kpi_thresholds"] for i in range(1, 6))


def test_letter_fields_load_and_become_rows(tmp_path):
    """The optional fields of pilot-registry.md for reminders: addressee, e-mail, an agreed extension
    (no_reminders_until) and secretariat.yaml, as loaded and as written to the warehouse."""
    folder = copy_valid(tmp_path)
    replace("agencies.yaml", "  ministry: Ministry of Interior\n",
            "  ministry: Ministry of Interior\n  head_th: อธิบดีกรมการปกครอง\n  head_en: Director-General of the DOPA\n"
            "  email: saraban@dopa.go.th\n")(folder)
    replace(P3, '"11002", role: supporting', '"11002", role: supporting, no_reminders_until: 2005-12-31')(folder)
    _write(SEC, SECRETARIAT + "phone: 0 2356 9999\nsigner_name_th: นายสมมุติ ตัวอย่าง\n"
                "signer_position_th: รองเลขาธิการ ก.พ.ร.\ndivision_th: กองติดตามและประเมินผลโครงการนำร่อง\n"
                "fax: 0 2356 9998\nemail: pilots@opdc.go.th\n")(folder)
    reg = load_registry(folder)
    assert reg.agencies["15001"] == Agency("15001", "กรมการปกครอง", "Department of Provincial Administration",
                                           "Ministry of Interior", "อธิบดีกรมการปกครอง", "Director-General of the DOPA",
                                           "saraban@dopa.go.th")
    assert reg.pilots[S3].agencies[2] == Participant("11002", "supporting", date(2005, 12, 31))
    assert reg.secretariat == Secretariat("สำนักงาน ก.พ.ร.", "Office of the Public Sector Development Commission",
                                          "นร 1200", None, None, "0 2356 9999", signer_name_th="นายสมมุติ ตัวอย่าง",
                                          signer_position_th="รองเลขาธิการ ก.พ.ร.",
                                          division_th="กองติดตามและประเมินผลโครงการนำร่อง", fax="0 2356 9998",
                                          email="pilots@opdc.go.th")
    assert load_registry(VALID).secretariat is None  # optional
    assert reg.content_sha256 != load_registry(VALID).content_sha256  # secretariat.yaml is part of the registry
    rows = registry_rows(reg)
    assert rows["registry.secretariat"] == [{"name_th": "สำนักงาน ก.พ.ร.",
                                             "name_en": "Office of the Public Sector Development Commission",
                                             "letter_prefix": "นร 1200", "address_th": None, "address_en": None,
                                             "phone": "0 2356 9999", "signer_name_th": "นายสมมุติ ตัวอย่าง",
                                             "signer_name_en": None, "signer_position_th": "รองเลขาธิการ ก.พ.ร.",
                                             "signer_position_en": None,
                                             "division_th": "กองติดตามและประเมินผลโครงการนำร่อง", "division_en": None,
                                             "fax": "0 2356 9998", "email": "pilots@opdc.go.th"}]
    assert {"pilot_id": S3, "agency_code": "11002", "role": "supporting",
            "no_reminders_until": date(2005, 12, 31)} in rows["registry.pilot_agencies"]


def test_text_of_500_characters_loads(tmp_path):
    """MAX_TEXT is the limit, not one below it (docs/registry.md): 500 characters pass, 501 do not
    (the cases above)."""
    folder = copy_valid(tmp_path)
    replace("agencies.yaml", "name_th: กรมการปกครอง", "name_th: " + "ก" * 500)(folder)
    assert load_registry(folder).agencies["15001"].name_th == "ก" * 500


def test_a_merged_key_may_be_overridden(tmp_path):
    """A YAML merge (`<<: *base`) brings keys in to be overridden: that is not a key written twice."""
    folder = copy_valid(tmp_path)
    replace(P3, "  - code: K2\n", "  - &k2\n    code: K2\n")(folder)
    replace(P3, "  - code: K3\n    name_th: จำนวนคำขอที่ดำเนินการเสร็จ\n",
            "  - <<: *k2\n    code: K3\n    name_th: จำนวนคำขอที่ดำเนินการเสร็จ\n")(folder)
    k3 = load_registry(folder).pilots[S3].kpi("K3")
    assert (k3.code, k3.unit, k3.aggregation, k3.weight) == ("K3", "count", "sum", D(25))
