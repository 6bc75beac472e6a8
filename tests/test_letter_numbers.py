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


def _night(root: Path, as_of: str, folder: str = "", args: list | None = None) -> dict:
    """Run the night (or `args`); what OUT/reminders (or its subfolder `folder`) holds: per agency,
    the Thai letter's number and citation, the English letter's number, and reminders.csv's and
    the register's numbers (the rows of the date drafted by this run: not the withdrawn ones)."""
    res = CliRunner().invoke(main, args or ["run", "--registry", str(root / "registry"), "--inbox", str(root / "inbox"),
                                            "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                                            "--as-of", as_of])
    assert res.exit_code == 0, res.output
    return _seen(root, as_of, folder)


def _seen(root: Path, as_of: str, folder: str = "") -> dict:
    register_path = root / "out" / "reminders" / "register.csv"
    folder = root / "out" / "reminders" / folder
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
    register = [r for r in csv.DictReader(io.StringIO(register_path.read_text(encoding="utf-8-sig")))
                if r.get("status") != "withdrawn"]
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


# --- RV7 F2 and F3: a number once written is never given again; a back-dated batch; one writer -----

def _registry(root: Path, extensions: dict[str, str]) -> None:
    """tests/data/registry/valid with the secretariat, and PLT-2548-003's agencies given
    `no_reminders_until` (an agreed extension: no reminder while the as-of date is on or before it)."""
    shutil.rmtree(root / "registry", ignore_errors=True)
    shutil.copytree(Path(__file__).parent / "data" / "registry" / "valid", root / "registry")
    (root / "registry" / "secretariat.yaml").write_text(SECRETARIAT, encoding="utf-8")
    pilot = root / "registry" / "pilots" / "PLT-2548-003.yaml"
    text = pilot.read_text(encoding="utf-8")
    for code, until in extensions.items():
        text = text.replace(f'{{code: "{code}", role: ', f'{{code: "{code}", no_reminders_until: {until}, role: ')
    pilot.write_text(text, encoding="utf-8")


def _rows(root: Path) -> list[tuple]:
    rows = csv.DictReader(io.StringIO((root / "out" / "reminders" / "register.csv").read_text(encoding="utf-8-sig")))
    return sorted({(r["issued_on"], r["agency_code"], r["document_no"], r.get("status")) for r in rows})


def test_a_letter_a_rerun_withdraws_keeps_its_number_and_stays_citable(tmp_path, prefect_harness):
    """RV7 F2, over real nights. 2005-02-28 (PLT-2548-003 2548-Q1 29 days overdue, level 1):
    03009 /1, 11002 /2, 15001 /3, all three printed and sent. The date again after 15001 was granted
    an extension to 2005-03-10 (`no_reminders_until`): 03009 /1 and 11002 /2 only; 15001's /3 stays
    in the register, withdrawn. 2005-03-01 (30 days, level 2): the year's high-water mark is 3, so
    03009 /4 (cites /1) and 11002 /5 (cites /2); the old register gave 03009 /3 again, a number
    15001 holds. 2005-03-11 (40 days, level 2, the extension over): 03009 /6 cites /1, 11002 /7
    cites /2, 15001 /8 cites its withdrawn (sent) /3 of 28 February; the old register cited nothing."""
    _registry(tmp_path, {})
    (tmp_path / "inbox").mkdir()
    first = _night(tmp_path, "2005-02-28")
    assert _numbers(first) == {"03009": ("นร 1200/1", None), "11002": ("นร 1200/2", None), "15001": ("นร 1200/3", None)}
    _registry(tmp_path, {"15001": "2005-03-10"})
    again = _night(tmp_path, "2005-02-28")
    assert _numbers(again) == {"03009": ("นร 1200/1", None), "11002": ("นร 1200/2", None)}
    assert _numbers(_night(tmp_path, "2005-03-01")) == {"03009": ("นร 1200/4", "นร 1200/1"),
                                                        "11002": ("นร 1200/5", "นร 1200/2")}
    assert ("2005-02-28", "15001", "นร 1200/3", "withdrawn") in _rows(tmp_path)
    later = _night(tmp_path, "2005-03-11")
    assert _numbers(later) == {"03009": ("นร 1200/6", "นร 1200/1"), "11002": ("นร 1200/7", "นร 1200/2"),
                               "15001": ("นร 1200/8", "นร 1200/3")}
    assert "ลงวันที่ ๒๘ กุมภาพันธ์ ๒๕๔๘" in later["_text"]["15001"]
    assert _rows(tmp_path) == [
        ("2005-02-28", "03009", "นร 1200/1", "drafted"), ("2005-02-28", "11002", "นร 1200/2", "drafted"),
        ("2005-02-28", "15001", "นร 1200/3", "withdrawn"),
        ("2005-03-01", "03009", "นร 1200/4", "drafted"), ("2005-03-01", "11002", "นร 1200/5", "drafted"),
        ("2005-03-11", "03009", "นร 1200/6", "drafted"), ("2005-03-11", "11002", "นร 1200/7", "drafted"),
        ("2005-03-11", "15001", "นร 1200/8", "drafted")]


def test_a_back_dated_batch_takes_the_next_numbers_and_leaves_the_later_letters(tmp_path, prefect_harness):
    """RV7 F2 (a date run again after a later one) and the F3 note (`pilotkpi letters` on a published
    copy older than the night's letters). 03009 and 11002 have an extension to 2005-02-28.
    2005-02-28: 15001 /1 (level 1); the published copy of that night is kept aside. 2005-03-01
    (level 2): 03009 /2, 11002 /3, 15001 /4 citing /1. `pilotkpi letters` on the kept 28 February
    copy: a re-run of 2005-02-28 (15001 keeps /1), written to reminders/2005-02-28/; the old code
    wrote it into reminders/ and removed 03009's and 11002's letters of 1 March as stale. The
    extensions removed, `pilotkpi run --as-of 2005-02-28` again: 15001 keeps /1, and 03009 and
    11002, new to the date, take the year's next numbers /5 and /6 (dated before /2../4: the
    documented reading), again in reminders/2005-02-28/. 2005-03-02 (level 2): 03009 /7 cites /5,
    11002 /8 cites /6, 15001 /9 cites /1."""
    _registry(tmp_path, {"03009": "2005-02-28", "11002": "2005-02-28"})
    (tmp_path / "inbox").mkdir()
    assert _numbers(_night(tmp_path, "2005-02-28")) == {"15001": ("นร 1200/1", None)}
    shutil.copy(tmp_path / "wh.published.duckdb", tmp_path / "feb28.duckdb")
    march = {"03009": ("นร 1200/2", None), "11002": ("นร 1200/3", None), "15001": ("นร 1200/4", "นร 1200/1")}
    assert _numbers(_night(tmp_path, "2005-03-01")) == march
    letters = ["letters", "--warehouse", str(tmp_path / "feb28.duckdb"), "--out", str(tmp_path / "out")]
    assert _numbers(_night(tmp_path, "2005-02-28", "2005-02-28", letters)) == {"15001": ("นร 1200/1", None)}
    assert _numbers(_seen(tmp_path, "2005-03-01")) == march  # the night's letters are left as they are
    _registry(tmp_path, {})
    assert _numbers(_night(tmp_path, "2005-02-28", "2005-02-28")) == {
        "03009": ("นร 1200/5", None), "11002": ("นร 1200/6", None), "15001": ("นร 1200/1", None)}
    assert _numbers(_seen(tmp_path, "2005-03-01")) == march
    assert _numbers(_night(tmp_path, "2005-03-02")) == {
        "03009": ("นร 1200/7", "นร 1200/5"), "11002": ("นร 1200/8", "นร 1200/6"), "15001": ("นร 1200/9", "นร 1200/1")}
    numbers = [(day[:4], no) for day, _, no, _ in _rows(tmp_path)]
    assert len(numbers) == len(set(numbers)) == 9


def test_a_second_writer_of_the_register_waits_for_the_first(tmp_path, monkeypatch):
    """RV7 F3: the night's letters step and `pilotkpi letters` each read, number and rewrite
    register.csv. While another writer holds the lock (a flock on the folder OUT/reminders, as
    `flock out/reminders …` takes it), write_letters waits (nothing written), goes ahead when it is
    released, and gives up after the timeout naming the register and the folder."""
    import fcntl
    import os
    import threading

    from kpis.letters import register

    folder = tmp_path / "reminders"
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = threading.Event()
        worker = threading.Thread(target=lambda: (write_letters(_batch(date(2005, 3, 15)), tmp_path), done.set()))
        worker.start()
        assert not done.wait(1.0), "the second writer did not wait for the lock"
        assert not (folder / "register.csv").exists()
        fcntl.flock(fd, fcntl.LOCK_UN)
        worker.join(30)
        assert done.is_set()
        assert _register(folder) == [("2005-03-15", "11002", "นร 1200/1"), ("2005-03-15", "15001", "นร 1200/2")]
        fcntl.flock(fd, fcntl.LOCK_EX)
        monkeypatch.setattr(register, "LOCK_TIMEOUT", 0.5)
        with pytest.raises(register.RegisterBusy, match=r"register\.csv is being written by another writer: gave up after 0\.5 s waiting for the lock on the folder .*reminders"):
            write_letters(_batch(date(2005, 3, 16)), tmp_path)
        assert _register(folder) == [("2005-03-15", "11002", "นร 1200/1"), ("2005-03-15", "15001", "นร 1200/2")]
    finally:
        os.close(fd)


def test_rv7_sequence_without_a_night(tmp_path):
    """RV7's repro after an old register (no status column: its row reads as drafted) holding
    2005-03-14's /1: 2005-03-15 11002 /2, 15001 /3; the date again with 11002 alone: /2, 15001's /3
    withdrawn; 2005-03-16: 11002 /4, 15001 /5 (the old register gave 11002 นร 1200/3 again)."""
    folder = tmp_path / "reminders"
    folder.mkdir()
    (folder / "register.csv").write_text("issued_on,agency_code,document_no,level,pilot_id,period\r\n"
                                         "2005-03-14,11002,นร 1200/1,2,P-OPEN,2548-Q1\r\n", encoding="utf-8-sig")
    write_letters(_batch(date(2005, 3, 15)), tmp_path)
    one = _batch(date(2005, 3, 15))
    write_letters(type(one)(one.as_of, one.sender, [x for x in one.letters if x.agency_code == "11002"]), tmp_path)
    write_letters(_batch(date(2005, 3, 16)), tmp_path)
    rows = csv.DictReader(io.StringIO((folder / "register.csv").read_text(encoding="utf-8-sig")))
    assert sorted({(r["issued_on"], r["agency_code"], r["document_no"], r.get("status")) for r in rows}) == [
        ("2005-03-14", "11002", "นร 1200/1", "drafted"),
        ("2005-03-15", "11002", "นร 1200/2", "drafted"), ("2005-03-15", "15001", "นร 1200/3", "withdrawn"),
        ("2005-03-16", "11002", "นร 1200/4", "drafted"), ("2005-03-16", "15001", "นร 1200/5", "drafted")]


# --- RV8 F2, F3, F4: hand edits of the register -------------------------------------------------

def _edit(folder: Path, change) -> None:
    """Rewrite register.csv with change(row) applied to each row, as a hand edit would."""
    path = folder / "register.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        change(row)  # in place
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8-sig")


def test_a_row_that_no_longer_reads_keeps_its_number_taken(tmp_path):
    """2005-03-15: 11002 /1, 15001 /2; 15001's level edited to "1st" (the row no longer reads).
    /2 went out on 15001's letter, so 2005-03-16 numbers from /3: 11002 /3, 15001 /4 (before:
    11002 /2 again)."""
    folder = tmp_path / "reminders"
    write_letters(_batch(date(2005, 3, 15)), tmp_path)
    _edit(folder, lambda r: r.update(level="1st") if r["agency_code"] == "15001" else None)
    write_letters(_batch(date(2005, 3, 16)), tmp_path)
    assert [x for x in _register(folder) if x[0] == "2005-03-16"] == [
        ("2005-03-16", "11002", "นร 1200/3"), ("2005-03-16", "15001", "นร 1200/4")]


def test_a_date_after_today_in_the_register_does_not_make_every_night_back_dated(tmp_path):
    """A row dated 2062 (typed for 2026): the next night's letters still go to OUT/reminders, not
    to OUT/reminders/<date>/ as a back-dated batch's (before: every night until 2062)."""
    folder = tmp_path / "reminders"
    write_letters(_batch(date(2005, 3, 15)), tmp_path)
    _edit(folder, lambda r: r.update(issued_on="2062-03-15") if r["agency_code"] == "15001" else None)
    written = write_letters(_batch(date(2005, 3, 16)), tmp_path)
    assert {p.parent for p in written} == {folder}
    assert not (folder / "2005-03-16").exists()


def test_after_a_conflict_a_rerun_keeps_the_number_it_settled_on(tmp_path):
    """15001 alone on 2005-03-15 takes /1; a hand edit gives 11002 of 2005-03-14 /1 too. The date
    again: 15001 gives up /1 for /2; the date again twice: /2 each time (before: /3, /4, a new
    number each re-run, the printed letter no longer matching the register)."""
    folder = tmp_path / "reminders"
    one = _batch(date(2005, 3, 15))
    alone = type(one)(one.as_of, one.sender, [x for x in one.letters if x.agency_code == "15001"])
    write_letters(alone, tmp_path)
    path = folder / "register.csv"
    with path.open("a", encoding="utf-8") as f:
        f.write("2005-03-14,11002,นร 1200/1,1,P-OPEN,2548-Q1,drafted\r\n")
    numbers = []
    for _ in range(3):
        again = _batch(date(2005, 3, 15))
        write_letters(type(again)(again.as_of, again.sender,
                                  [x for x in again.letters if x.agency_code == "15001"]), tmp_path)
        numbers.append([n for d, a, n in _register(folder) if d == "2005-03-15"])
    assert numbers == [["นร 1200/1", "นร 1200/2"]] * 3  # /1 withdrawn, /2 drafted, each time
