"""Reminder letters' document numbers over real nights (pilot-registry.md: <letter_prefix>/<running
number>; kpis/letters/register.py): one running number through the calendar year, taken from the
register of letters drafted, stable for a re-run of the same as-of date, never a letter's citation
of itself (verifier VF, K3: the number was the letter's place in the night's batch, so 12005's
letter of 2006-09-28 was นร 1200/4 and cited นร 1200/4 of 2006-08-30).

tests/data/registry/valid with a secretariat (letter_prefix นร 1200) and an empty inbox:
PLT-2548-003 (open, from 2004-10-01, 30 report days): lead 03009, secondary 15001, supporting
11002, advisory 20004 (never reminded). Its 2548-Q1 ends 2004-12-31 and is due 2005-01-30.
PLT-2548-001 (restricted, from 2005-01-01, 45 days): lead 07004, secondary 07001; its first
quarter, 2548-Q2, ends 2005-03-31, due 2005-05-15.

- night 1, 2005-02-28: Q1 is 29 days overdue, level 1: 03009, 11002, 15001 get /1, /2, /3.
- night 2, 2005-03-01: 30 days, level 2 (the stage rose). 15001's Q1 report came in: 2 letters,
  03009 /4 citing /1 of 2005-02-28, 11002 /5 citing /2 of 2005-02-28.
- night 2 again (a file of 03009 for Q1, quarantined: its letter now names a rejected file, the
  letters are written again): still /4 and /5, still citing /1 and /2.
- night 3, 2006-01-05, a new numbering year: 03009 (PLT-2548-003 Q2..Q4 2548 and Q1, all level 3)
  /1, 07001 /2 and 07004 /3 (restricted PLT-2548-001 2548-Q2..Q4, by id only), 11002 /4, 15001
  (Q2..Q4, which no earlier letter listed: cites nothing) /5. 03009 cites its first second
  reminder, /4 of 2005-03-01; 11002 cites /5 of 2005-03-01.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.cases import built_warehouse
from kpis.letters import build_letters, write_letters

HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"
SECRETARIAT = "name_th: สำนักงานคณะกรรมการพัฒนาระบบราชการ\nname_en: Office of the Public Sector Development Commission\n" \
              "letter_prefix: นร 1200\n"
THAI = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def _night(root: Path, as_of: str) -> dict:
    """Run the night; what OUT/reminders holds: per agency, the Thai letter's number and citation,
    the English letter's number, and reminders.csv's and the register's numbers."""
    res = CliRunner().invoke(main, ["run", "--registry", str(root / "registry"), "--inbox", str(root / "inbox"),
                                    "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                                    "--as-of", as_of])
    assert res.exit_code == 0, res.output
    folder = root / "out" / "reminders"
    seen = {}
    for path in sorted(folder.glob("*.th.html")):
        th = path.read_text(encoding="utf-8")
        en = (folder / path.name.replace(".th.", ".en.")).read_text(encoding="utf-8")
        docno = re.search(r'data-part="docno">ที่ ([^<]*)</div>', th).group(1).translate(THAI)
        ref = re.search(r'data-part="reference">.*? ที่ ([^<]*) ลงวันที่ ([^<]*)</span>', th)
        seen[path.name[:5]] = {
            "no": docno, "cites": ref.group(1).translate(THAI) if ref else None,
            "en": re.search(r'data-part="docno">Ref\. ([^<]*)</div>', en).group(1), "text": th + en}
    merge = csv.DictReader(io.StringIO((folder / "reminders.csv").read_text(encoding="utf-8-sig")))
    register = list(csv.DictReader(io.StringIO((folder / "register.csv").read_text(encoding="utf-8-sig"))))
    merged = set()
    for row in merge:
        code = row["agency_code"].removeprefix('="').removesuffix('"')  # 03009 is written ="03009" for Excel
        merged.add(code)
        mine = {r["document_no"] for r in register if r["issued_on"] == as_of and r["agency_code"] == code}
        # The letter, its English counterpart, the mail merge and the register carry the same number.
        assert seen[code]["no"] == seen[code]["en"] == row["document_no"], row
        assert mine == {row["document_no"]}, (code, mine)
    assert {r["agency_code"] for r in register if r["issued_on"] == as_of} == merged == set(seen)
    for code, letter in seen.items():
        assert letter["cites"] != letter["no"], (as_of, code)  # never a citation of itself
    return {code: (x["no"], x["cites"]) for code, x in seen.items()} | {"_text": {c: x["text"] for c, x in seen.items()}}


@pytest.fixture(scope="module")
def nights(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("letter-numbers")
    shutil.copytree(Path(__file__).parent / "data" / "registry" / "valid", root / "registry")
    (root / "registry" / "secretariat.yaml").write_text(SECRETARIAT, encoding="utf-8")
    inbox = root / "inbox"
    inbox.mkdir()
    seen = {"1": _night(root, "2005-02-28")}
    (inbox / "sec_q1.csv").write_text(
        f"{HEADER}\nPLT-2548-003,15001,2548-Q1,2005-02-28,budget,ACT-1,5,,500000,100000,own,\n", encoding="utf-8")
    seen["2"] = _night(root, "2005-03-01")
    (inbox / "lead_q1_bad.csv").write_text(
        f"{HEADER}\nPLT-2548-003,03009,2548-Q1,2005-03-01,budget,ACT-9,3,,100000,150000,support_contribution,\n",
        encoding="utf-8")
    seen["2 again"] = _night(root, "2005-03-01")
    seen["3"] = _night(root, "2006-01-05")
    register = list(csv.DictReader(io.StringIO((root / "out" / "reminders" / "register.csv")
                                               .read_text(encoding="utf-8-sig"))))
    return seen, register


def _numbers(night: dict) -> dict:
    return {k: v for k, v in night.items() if k != "_text"}


def test_numbers_run_through_the_year_and_a_rerun_keeps_them(nights):
    seen, _ = nights
    assert _numbers(seen["1"]) == {"03009": ("นร 1200/1", None), "11002": ("นร 1200/2", None),
                                   "15001": ("นร 1200/3", None)}
    # A day later the stage rose: the year's next numbers, each citing its agency's first reminder.
    assert _numbers(seen["2"]) == {"03009": ("นร 1200/4", "นร 1200/1"), "11002": ("นร 1200/5", "นร 1200/2")}
    # The same date again, its letters rewritten (03009's now names its rejected file): same numbers.
    assert "lead_q1_bad.csv" in seen["2 again"]["_text"]["03009"]
    assert "lead_q1_bad.csv" not in seen["2"]["_text"]["03009"]
    assert _numbers(seen["2 again"]) == _numbers(seen["2"])
    # A new calendar year: numbering starts again from 1; the citations are last year's letters.
    assert _numbers(seen["3"]) == {"03009": ("นร 1200/1", "นร 1200/4"), "07001": ("นร 1200/2", None),
                                   "07004": ("นร 1200/3", None), "11002": ("นร 1200/4", "นร 1200/5"),
                                   "15001": ("นร 1200/5", None)}
    assert "ลงวันที่ ๑ มีนาคม ๒๕๔๘" in seen["3"]["_text"]["03009"]


def test_the_register_holds_each_number_once_a_year(nights):
    _, register = nights
    letters = {(r["issued_on"], r["agency_code"], r["document_no"]) for r in register}
    assert sorted(letters) == [
        ("2005-02-28", "03009", "นร 1200/1"), ("2005-02-28", "11002", "นร 1200/2"), ("2005-02-28", "15001", "นร 1200/3"),
        ("2005-03-01", "03009", "นร 1200/4"), ("2005-03-01", "11002", "นร 1200/5"),
        ("2006-01-05", "03009", "นร 1200/1"), ("2006-01-05", "07001", "นร 1200/2"), ("2006-01-05", "07004", "นร 1200/3"),
        ("2006-01-05", "11002", "นร 1200/4"), ("2006-01-05", "15001", "นร 1200/5")]
    by_year = [(day[:4], no) for day, _, no in letters]
    assert len(by_year) == len(set(by_year))


def test_restricted_pilot_still_by_id_and_period_only(nights):
    seen, register = nights
    for code in ("07001", "07004"):
        text = seen["3"]["_text"][code]
        assert "PLT-2548-001" in text and "ระบบบริหารการเงินการคลังภาครัฐแบบอิเล็กทรอนิกส์" not in text
        assert "Government fiscal management information system" not in text
    assert {(r["agency_code"], r["period"]) for r in register if r["pilot_id"] == "PLT-2548-001"} == {
        (c, p) for c in ("07001", "07004") for p in ("2548-Q2", "2548-Q3", "2548-Q4")}


# --- the register edited by hand, or missing (no night needed) -------------------------------------

from tests.test_letters import GIVEN  # noqa: E402  the two-agency warehouse: 11002 and 15001


def _batch(as_of: date, given: dict = GIVEN):
    con = built_warehouse(given, as_of)
    try:
        return build_letters(con, as_of)
    finally:
        con.close()


def _register(folder: Path) -> list[tuple]:
    rows = csv.DictReader(io.StringIO((folder / "register.csv").read_text(encoding="utf-8-sig")))
    return sorted({(r["issued_on"], r["agency_code"], r["document_no"]) for r in rows})


def test_an_agency_joining_a_rerun_takes_the_next_number_and_the_others_keep_theirs(tmp_path):
    """15001 alone on 2005-03-15 is /1; the date again with 11002 too: 15001 keeps /1, 11002 (before
    it in the batch) takes /2. The old numbering by place gave 11002 /1 and moved 15001 to /2."""
    one = _batch(date(2005, 3, 15))
    only = type(one)(one.as_of, one.sender, [x for x in one.letters if x.agency_code == "15001"])
    write_letters(only, tmp_path)
    write_letters(_batch(date(2005, 3, 15)), tmp_path)
    assert _register(tmp_path / "reminders") == [("2005-03-15", "11002", "นร 1200/2"), ("2005-03-15", "15001", "นร 1200/1")]


def test_without_a_register_numbers_start_from_1_and_a_hand_edited_one_is_read_safely(tmp_path):
    from kpis.letters.register import RegisterError

    folder = tmp_path / "reminders"
    write_letters(_batch(date(2005, 3, 15)), tmp_path)
    assert _register(folder) == [("2005-03-15", "11002", "นร 1200/1"), ("2005-03-15", "15001", "นร 1200/2")]
    # A row edited by hand: skipped for numbering, kept in the file; a row of another prefix does
    # not count; the next date follows the highest number of the year with this prefix.
    path = folder / "register.csv"
    path.write_text(path.read_text(encoding="utf-8-sig") + "15/03/2005,15001,นร 1200/99,2,P-OPEN,2548-Q1\r\n"
                    "2005-03-14,15001,นร 9999/50,2,P-OPEN,2548-Q1\r\n"
                    "2005-03-14,11002,นร 1200/7,2,P-OPEN,2548-Q1\r\n", encoding="utf-8-sig")
    write_letters(_batch(date(2005, 3, 16)), tmp_path)
    assert _register(folder) == [
        ("15/03/2005", "15001", "นร 1200/99"), ("2005-03-14", "11002", "นร 1200/7"), ("2005-03-14", "15001", "นร 9999/50"),
        ("2005-03-15", "11002", "นร 1200/1"), ("2005-03-15", "15001", "นร 1200/2"),
        ("2005-03-16", "11002", "นร 1200/8"), ("2005-03-16", "15001", "นร 1200/9")]
    # A register of which no row reads is refused, not numbered from 1 again (nor overwritten).
    path.write_text("วันที่,เลขที่\r\n15/03/2548,นร 1200/1\r\n", encoding="utf-8-sig")
    with pytest.raises(RegisterError, match="none reads"):
        write_letters(_batch(date(2005, 3, 17)), tmp_path)
    assert path.read_bytes().decode("utf-8-sig") == "วันที่,เลขที่\r\n15/03/2548,นร 1200/1\r\n"
    path.write_bytes("issued_on,เลข\r\n".encode("cp874"))
    with pytest.raises(RegisterError, match="not UTF-8"):
        write_letters(_batch(date(2005, 3, 17)), tmp_path)
    # Moved away: no register, numbers start from 1 again.
    path.unlink()
    write_letters(_batch(date(2005, 3, 17)), tmp_path)
    assert _register(folder) == [("2005-03-17", "11002", "นร 1200/1"), ("2005-03-17", "15001", "นร 1200/2")]
