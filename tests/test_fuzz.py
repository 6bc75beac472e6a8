"""Fuzz through the nightly validation path (pilots.ingest: the pure stage `run` and `check` share).

- Mutated values with a known outcome: each hostile spelling of an amount or a KPI actual, in
  CSV, JSON and XLSX, is either accepted with the value the spec gives it (the stored value is
  asserted), or quarantined with exactly the defect the spec names. A mutated amount that is
  wrongly accepted, or quarantined for another reason, fails.
- Random byte mutations (seeded, a few thousand files): no file may crash or stall the batch, and
  each quarantined one carries a reason in Thai and English. Their outcome cannot be known in
  advance (a changed digit is still a number), so that test asserts only this; the explicit
  outcomes are the table's.
"""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from pilots.ingest import ToRead, check_files, read_batch
from pilots.registry import load_registry

DATA = Path(__file__).parent / "data"
AS_OF = date(2006, 8, 15)


def seeds() -> dict[str, bytes]:
    """CLEAN.csv in each format: what the byte mutations start from."""
    return {".csv": (DATA / "defects" / "CLEAN.csv").read_bytes(), ".json": written(clean_rows(), "json"),
            ".xlsx": written(clean_rows(), "xlsx")}


# allocated_thb of the budget line (disbursed 200,000): the spelling -> the stored value or the defect.
AMOUNTS = {
    "1,250,000.50": Decimal("1250000.50"), "๑,๒๕๐,๐๐๐": Decimal("1250000"), "1.25 ล้านบาท": Decimal("1250000"),
    "1250000 บาท": Decimal("1250000"), "0.5 ล้านบาท": Decimal("500000"), "๒๐๐,๐๐๐.๒๕": Decimal("200000.25"),
    "200000": Decimal("200000"),  # disbursed may equal allocated
    " 300000 ": Decimal("300000"), "300000\u200b": Decimal("300000"),
    "-5": "AMOUNT_NEGATIVE", "-1,250,000": "AMOUNT_NEGATIVE",
    "150000": "DISBURSED_OVER_ALLOCATED", "0": "DISBURSED_OVER_ALLOCATED", "0.15 ล้านบาท": "DISBURSED_OVER_ALLOCATED",
    "1" + "0" * 40: "NUMBER_TOO_LARGE", "9" * 400: "NUMBER_TOO_LARGE",
    "-": "VALUE_REQUIRED", "N/A": "VALUE_REQUIRED", "รอข้อมูล": "VALUE_REQUIRED",
    **{bad: "NOT_A_NUMBER" for bad in (
        "1e308", "1e309", "NaN", "inf", "Infinity", "1.5e3", "1e2", "1,2,3", "1,,2", "1.2.3", "0x10", "+-1", "1_000",
        "1 000", "12%", "85%", "(500)", "500-", "5e", ".", "ล้านบาท", "3,912 คน", "{{ 7*7 }}", "\u202e123",
        "١٢٣٤٥٦٧", "１２３４５６７")},  # Arabic-Indic and fullwidth digits are not the spec's Thai digits
}
# actual of K1 (a percent KPI): the spelling -> the stored value or the defect.
PERCENTS = {
    "85%": Decimal("85"), "๘๕": Decimal("85"), "85.5 %": Decimal("85.5"), "100": Decimal("100"), "0": Decimal("0"),
    "101": "PERCENT_OUT_OF_RANGE", "100.01%": "PERCENT_OUT_OF_RANGE", "-1": "PERCENT_OUT_OF_RANGE",
    "85 บาท": "NOT_A_NUMBER", "1e1": "NOT_A_NUMBER", "85%%": "NOT_A_NUMBER", "๘๕ คน": "NOT_A_NUMBER",
}


FORMATS = ("csv", "json", "xlsx")
# (what is mutated: line type, item code, column) -> its table of spellings
CELLS = {("budget", "ACT-1", "allocated_thb"): AMOUNTS, ("kpi", "K1", "actual"): PERCENTS}


def clean_rows() -> list[list[str]]:
    return [line.split(",") for line in (DATA / "defects" / "CLEAN.csv").read_text(encoding="utf-8").splitlines()]


