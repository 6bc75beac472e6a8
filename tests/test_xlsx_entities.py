"""XLSX never expands XML entities (issue 14 item 5): a billion-laughs workbook and one whose
external entity names a local file are FILE_UNREADABLE (`xml_entities`), read in little memory,
and no entity text reaches the warehouse or any output. openpyxl parses through defusedxml
(pinned in pyproject.toml), which refuses every entity declaration."""
from __future__ import annotations

import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import duckdb
import openpyxl.xml
import pytest

from pilots.readers import ReadFailure, read_report
from tests.test_flow import make_scenario, run_cli
from tests.test_xlsx import FULL_HEADER, workbook

PILOT = "PLT-2548-003"
PLACEHOLDER = "ENTITYHERE"
SECRET = "XXE-SECRET-5a1f9c"  # the local file's content: must never be read into anything
# Ten entities, each ten of the previous: &lol9; would be 10**9 * 3 bytes = 3 GB of "lol".
BILLION_LAUGHS = ("<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
                  + "".join(f" <!ENTITY lol{i} \"{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}\">\n"
                            for i in range(1, 10))
                  + "]>\n")


def xxe_doctype(secret_file: Path) -> str:
    return f"<!DOCTYPE x [\n <!ENTITY xxe SYSTEM \"{secret_file.as_uri()}\">\n]>\n"


# Where the entity is used: a text cell and a number cell of the sheet (parsed row by row, with
# iterparse), and the sheet's name in the workbook part (parsed whole when the workbook opens).
PLACES = {
    "text_cell": ("xl/worksheets/sheet1.xml", f"<t>{PLACEHOLDER}</t>", "<t>&{};</t>"),
    "number_cell": ("xl/worksheets/sheet1.xml", "<v>47</v>", "<v>&{};</v>"),
    "sheet_name": ("xl/workbook.xml", 'name="report"', 'name="&{};"'),
}


def hostile_workbook(doctype: str, entity: str, place: str) -> bytes:
    """A valid report whose part declares `doctype` and uses `&entity;` at `place` (PLACES)."""
    member, old, new = PLACES[place]
    rows = [FULL_HEADER, [PILOT, "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, 47, None, None, None,
                          PLACEHOLDER]]
    src = zipfile.ZipFile(io.BytesIO(workbook({"report": rows})))
    assert member in src.namelist()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info).decode("utf-8")
            if info.filename == member:
                assert content.count(old) == 1, f"{member} holds no {old}"
                content = content.replace(old, new.format(entity))
                declaration = re.match(r"<\?xml[^>]*\?>\s*", content)
                cut = declaration.end() if declaration else 0
                content = content[:cut] + doctype + content[cut:]
            dst.writestr(info, content.encode("utf-8"))
    return out.getvalue()


MEMBERS = list(PLACES)


def test_openpyxl_parses_through_defusedxml():
    assert openpyxl.xml.DEFUSEDXML is True


@pytest.mark.parametrize("member", MEMBERS)
def test_billion_laughs_is_refused_in_little_memory(member):
    data = hostile_workbook(BILLION_LAUGHS, "lol9", member)
    assert len(data) < 10_000  # small on disk and inflated: the zip-bomb limits let it through
    tracemalloc.start()
    try:
        with pytest.raises(ReadFailure) as failure:
            read_report("bomb.xlsx", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak:,} bytes"  # expanded, &lol9; alone would be 3 GB
    issue = failure.value.issue
    assert issue.code == "FILE_UNREADABLE"
    assert "declares XML entities" in issue.message_en
    assert "มีการประกาศเอนทิตี" in issue.message_th
    assert "lollol" not in issue.message_en + issue.message_th


@pytest.mark.parametrize("member", MEMBERS)
def test_an_external_entity_never_reads_the_local_file(tmp_path, member):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    with pytest.raises(ReadFailure) as failure:
        read_report("xxe.xlsx", hostile_workbook(xxe_doctype(secret), "xxe", member))
    issue = failure.value.issue
    assert issue.code == "FILE_UNREADABLE" and "declares XML entities" in issue.message_en
    assert SECRET not in repr(failure.value.__dict__) + issue.message_en + issue.message_th


def test_without_defusedxml_no_workbook_is_read(monkeypatch):
    """Fail closed: with openpyxl's defusedxml switched off the run fails; nothing is parsed."""
    monkeypatch.setattr(openpyxl.xml, "DEFUSEDXML", False)
    with pytest.raises(RuntimeError, match="defusedxml"):
        read_report("ok.xlsx", workbook({"report": [FULL_HEADER]}))


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_hostile_workbooks_are_quarantined_end_to_end(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    (inbox / "h_bomb.xlsx").write_bytes(hostile_workbook(BILLION_LAUGHS, "lol9", "text_cell"))
    (inbox / "h_xxe.xlsx").write_bytes(hostile_workbook(xxe_doctype(secret), "xxe", "sheet_name"))

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # tests/test_flow.py's six files (accepted 3, superseded 1, duplicate 1, quarantined 1) plus the two.
    assert "files seen 8: accepted 3, superseded 1, duplicates 1, quarantined 3" in out
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT s.file_name, s.status, i.code, i.row_number, i.column_name, i.message_en, "
                           "i.message_th FROM ingest.submissions s JOIN ingest.issues i USING (submission_id) "
                           "WHERE s.file_name LIKE 'h_%' ORDER BY s.file_name").fetchall()
        texts = con.execute("SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM ingest.submissions").fetchall()
    finally:
        con.close()
    assert [r[:5] for r in rows] == [("h_bomb.xlsx", "quarantined", "FILE_UNREADABLE", None, None),
                                     ("h_xxe.xlsx", "quarantined", "FILE_UNREADABLE", None, None)]
    for row in rows:
        assert "declares XML entities" in row[5] and "มีการประกาศเอนทิตี" in row[6]
    assert not any(SECRET in str(t) or "lollol" in str(t) for t in texts)
    # No entity text anywhere the run wrote: warehouse, published copy, evidence, summaries, reports.
    written = _all_bytes(tmp_path / "out") + b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name.startswith("wh."))
    assert SECRET.encode() not in written and b"lollol" not in written
    assert sorted(p.name for p in (inbox / "quarantine").iterdir()) == ["f_bad.csv", "h_bomb.xlsx", "h_xxe.xlsx"]
