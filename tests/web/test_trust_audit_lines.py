"""A line of the audit trail cut short (the disk filled, the power went mid-write) does not stop
the pages that read the trail, nor swallow the next entry; and agency text with bidi, line
separator or other format characters is written escaped, not raw (web/audit.py)."""
from __future__ import annotations

import json
import re

from tests.web.conftest import report, text_of, verdict
from web.audit import AuditTrail


def test_a_cut_line_in_the_trail_is_skipped_and_the_next_entry_kept(client_for, site_dir):
    agency = client_for("demo-agency")
    first = agency.upload("q3.csv", report())
    assert verdict(first.text) == "new" and agency.send(first.text).status_code == 303
    trail = site_dir / "warehouse.audit.jsonl"
    with open(trail, "ab") as fh:  # a send line cut short by a crash, no newline after it
        fh.write(b'{"at": "2026-12-06T18:00:00.000000+00:00", "event": "send", "who": "demo-agency", "rece')

    listing = agency.get("/submissions")  # main: json.loads raised, 500 on every page reading sends
    assert listing.status_code == 200
    assert re.search(r'data-status="waiting">\s*<td class="agency-text">q3\.csv', listing.text)

    # The next send starts a line of its own: it is recorded, and recognised as sent.
    second = agency.upload("q2.csv", report(submitted_on="2006-08-11"))
    assert verdict(second.text) == "replaces"
    receipt = agency.send(second.text)
    assert receipt.status_code == 303 and agency.get(receipt.headers["location"]).status_code == 200
    assert verdict(agency.upload("q2-again.csv", report(submitted_on="2006-08-11")).text) == "duplicate"
    lines = trail.read_bytes().split(b"\n")
    cut = [i for i, line in enumerate(lines) if line.endswith(b'"rece')]
    assert len(cut) == 1 and json.loads(lines[cut[0] + 1])["event"] == "upload"
    sends = [json.loads(line) for line in lines if line.strip() and not line.endswith(b'"rece')]
    assert [e["file_name"] for e in sends if e["event"] == "send"] == ["q3.csv", "q2.csv"]


# What a terminal acts on instead of showing: a bidi override (the rest of the line reversed),
# the line and paragraph separators, other format characters (Cf: zero-width joiner, BOM, a tag
# character beyond U+FFFF), a C1 control, DEL, a no-break space.
HIDDEN = ["\u202e", "\u2066", "\u200f", "\u2028", "\u2029", "\u200d", "\ufeff", "\U000e0041", "\x85", "\x7f", "\xa0"]


def test_agency_text_is_written_escaped_in_the_trail_and_read_back_exact(client_for, site_dir):
    # Main wrote them raw (json.dumps(ensure_ascii=False) escapes only C0 controls): `cat` or
    # `tail` of the trail showed the name reversed, or broke the line where a tool splits lines.
    agency = client_for("demo-agency")
    name = "q3" + "".join(HIDDEN) + "vsc.csv"
    checked = agency.upload(name, report())
    assert verdict(checked.text) == "new"
    assert "[U+202E]" in text_of(checked.text)  # the page's stand-in (unchanged)
    assert agency.send(checked.text).status_code == 303
    raw = (site_dir / "warehouse.audit.jsonl").read_bytes()
    text = raw.decode("utf-8")
    assert not [ch for ch in HIDDEN if ch in text]
    assert "\\u202e" in text and "\\udb40\\udc41" in text  # as JSON escapes
    lines = text.split("\n")[:-1]
    assert all(line.isprintable() for line in lines)
    assert len(lines) == len(text.splitlines())  # no line split anywhere else either
    entries = [json.loads(line) for line in lines]
    assert [e["file_name"] for e in entries if e["event"] in ("upload", "send")] == [name, name]  # exact


def test_the_trail_writer_escapes_what_is_not_printable_and_keeps_the_rest(tmp_path):
    # The decisions journal (web/decisions.py Journal) writes through the same writer.
    from web.decisions import Journal

    thai = "ฐานข้อมูลนิติบุคคล \\ \"quoted\" ✓ 😀"
    values = {"plain": thai, "hidden": "".join(HIDDEN) + "\x1b[31m", "lone": "\udc80"}
    AuditTrail(tmp_path / "audit.jsonl").record("upload", "who\u202e", None, **values)
    Journal(tmp_path / "decisions.jsonl").append("requested", "d1", who="x", note="note\u2028" + thai)
    for path in (tmp_path / "audit.jsonl", tmp_path / "decisions.jsonl"):
        [line] = path.read_bytes().split(b"\n")[:-1]
        assert line.decode("utf-8").isprintable()
    entry = json.loads((tmp_path / "audit.jsonl").read_bytes())
    assert {k: entry[k] for k in values} == values and entry["who"] == "who\u202e"
    written = (tmp_path / "audit.jsonl").read_bytes()
    assert "ฐานข้อมูลนิติบุคคล".encode() in written and "✓ 😀".encode() in written  # readable, not \u0e10
    assert json.loads((tmp_path / "decisions.jsonl").read_bytes())["note"] == "note\u2028" + thai
