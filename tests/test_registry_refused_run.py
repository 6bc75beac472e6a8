"""A registry the loader used to take without a word stops `pilotkpi run` and `check` (exit 4) with
one line naming the file, the entry and the rule, and the warehouse is left as it was
(shared/spec/pilot-registry.md: "a broken registry stops the run with a clear message and changes
nothing"). The cases a verifier found taken: a key written twice (YAML keeps the last one), a code
with a space at an end (report cells are read trimmed, so every lead file was quarantined), a
pilot_id YAML reads as a number (no hint to quote it), a name of 40,000 characters (past Excel's
cell in reminders.csv). Every rule itself, one case each: tests/test_registry.py.

Each problem is said in English and then in Thai (the registry's keepers are the Thai secretariat:
pilots/registry_rules.yaml), and `check --format json` answers a JSON refusal document on stdout."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF, figures, make_scenario
from tests.test_registry import replace  # an edit of the registry's text, its old text there exactly once

P = "PLT-2548-003"
PILOT_FILE = f"pilots/{P}.yaml"
CLEAN = Path(__file__).parent / "data" / "defects" / "CLEAN.csv"
ONCE = "a key may be given only once in a mapping (YAML would silently keep the last one)"
ONCE_TH = "คีย์หนึ่งเขียนได้ครั้งเดียวในแต่ละชุดข้อมูล (YAML จะเก็บเฉพาะค่าสุดท้ายโดยไม่แจ้งเตือน)"
UNQUOTED = ("agency code must be written in quotes, e.g. code: \"03009\" (got '03009' without quotes, which a YAML "
            "reader may take for a number and lose its leading zero)")
UNQUOTED_TH = ("รหัสหน่วยงานต้องเขียนในเครื่องหมายคำพูด เช่น code: \"03009\" (พบ '03009' ที่ไม่มีเครื่องหมายคำพูด "
               "ซึ่งโปรแกรมอ่าน YAML อาจถือเป็นตัวเลขและตัดเลขศูนย์นำหน้าทิ้ง)")
EN = "pilotkpi: broken registry, nothing was written: "
TH = "pilotkpi: ทะเบียนโครงการไม่ถูกต้อง จึงไม่ได้บันทึกข้อมูลใด ๆ: "


# (id, the change, the one problem printed in English, then in Thai: file: subject: rule)
CASES = [
    ("fiscal-year-twice", replace(PILOT_FILE, "      2548: [20, 30, 40, 50, 60]\n",
                               "      2548: [20, 30, 40, 50, 60]\n      2548: [2, 3, 4, 5, 6]\n"),
     f"{PILOT_FILE}: {P} / K1: the key 2548 in thresholds is written 2 times (lines 24 and 25): {ONCE}",
     f"{PILOT_FILE}: {P} / K1: คีย์ 2548 ใน thresholds เขียนไว้ 2 ครั้ง (บรรทัดที่ 24 และ 25): {ONCE_TH}"),
    ("weight-twice", replace(PILOT_FILE, "    weight: 60\n", "    weight: 60\n    weight: 60\n"),
     f"{PILOT_FILE}: {P} / K1: the key 'weight' is written 2 times (lines 22 and 23): {ONCE}",
     f"{PILOT_FILE}: {P} / K1: คีย์ 'weight' เขียนไว้ 2 ครั้ง (บรรทัดที่ 22 และ 23): {ONCE_TH}"),
    ("agencies-twice", replace(PILOT_FILE, "      2548: [100, 200, 300, 400, 500]\n",
                            '      2548: [100, 200, 300, 400, 500]\nagencies:\n  - {code: "03009", role: lead}\n'),
     f"{PILOT_FILE}: {P}: the key 'agencies' is written 2 times (lines 10 and 34): {ONCE}",
     f"{PILOT_FILE}: {P}: คีย์ 'agencies' เขียนไว้ 2 ครั้ง (บรรทัดที่ 10 และ 34): {ONCE_TH}"),
    ("agency-key-twice", replace("agencies.yaml", 'name_en: National Statistical Office, ',
                              'name_en: National Statistical Office, name_en: NSO, '),
     f"agencies.yaml: 20004: the key 'name_en' is written 2 times (line 5): {ONCE}",
     f"agencies.yaml: 20004: คีย์ 'name_en' เขียนไว้ 2 ครั้ง (บรรทัดที่ 5): {ONCE_TH}"),
    ("kpi-code-space", replace(PILOT_FILE, "code: K1", 'code: "K1 "'),
     f"{PILOT_FILE}: {P} / K1 : code must not begin or end with a space (got 'K1 '): report cells are read "
     f"trimmed, as 'K1'",
     f"{PILOT_FILE}: {P} / K1 : code ต้องไม่มีช่องว่างที่ต้นหรือท้าย (พบ 'K1 '): ระบบอ่านช่องในรายงานโดยตัดช่องว่างออก "
     f"เป็น 'K1'"),
    ("pilot-id-number", replace(PILOT_FILE, f"pilot_id: {P}", "pilot_id: 0042"),
     f'{PILOT_FILE}: {P}: pilot_id must be non-empty text (read as the number 34): quote it, e.g. "PLT-2548-003"',
     f'{PILOT_FILE}: {P}: pilot_id ต้องเป็นข้อความที่ไม่ว่าง (YAML อ่านเป็นตัวเลข 34): ให้ใส่เครื่องหมายคำพูด '
     f'เช่น "PLT-2548-003"'),
    ("kpi-code-number", replace(PILOT_FILE, "code: K2", "code: 2"),
     f'{PILOT_FILE}: {P} / KPI #2: code must be non-empty text (read as the number 2): quote it, e.g. "K1"',
     f'{PILOT_FILE}: {P} / KPI #2: code ต้องเป็นข้อความที่ไม่ว่าง (YAML อ่านเป็นตัวเลข 2): ให้ใส่เครื่องหมายคำพูด '
     f'เช่น "K1"'),
    ("name-40000", replace("agencies.yaml", "name_th: กรมการปกครอง", "name_th: " + "ก" * 40000),
     "agencies.yaml: 15001: name_th must be at most 500 characters (got 40,000)",
     "agencies.yaml: 15001: name_th ต้องยาวไม่เกิน 500 ตัวอักษร (พบ 40,000 ตัวอักษร)"),
    # "5 digits, always quoted" (pilot-registry.md): 03009 unquoted is text to YAML 1.1, which took it
    # without a word, but the number 3009 to a YAML 1.2 tool.
    ("agency-code-unquoted", replace("agencies.yaml", '{code: "03009"', "{code: 03009"),
     f"agencies.yaml: 03009: {UNQUOTED}", f"agencies.yaml: 03009: {UNQUOTED_TH}"),
    ("pilot-agency-code-unquoted", replace(PILOT_FILE, '{code: "03009", role: lead}', "{code: 03009, role: lead}"),
     f"{PILOT_FILE}: {P}: {UNQUOTED}", f"{PILOT_FILE}: {P}: {UNQUOTED_TH}"),
    # A number YAML reads as text: 6e1 (YAML 1.1 wants 6.0e+1), a quoted "20".
    ("weight-exponent", replace(PILOT_FILE, "    weight: 60\n", "    weight: 6e1\n"),
     f"{PILOT_FILE}: {P} / K1: weight must be a positive number: YAML read '6e1' as text, not a number: write it 60 "
     f"(a plain number, no quotes)",
     f"{PILOT_FILE}: {P} / K1: weight ต้องเป็นจำนวนบวก: YAML อ่าน '6e1' เป็นข้อความ ไม่ใช่ตัวเลข: ให้เขียนเป็น 60 "
     f"(ตัวเลขธรรมดา ไม่ใส่เครื่องหมายคำพูด)"),
    ("threshold-exponent", replace(PILOT_FILE, "2548: [20, 30, 40, 50, 60]", "2548: [20, 30, 4e1, 50, 60]"),
     f"{PILOT_FILE}: {P} / K1: thresholds for 2548 must be five numbers: YAML read '4e1' as text, not a number: "
     f"write it 40 (a plain number, no quotes)",
     f"{PILOT_FILE}: {P} / K1: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า: YAML อ่าน '4e1' เป็นข้อความ ไม่ใช่ตัวเลข: "
     f"ให้เขียนเป็น 40 (ตัวเลขธรรมดา ไม่ใส่เครื่องหมายคำพูด)"),
    ("threshold-quoted", replace(PILOT_FILE, "2548: [100, 200, 300, 400, 500]", '2548: ["1e2", 200, 300, 400, 500]'),
     f"{PILOT_FILE}: {P} / K2: thresholds for 2548 must be five numbers: YAML read '1e2' as text, not a number: "
     f"write it 100 (a plain number, no quotes)",
     f"{PILOT_FILE}: {P} / K2: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า: YAML อ่าน '1e2' เป็นข้อความ ไม่ใช่ตัวเลข: "
     f"ให้เขียนเป็น 100 (ตัวเลขธรรมดา ไม่ใส่เครื่องหมายคำพูด)"),
    # A year with no list, or a single number: refused as not five numbers (it once crashed the loader).
    ("threshold-year-empty", replace(PILOT_FILE, "2548: [20, 30, 40, 50, 60]", "2548:"),
     f"{PILOT_FILE}: {P} / K1: thresholds for 2548 must be five numbers",
     f"{PILOT_FILE}: {P} / K1: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า"),
    ("threshold-year-one-number", replace(PILOT_FILE, "2548: [20, 30, 40, 50, 60]", "2548: 5"),
     f"{PILOT_FILE}: {P} / K1: thresholds for 2548 must be five numbers",
     f"{PILOT_FILE}: {P} / K1: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า"),
    # Unquoted but not five digits: the form is its fault, not the quotes (reviewer RV11 F5).
    ("pilot-agency-code-letters", replace(PILOT_FILE, '{code: "20004", role: advisory}', "{code: ABCDE, role: advisory}"),
     f"{PILOT_FILE}: {P}: agency code must be a quoted 5-digit string, e.g. \"03009\" (got 'ABCDE')",
     f"{PILOT_FILE}: {P}: รหัสหน่วยงานต้องเป็นตัวเลข 5 หลักในเครื่องหมายคำพูด เช่น \"03009\" (พบ 'ABCDE')"),
    # A quoted weight that, written plainly, would still be refused: the rule, not "write it -60".
    ("weight-quoted-negative", replace(PILOT_FILE, "    weight: 60\n", '    weight: "-60"\n'),
     f"{PILOT_FILE}: {P} / K1: weight must be a positive number: YAML read '-60' as text, not a number: write a plain "
     f"number (no quotes) above 0 and at most 100, with at most 4 decimal places",
     f"{PILOT_FILE}: {P} / K1: weight ต้องเป็นจำนวนบวก: YAML อ่าน '-60' เป็นข้อความ ไม่ใช่ตัวเลข: ให้เขียนเป็นตัวเลขธรรมดา "
     f"(ไม่ใส่เครื่องหมายคำพูด) ที่มากกว่า 0 แต่ไม่เกิน 100 และมีทศนิยมไม่เกิน 4 ตำแหน่ง"),
    ("threshold-word", replace(PILOT_FILE, "2548: [20, 30, 40, 50, 60]", "2548: [20, 30, forty, 50, 60]"),
     f"{PILOT_FILE}: {P} / K1: thresholds for 2548 must be five numbers: YAML read 'forty' as text, not a number",
     f"{PILOT_FILE}: {P} / K1: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า: YAML อ่าน 'forty' เป็นข้อความ ไม่ใช่ตัวเลข"),
]


def tree(root: Path) -> dict[str, str]:
    """Every file under root (the warehouse, its files, the inbox, out/) and its bytes' hash."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "registry" not in p.relative_to(root).parts}


