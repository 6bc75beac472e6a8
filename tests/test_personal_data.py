"""Personal data (issue 14 item 4): national ID numbers are masked in every text stored or shown.

Check digit (agency-report-v1.md, "Personal data"): d13 = (11 - sum(d_i * (14 - i), i=1..12) mod 11)
mod 10. Worked example, 1-1017-00203-93-0: weights 13..2 on 1,1,0,1,7,0,0,2,0,3,9,3 give
13+12+0+10+63+0+0+12+0+12+27+6 = 155; 155 mod 11 = 1; (11 - 1) mod 10 = 0, the last digit: valid.
The same 12 digits ending in 1 are not an ID and stay as written.

Unit properties with hypothesis, then one nightly run (tests/test_flow.py's registry, as of
2005-05-15) over an inbox holding 1,000 generated IDs in every field and format, after which
no output holds any of them in any written form.
"""
from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.cli import main
from warehouse.personal import MASK, mask_national_ids
from tests.prefect_reads import summary_artifacts_of
from tests.test_flow import HEADER, make_scenario, run_cli

THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
TO_ASCII = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def check_digit(d12: list[int]) -> int:
    return (11 - sum(d * (13 - i) for i, d in enumerate(d12)) % 11) % 10


def test_the_worked_example():
    assert check_digit([1, 1, 0, 1, 7, 0, 0, 2, 0, 3, 9, 3]) == 0
    assert mask_national_ids("ติดต่อ 1-1017-00203-93-0") == (f"ติดต่อ {MASK}", True)
    assert mask_national_ids("ติดต่อ 1-1017-00203-93-1") == ("ติดต่อ 1-1017-00203-93-1", False)


def grouped(digits: str, sep: str) -> str:
    """The 1-2345-67890-12-1 grouping."""
    return sep.join((digits[0], digits[1:5], digits[5:10], digits[10:12], digits[12]))


twelve = st.lists(st.integers(0, 9), min_size=12, max_size=12)
separators = st.lists(st.sampled_from(["", "-", " "]), min_size=12, max_size=12)
# Context around an ID: words, punctuation and spaces, never a digit next to the ID (that would
# make it part of a longer number, which is not an ID).
context = st.text(alphabet=st.sampled_from(list("abcXYZ กขคติดต่อ.,:;()/#_")), max_size=12)


@st.composite
def written(draw, valid: bool = True) -> tuple[str, str]:
    """(the 13 digits, a written form: any single separators, ASCII or Thai digits, mixed)."""
    d12 = draw(twelve)
    last = check_digit(d12) if valid else (check_digit(d12) + draw(st.integers(1, 9))) % 10
    digits = "".join(map(str, d12)) + str(last)
    seps = draw(separators)
    text = digits[0] + "".join(s + d for s, d in zip(seps, digits[1:]))
    script = draw(st.sampled_from(["ascii", "thai", "mixed"]))
    if script == "thai":
        text = text.translate(THAI)
    elif script == "mixed":
        flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
        text = "".join(c.translate(THAI) if f else c for c, f in zip(text, flips))
    return digits, text


@settings(max_examples=400, deadline=None)
@given(written(), context, context)
def test_a_valid_id_is_masked_in_any_written_form(id_, before, after):
    _, form = id_
    assert mask_national_ids(f"{before}{form}{after}") == (f"{before}{MASK}{after}", True)


@settings(max_examples=400, deadline=None)
@given(written(valid=False), context, context)
def test_an_invalid_check_digit_is_never_masked(id_, before, after):
    _, form = id_
    text = f"{before}{form}{after}"
    assert mask_national_ids(text) == (text, False)


@settings(max_examples=300, deadline=None)
@given(written(), st.integers(0, 9), st.sampled_from(["-", " "]))
def test_a_digit_before_the_id_does_not_hide_it(id_, digit, sep):
    """'7-1-1017-00203-93-0': the 13 digits from the 7 are tried first; when they fail the check,
    the ID that starts one digit later is still found (when they pass, the first 12 digits of
    the ID are masked with them: either way the ID is not readable)."""
    digits, form = id_
    masked, found = mask_national_ids(f"ref {digit}{sep}{form}")
    assert found and digits not in re.sub(r"[- ]", "", masked.translate(TO_ASCII))


