"""Fuzz: a few thousand mutated report files (seeded) through the nightly validation path.
No file may crash or stall the batch; each is accepted or quarantined with at least one reason."""
from __future__ import annotations

import io
import json
import random
from datetime import date
from pathlib import Path

import openpyxl

from pilots.ingest import check_files
from pilots.registry import load_registry

DATA = Path(__file__).parent / "data"
AS_OF = date(2006, 8, 15)


def seeds() -> dict[str, bytes]:
    clean = (DATA / "defects" / "CLEAN.csv").read_bytes()
    rows = [line.split(",") for line in clean.decode().splitlines()]
    doc = dict(zip(rows[0][:4], rows[1][:4]), lines=[dict(zip(rows[0][4:], r[4:])) for r in rows[1:]])
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    return {".csv": clean, ".json": json.dumps(doc).encode(), ".xlsx": out.getvalue()}


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


def test_thousands_of_mutated_files_never_crash(tmp_path):
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