@pytest.mark.parametrize("change, line, line_th", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_run_stops_and_the_warehouse_is_unchanged(scenario_copy, change, line, line_th):
    registry, inbox = scenario_copy
    root = registry.parent
    # A file waiting in the inbox, as on a real night: it must not be read, filed away or quarantined.
    (inbox / "late.csv").write_bytes((inbox / "processed" / "a_lead_q1.csv").read_bytes())
    change(registry)
    before = tree(root)
    assert (root / "wh.duckdb").is_file()
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 4, result.output
    assert result.stderr == f"{EN}{line}\n{TH}{line_th}\n"
    assert result.stdout == ""
    assert tree(root) == before


@pytest.mark.parametrize("change, line, line_th", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_stops(tmp_path, change, line, line_th):
    registry, _ = make_scenario(tmp_path)
    change(registry)
    result = CliRunner().invoke(main, ["check", str(CLEAN), "--registry", str(registry), "--as-of", AS_OF])
    assert result.exit_code == 4, result.output
    assert (result.stdout, result.stderr) == ("", f"{EN}{line}\n{TH}{line_th}\n")


def _two_problems(registry: Path) -> None:
    """K1's weight 60 -> 50 (the weights add up to 90), and a right-to-left override in the pilot's
    name_en, which every message quotes escaped (repr), never as the character itself."""
    replace(PILOT_FILE, "    weight: 60\n", "    weight: 50\n")(registry)
    replace(PILOT_FILE, "name_en: One-stop e-citizen service", 'name_en: "One-stop \\u202e service"')(registry)


NAME_EN = "name_en must not hold control, bidi or line-separator characters (got 'One-stop \\u202e service')"
NAME_TH = ("name_en ต้องไม่มีอักขระควบคุม อักขระกำหนดทิศทางข้อความ (bidi) หรืออักขระแบ่งบรรทัด "
           "(พบ 'One-stop \\u202e service')")


def test_several_problems_are_said_in_english_then_thai(scenario_copy):
    registry, inbox = scenario_copy
    root = registry.parent
    _two_problems(registry)
    before = tree(root)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 4, result.output
    assert result.stderr == (
        "pilotkpi: broken registry (2 problems), nothing was written:\n"
        f"  - {PILOT_FILE}: {P}: {NAME_EN}\n"
        f"  - {PILOT_FILE}: {P}: KPI weights must add up to 100 (they add up to 90)\n"
        "pilotkpi: ทะเบียนโครงการไม่ถูกต้อง (2 ข้อ) จึงไม่ได้บันทึกข้อมูลใด ๆ:\n"
        f"  - {PILOT_FILE}: {P}: {NAME_TH}\n"
        f"  - {PILOT_FILE}: {P}: weight ของตัวชี้วัดรวมกันต้องเท่ากับ 100 (รวมได้ 90)\n")
    assert "\u202e" not in result.stderr
    assert result.stdout == ""
    assert tree(root) == before


def test_check_as_json_gives_a_refusal_document(tmp_path):
    registry, _ = make_scenario(tmp_path)
    _two_problems(registry)
    result = CliRunner().invoke(main, ["check", str(CLEAN), "--registry", str(registry), "--as-of", AS_OF,
                                       "--format", "json"])
    assert result.exit_code == 4, result.output
    assert json.loads(result.stdout) == {
        "status": "refused", "reason": "broken_registry",
        "message_en": "broken registry, nothing was written",
        "message_th": "ทะเบียนโครงการไม่ถูกต้อง จึงไม่ได้บันทึกข้อมูลใด ๆ",
        "problems": [
            {"file": PILOT_FILE, "subject": P, "rule_en": NAME_EN, "rule_th": NAME_TH},
            {"file": PILOT_FILE, "subject": P, "rule_en": "KPI weights must add up to 100 (they add up to 90)",
             "rule_th": "weight ของตัวชี้วัดรวมกันต้องเท่ากับ 100 (รวมได้ 90)"},
        ]}
    assert "\u202e" not in result.stdout  # the value quoted escaped, in the JSON text too
    assert result.stderr.startswith("pilotkpi: broken registry (2 problems), nothing was written:\n")


def test_check_as_json_refuses_a_threshold_year_with_no_list(tmp_path):
    """`2548:` with nothing after it: a refusal document naming the rule, not a traceback."""
    registry, _ = make_scenario(tmp_path)
    replace(PILOT_FILE, "2548: [20, 30, 40, 50, 60]", "2548:")(registry)
    result = CliRunner().invoke(main, ["check", str(CLEAN), "--registry", str(registry), "--as-of", AS_OF,
                                       "--format", "json"])
    assert result.exit_code == 4, result.output
    assert json.loads(result.stdout) == {
        "status": "refused", "reason": "broken_registry",
        "message_en": "broken registry, nothing was written",
        "message_th": "ทะเบียนโครงการไม่ถูกต้อง จึงไม่ได้บันทึกข้อมูลใด ๆ",
        "problems": [{"file": PILOT_FILE, "subject": f"{P} / K1", "rule_en": "thresholds for 2548 must be five numbers",
                      "rule_th": "thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า"}]}


def test_an_explicitly_tagged_agency_code_is_taken(scenario_copy):
    """`code: !!str 03009` is text to every YAML reader (reviewer RV11 F5): the night runs as with
    "03009" quoted, and its figures are the same."""
    registry, inbox = scenario_copy
    root = registry.parent
    before = figures(root / "wh.duckdb")
    replace("agencies.yaml", '{code: "03009"', "{code: !!str 03009")(registry)
    replace(PILOT_FILE, '{code: "03009", role: lead}', "{code: !!str 03009, role: lead}")(registry)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert figures(root / "wh.duckdb") == before


def test_dates_in_quotes_are_the_same_dates(scenario_copy):
    """start: "2004-10-01" is read as the date it writes (docs/registry.md): the night's figures are
    those of the unquoted dates, and the warehouse holds the dates."""
    import duckdb
    from datetime import date

    registry, inbox = scenario_copy
    root = registry.parent
    before = figures(root / "wh.duckdb")
    replace(PILOT_FILE, "start: 2004-10-01", 'start: "2004-10-01"')(registry)
    replace(PILOT_FILE, "end: 2005-09-30", "end: '2005-09-30'")(registry)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert figures(root / "wh.duckdb") == before
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT start_date, end_date FROM registry.pilots WHERE pilot_id = ?", [P]).fetchall() == [
            (date(2004, 10, 1), date(2005, 9, 30))]