def written(rows: list[list[str]], fmt: str) -> bytes:
    """The rows as a report file of this format, every cell as text."""
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode("utf-8")
    if fmt == "json":
        header = rows[0]
        doc = dict(zip(header[:4], rows[1][:4]), lines=[dict(zip(header[4:], r[4:])) for r in rows[1:]])
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def mutated(cell: tuple[str, str, str], spelling: str | None) -> list[list[str]]:
    """CLEAN.csv with that one cell spelled so (None: unchanged)."""
    rows = clean_rows()
    line_type, item, column = cell
    if spelling is not None:
        [row] = [r for r in rows if r[4] == line_type and r[5] == item]
        row[rows[0].index(column)] = spelling
    return rows


@pytest.fixture(scope="module")
def outcomes() -> dict:
    """(cell, spelling, format) -> the stored value of that cell when the file is accepted, else the
    set of its defect codes; every file read in one batch (Great Expectations runs once per batch)."""
    registry = load_registry(DATA / "registry" / "valid")
    keys = [(cell, spelling, fmt) for cell, table in CELLS.items() for spelling in [None, *table] for fmt in FORMATS]
    batch = [ToRead(f"f{i:04d}.{fmt}", f"{i:064d}", data=written(mutated(cell, spelling), fmt))
             for i, (cell, spelling, fmt) in enumerate(keys)]
    found = {}
    for key, read in zip(keys, read_batch(batch, registry, AS_OF)):
        line_type, item, column = key[0]
        if read.errors:
            found[key] = {i.code for i in read.errors}
        else:
            [line] = [r for r in read.rows if r["line_type"] == line_type and r["item_code"] == item]
            found[key] = Decimal(line[column])
    return found


def expected(value):
    return value if isinstance(value, Decimal) else {value}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("spelling", list(AMOUNTS))
def test_a_mutated_amount_is_stored_as_the_spec_reads_it_or_quarantined_for_its_defect(outcomes, spelling, fmt):
    assert outcomes[(("budget", "ACT-1", "allocated_thb"), spelling, fmt)] == expected(AMOUNTS[spelling])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("spelling", list(PERCENTS))
def test_a_mutated_percent_actual_is_stored_as_the_spec_reads_it_or_quarantined_for_its_defect(outcomes, spelling, fmt):
    assert outcomes[(("kpi", "K1", "actual"), spelling, fmt)] == expected(PERCENTS[spelling])


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_unmutated_file_is_accepted_with_its_values(outcomes, fmt):
    assert outcomes[(("budget", "ACT-1", "allocated_thb"), None, fmt)] == Decimal("1000000")
    assert outcomes[(("kpi", "K1", "actual"), None, fmt)] == Decimal("47")


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        pos = rnd.randrange(len(b) + 1)
        if op < 0.3 and b:
            b[min(pos, len(b) - 1)] = rnd.randrange(256)
        elif op < 0.5:
            b[pos:pos] = rnd.choice([b",", b";", b"\t", b"\n", b'"', b"\x00", "๑".encode(), b"-", b"%", b"{", b"["])
        elif op < 0.7:
            del b[pos : pos + rnd.randint(1, 20)]
        elif op < 0.85:
            b = b[:pos]  # truncated
        else:
            b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 30)))
    return bytes(b)


def test_thousands_of_byte_mutated_files_never_crash(tmp_path):
    registry = load_registry(DATA / "registry" / "valid")
    rnd = random.Random(20040622)
    base = seeds()
    paths = []
    for i in range(3000):
        ext = rnd.choice(list(base))
        path = tmp_path / f"f{i:05d}{ext}"
        path.write_bytes(mutate(base[ext], rnd))
        paths.append(path)
    outcomes = []
    for start in range(0, len(paths), 500):
        outcomes += check_files(paths[start : start + 500], registry, AS_OF)
    assert len(outcomes) == len(paths)
    for o in outcomes:
        assert o.status in ("accepted", "quarantined")
        if o.status == "quarantined":
            assert any(i.is_error and i.message_en and i.message_th for i in o.issues), o.file_name
    # The mutations must actually exercise both outcomes.
    statuses = {o.status for o in outcomes}
    assert statuses == {"accepted", "quarantined"}