@given(written(), st.text(alphabet="๐๑๒๓๔๕๖๗๘๙", min_size=1, max_size=4))
def test_thai_digits_outside_the_id_stay_as_written(id_, thai_number):
    _, form = id_
    assert mask_national_ids(f"{form} ห้อง {thai_number}")[0] == f"{MASK} ห้อง {thai_number}"


# ---- end to end: 1,000 IDs in one inbox --------------------------------------------------------

P = "PLT-2548-003"


class Ids:
    """Generated IDs (seeded), each written in one of five forms in turn."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used: list[str] = []

    def _digits(self, valid: bool) -> str:
        # A Thai ID's first digit is 1 to 8 (the kind of person): never a leading zero.
        d12 = [self.rng.randrange(1, 9)] + [self.rng.randrange(10) for _ in range(11)]
        last = check_digit(d12) if valid else (check_digit(d12) + self.rng.randrange(1, 10)) % 10
        return "".join(map(str, d12)) + str(last)

    def next(self) -> str:
        digits = self._digits(True)
        while digits in self.used:  # 1,000 of 10^12: a clash is all but impossible, still excluded
            digits = self._digits(True)
        self.used.append(digits)
        form = len(self.used) % 5
        if form == 1:
            return grouped(digits, "-")                    # 1-2345-67890-12-1
        if form == 2:
            return grouped(digits, " ")                    # 1 2345 67890 12 1
        if form == 3:                                      # arbitrary single separators
            return digits[0] + "".join(self.rng.choice(["", "-", " "]) + d for d in digits[1:])
        if form == 4:
            return grouped(digits, "-").translate(THAI)    # Thai digits
        return digits

    def invalid(self) -> str:
        return self._digits(False)


def budget_row(item: str, note: str) -> list[str]:
    """line_type .. note of a lead/secondary budget line: layer 5, 1,000 allocated, 100 disbursed."""
    return ["budget", item, "5", "", "1000", "100", "own", note]


def build_inbox(inbox: Path, ids: Ids) -> tuple[list[str], int]:
    """Three accepted files with 800 IDs in item codes and notes, 40 quarantined ones with 200 in
    their identity fields and names. Returns (invalid IDs written, number of files)."""
    invalid = [ids.invalid() for _ in range(6)]
    # CSV, lead 03009 2548-Q1: 150 rows x (item code + note) = 300 IDs, and two invalid ones.
    rows = [[P, "03009", "2548-Q1", "2005-01-20", *budget_row(f"A{n}/{ids.next()}", f"ติดต่อ {ids.next()} ด่วน")]
            for n in range(150)]
    rows += [[P, "03009", "2548-Q1", "2005-01-20", *budget_row(f"B{n}", f"ref {bad}")] for n, bad in
             enumerate(invalid[:2])]
    (inbox / "a_lead_q1.csv").write_text("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    # XLSX, secondary 15001 2548-Q1: 150 rows = 300 IDs; ten notes are number cells.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "report"
    ws.append(HEADER.split(","))
    for n in range(150):
        note: object = f"โทร {ids.next()}"
        if n < 10:
            note = int(ids.used[-1])  # the same ID's digits, as a number cell
        ws.append([P, "15001", "2548-Q1", "2005-02-15", *budget_row(f"A{n}/{ids.next()}", "")[:-1], note])
    for n, bad in enumerate(invalid[2:4]):
        ws.append([P, "15001", "2548-Q1", "2005-02-15", *budget_row(f"B{n}", f"ref {grouped(bad, '-')}")])
    wb.save(inbox / "b_sec_q1.xlsx")
    # JSON, lead 03009 2548-Q2: 100 lines = 200 IDs.
    lines = [dict(zip(("line_type", "item_code", "layer", "actual", "allocated_thb", "disbursed_thb",
                       "funding_source", "note"), budget_row(f"A{n}/{ids.next()}", f"{ids.next()} ผู้ประสานงาน")))
             for n in range(100)]
    lines += [dict(zip(("line_type", "item_code", "layer", "actual", "allocated_thb", "disbursed_thb",
                        "funding_source", "note"), budget_row(f"B{n}", f"ref {bad.translate(THAI)}")))
              for n, bad in enumerate(invalid[4:])]
    for line in lines:
        del line["actual"]
    (inbox / "c_lead_q2.json").write_text(json.dumps({
        "pilot_id": P, "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20",
        "lines": lines}, ensure_ascii=False), encoding="utf-8")
    # 40 quarantined files, CSV / JSON / XLSX in turn: 5 IDs each (name, pilot, agency, period,
    # submitted_on as written) = 200.
    for n in range(40):
        name_id = ids.next()
        identity = [f"PLT {ids.next()}", ids.next(), ids.next(), ids.next()]
        ext = ("csv", "json", "xlsx")[n % 3]
        path = inbox / f"q{n:02d}_{name_id}.{ext}"
        line = budget_row("A1", "")
        if ext == "csv":
            path.write_text(f"{HEADER}\n{','.join(identity + line)}\n", encoding="utf-8")
        elif ext == "json":
            path.write_text(json.dumps(dict(zip(("pilot_id", "agency_code", "period", "submitted_on"), identity))
                                       | {"lines": [{"line_type": "budget", "item_code": "A1", "layer": 5,
                                                     "allocated_thb": 1000, "disbursed_thb": 100,
                                                     "funding_source": "own"}]}, ensure_ascii=False),
                            encoding="utf-8")
        else:
            wb = openpyxl.Workbook()
            wb.active.append(HEADER.split(","))
            wb.active.append(identity + line)
            wb.save(path)
    assert len(ids.used) == 1000  # 300 + 300 + 200 + 200
    return invalid, 43


def api_logs() -> list[str]:
    """Every log line the session's Prefect server holds (other tests' lines hold no generated ID)."""
    from prefect.client.orchestration import get_client

    lines: list[str] = []
    with get_client(sync_client=True) as client:
        while page := client.read_logs(limit=200, offset=len(lines)):
            lines += [log.message for log in page]
    return lines


@pytest.fixture(scope="module")
def pdpa_run(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("pdpa")
    registry, inbox = make_scenario(root)
    for f in inbox.iterdir():
        f.unlink()
    ids = Ids(2549)
    invalid, files = build_inbox(inbox, ids)
    # One more ID, in the name of a dangling link: refused, and named in a WARNING log line.
    link_id = ids.next()
    (inbox / f"link_{link_id}.csv").symlink_to(root / "nowhere.csv")
    code, output = run_cli(registry, inbox, root)
    for fmt in ("csv", "xlsx"):
        result = CliRunner().invoke(main, ["export", str(root / "export" / fmt), "--format", fmt,
                                           "--warehouse", str(root / "wh.duckdb")])
        assert result.exit_code == 0, result.output
    # Prefect ships log lines to its API from a background worker, in batches: wait for the
    # run's WARNING to arrive (it is asserted below) before reading every line the server holds.
    deadline, logs = time.monotonic() + 30, api_logs()
    while not any("Refused 'link_" in line for line in logs) and time.monotonic() < deadline:
        time.sleep(0.2)
        logs = api_logs()
    return root, ids, invalid, code, output, logs


def db_text(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            out += map(repr, con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall())
        return "\n".join(out)
    finally:
        con.close()


def outputs_text(root: Path) -> dict[str, str]:
    """Every written output, as text: both warehouse files, OUT/ (summaries, validation report,
    letters, reminders.csv) and the exports (CSV read as text, xlsx cell by cell)."""
    texts = {"warehouse": db_text(root / "wh.duckdb"), "published": db_text(root / "wh.published.duckdb")}
    for folder in (root / "out", root / "export"):
        for p in sorted(folder.rglob("*")):
            if p.suffix == ".xlsx":
                wb = openpyxl.load_workbook(p, read_only=True)
                texts[str(p)] = "\n".join(repr(row) for ws in wb for row in ws.iter_rows(values_only=True))
                wb.close()
            elif p.is_file():
                texts[str(p)] = p.read_text(encoding="utf-8-sig")
    return texts


def leaked(ids: list[str], text: str) -> list[str]:
    """IDs readable in `text` in any written form: Thai digits read as ASCII, separators dropped,
    then every 13 digits in a row compared with the IDs."""
    flat = re.sub(r"[- ]", "", text.translate(TO_ASCII))
    windows = {run[i:i + 13] for run in re.findall(r"[0-9]{13,}", flat) for i in range(len(run) - 12)}
    return sorted(windows.intersection(ids))


def test_the_run_takes_the_inbox(pdpa_run):
    root, _, _, code, output, _ = pdpa_run
    assert code == 0, output
    # The three budget files pass; the 40 with IDs for identity are quarantined.
    assert "files seen 43: accepted 3, superseded 0, duplicates 0, quarantined 40" in output


def test_no_generated_id_is_in_any_output(pdpa_run):
    root, ids, *_ = pdpa_run
    texts = outputs_text(root)
    assert any(name.endswith("validation.html") for name in texts) and any(".md" in n for n in texts)
    assert any("/export/xlsx/" in n for n in texts) and any("/export/csv/" in n for n in texts)
    for name, text in texts.items():
        assert leaked(ids.used, text) == [], name


def test_no_generated_id_in_logs_output_or_artifact(pdpa_run):
    root, ids, _, _, output, logs = pdpa_run
    refused = "Refused 'link_[masked-id].csv': it is not a regular file (a symbolic link)"
    assert refused in output and any(refused in line for line in logs)
    assert leaked(ids.used, output) == [] and leaked(ids.used, "\n".join(logs)) == []
    mine = [a.data for a in summary_artifacts_of(root / "out")]
    assert len(mine) == 1 and leaked(ids.used, mine[0]) == []


def test_masked_where_stored_and_warned(pdpa_run):
    root, *_ = pdpa_run
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        # Per accepted file: one NATIONAL_ID_MASKED warning per (row, column) that held an ID:
        # CSV 150 rows x 2 = 300, XLSX 300, JSON 100 x 2 = 200.
        warned = con.execute(
            "SELECT s.format, count(*) FROM ingest.issues i JOIN ingest.submissions s USING (submission_id) "
            "WHERE i.code = 'NATIONAL_ID_MASKED' AND s.status = 'accepted' GROUP BY 1 ORDER BY 1").fetchall()
        assert warned == [("csv", 300), ("json", 200), ("xlsx", 300)]
        # Item codes keep what is not the ID: A0/[masked-id] .. A149/[masked-id].
        codes = {c for (c,) in con.execute(
            "SELECT activity_code FROM core.budget_lines WHERE agency_code = '03009' AND period = '2548-Q1'").fetchall()}
        assert {f"A{n}/{MASK}" for n in range(150)} <= codes
        # The quarantined files' names and raw identity are stored masked.
        names = [n for (n,) in con.execute("SELECT file_name FROM ingest.submissions WHERE status = 'quarantined' "
                                           "ORDER BY file_name").fetchall()]
        assert names == [f"q{n:02d}_{MASK}.{('csv', 'json', 'xlsx')[n % 3]}" for n in range(40)]
        raws = con.execute("SELECT DISTINCT raw_pilot_id, raw_agency_code, raw_period, raw_submitted_on "
                           "FROM ingest.submissions WHERE status = 'quarantined'").fetchall()
        assert raws == [(f"PLT {MASK}", MASK, MASK, MASK)]
    finally:
        con.close()


def test_invalid_ids_are_stored_as_written(pdpa_run):
    root, _, invalid, *_ = pdpa_run
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        notes = {n for (n,) in con.execute("SELECT note FROM core.budget_lines WHERE note LIKE 'ref %'").fetchall()}
    finally:
        con.close()
    assert notes == {f"ref {invalid[0]}", f"ref {invalid[1]}", f"ref {grouped(invalid[2], '-')}",
                     f"ref {grouped(invalid[3], '-')}", f"ref {invalid[4].translate(THAI)}",
                     f"ref {invalid[5].translate(THAI)}"}


def test_filed_away_under_the_names_they_came_with(pdpa_run):
    """Masking is for what is stored and shown: the inbox files are found again (by name masked
    and SHA-256) and filed away under their own names."""
    root, ids, *_ = pdpa_run
    inbox = root / "inbox"
    assert sorted(p.name for p in inbox.iterdir())[1:] == ["processed", "quarantine"]  # and the link, left
    assert len(list((inbox / "quarantine").iterdir())) == 40 and len(list((inbox / "processed").iterdir())) == 3
