"""A report still being written is neither received nor filed away (verifier VJ, F1 and F2).

- F1: an SFTP server writes an upload in place under its final name and holds it open. A link
  that stalls for longer than the settle time left a half-written file that looked settled: the
  night read its first lines, accepted them, and moved the file to processed/ while the writer
  still held it (the rest landed there, never read). Now a file another process holds open for
  writing is left in the inbox, named as still being written; a zero-byte one too. The writer
  here is a child process, so the kernel itself tells (a read lease is refused).
- F2: a correction copied over a settled report just after the settle check (truncated, then
  written) was read half-written. Now what the night opens (fstat size, mtime) must be what the
  settle check saw; else the file is left for the next night. The race is made deterministic
  by wrapping `settled`, as tests/test_inbox_faults.py does.

Scenario: the demo's PLT-2548-003 (FY 2549 thresholds, K3 a `sum` KPI), lead 03009's reports
for 2549-Q1, Q2 and Q3, as of 2006-08-15. Expected 2549-Q3, by hand (scoring.md sections 1, 2, 6):
- K1 higher/last, a = 65.6, thresholds [40, 50, 60, 70, 80]: k = 3, s = 3 + 5.6/10 = 3.5600.
- K2 lower/last, a = 10.1, thresholds [20, 15, 10, 7.5, 5]: largest t_k >= 10.1 is t2 = 15,
  s = 2 + (15 - 10.1)/(15 - 10) = 2.9800.
- K3 higher/sum, a = 1631 + 1383 + 1744 = 4758, thresholds x 3/4 = [1500, 3000, 4500, 6000, 7500]:
  k = 3, s = 3 + 258/1500 = 3.1720.
- composite = (3.56 x 40 + 2.98 x 35 + 3.172 x 25) / 100 = (142.4 + 104.3 + 79.3) / 100 = 3.2600,
  on_target. (The half file, K1 and K2 only: K3 missing, s = 1, composite 2.7170 at_risk.)
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from flows.cli import main
from pilots import inbox as inbox_module
from tests.test_flow import AGENCIES
from tests.test_hostile_sizes import query
from tests.test_trust_log_names import records  # noqa: F401 - a fixture: the night's log lines

P = "PLT-2548-003"
PILOT = """
pilot_id: PLT-2548-003
name_th: ระบบบริการประชาชนแบบเบ็ดเสร็จ
name_en: One-stop e-citizen service
layer: 5
strategies: [1, 6]
classification: open
start: 2005-10-01
end: 2006-09-30
report_due_days: 30
agencies:
  - {code: "03009", role: lead}
  - {code: "15001", role: secondary}
  - {code: "11002", role: supporting}
  - {code: "20004", role: advisory}
kpis:
  - {code: K1, name_th: ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์, name_en: Share of applications filed online,
     unit: percent, direction: higher, aggregation: last, weight: 40, thresholds: {2549: [40, 50, 60, 70, 80]}}
  - {code: K2, name_th: ระยะเวลาเฉลี่ยในการออกใบอนุญาต, name_en: Average days to issue a licence,
     unit: days, direction: lower, aggregation: last, weight: 35, thresholds: {2549: [20, 15, 10, 7.5, 5]}}
  - {code: K3, name_th: จำนวนคำขอที่ดำเนินการเสร็จ, name_en: Applications completed,
     unit: count, direction: higher, aggregation: sum, weight: 25, thresholds: {2549: [2000, 4000, 6000, 8000, 10000]}}
"""
HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"


def _report(period: str, on: str, k1: str, k2: str, k3: str) -> bytes:
    rows = [HEADER] + [f"{P},03009,{period},{on},kpi,{k},,{v},,,," for k, v in (("K1", k1), ("K2", k2), ("K3", k3))]
    rows += [f"{P},03009,{period},{on},budget,ACT-L5-01,5,,27090000.00,16284763.22,lead_integrated,",
             f"{P},03009,{period},{on},budget,ACT-L3-01,3,,6910000.00,3355123.22,lead_integrated,"]
    return ("\n".join(rows) + "\n").encode("utf-8")


Q1 = _report("2549-Q1", "2006-01-19", "67.4", "9.8", "1631")
Q2 = _report("2549-Q2", "2006-05-01", "63.4", "10.5", "1383")
Q3 = _report("2549-Q3", "2006-07-11", "65.6", "10.1", "1744")
Q3_NAME = f"{P}_03009_2549-Q3.csv"
HALF = b"".join(Q3.splitlines(keepends=True)[:3])  # the header, K1 and K2: the link stalls there

# The writer: opens each file under its final name, writes what it has, says so, and holds them
# open until told to go on (a line on stdin); then writes the rest and closes.
WRITER = """
import sys
files = [(open(path, "wb"), first, rest) for path, first, rest in eval(sys.argv[1])]
for fh, first, _ in files:
    fh.write(first); fh.flush()
print("stalled", flush=True)
sys.stdin.readline()
for fh, _, rest in files:
    fh.write(rest); fh.close()
print("done", flush=True)
"""


def _scenario(root: Path) -> tuple[Path, Path]:
    registry, inbox = root / "registry", root / "inbox"
    (registry / "pilots").mkdir(parents=True)
    (registry / "agencies.yaml").write_text(AGENCIES, encoding="utf-8")
    (registry / "pilots" / f"{P}.yaml").write_text(PILOT, encoding="utf-8")
    inbox.mkdir()
    (inbox / f"{P}_03009_2549-Q1.csv").write_bytes(Q1)
    (inbox / f"{P}_03009_2549-Q2.csv").write_bytes(Q2)
    return registry, inbox


def _night(registry: Path, inbox: Path, root: Path, settle: str = "0.2") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", "2006-08-15",
                                       "--settle-seconds", settle])
    return result.exit_code, result.output


def _q3(root: Path) -> dict:
    wh = root / "wh.duckdb"
    scores = query(wh, f"SELECT composite_score, status FROM marts.pilot_scores WHERE pilot_id = '{P}' "
                       "AND period = '2549-Q3'")
    k3 = query(wh, f"SELECT actual, score FROM marts.kpi_scores WHERE pilot_id = '{P}' AND period = '2549-Q3' "
                   "AND kpi_code = 'K3'")
    subs = query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id")
    return {"scores": scores, "k3": k3, "subs": subs}


def test_a_stalled_upload_is_left_in_the_inbox_until_its_writer_closes_it(tmp_path, prefect_harness,
                                                                          records):  # noqa: F811
    registry, inbox = _scenario(tmp_path)
    empty = inbox / f"{P}_15001_2549-Q3.csv"  # a zero-byte upload, stalled before its first byte
    plan = [(str(inbox / Q3_NAME), HALF, Q3[len(HALF):]), (str(empty), b"", b"")]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, repr(plan)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "stalled"
        code, out = _night(registry, inbox, tmp_path)  # settles 0.2 s: the stalled files do not change
        assert code == 0, out
        # Before: 3 files accepted (the half Q3 one), 1 quarantined (the empty one); both moved away.
        assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out, out
        assert f"left for the next run, still being written: {P}_03009_2549-Q3.csv, {P}_15001_2549-Q3.csv" in out, out
        assert [line for line in records if "still being written for the next run" in line and Q3_NAME in line]
        assert (inbox / Q3_NAME).read_bytes() == HALF and empty.read_bytes() == b""  # left in place, untouched
        assert not (inbox / "processed" / Q3_NAME).exists() and not (inbox / "quarantine").exists()
        night1 = _q3(tmp_path)
        assert night1["subs"] == [(f"{P}_03009_2549-Q1.csv", "accepted"), (f"{P}_03009_2549-Q2.csv", "accepted")]
        # No lead report for 2549-Q3 yet: every KPI missing, no composite (not 2.7170 from the half file).
        assert night1["scores"] == [(None, "no_data")], night1
    finally:
        writer.communicate("go\n", timeout=60)
    assert writer.returncode == 0
    empty.unlink()  # the sender withdrew its empty upload

    code, out = _night(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert "still being written" not in out
    assert (inbox / "processed" / Q3_NAME).read_bytes() == Q3
    night2 = _q3(tmp_path)
    assert night2["k3"] == [(Decimal("4758"), Decimal("3.1720"))], night2
    assert night2["scores"] == [(Decimal("3.2600"), "on_target")], night2


def test_a_report_overwritten_after_the_settle_check_is_left_for_the_next_night(tmp_path, prefect_harness,
                                                                                monkeypatch, records):  # noqa: F811
    registry, inbox = _scenario(tmp_path)
    target = inbox / Q3_NAME
    target.write_bytes(Q3.replace(b",1744,", b",1000,"))  # an earlier Q3 report, settled, not yet read
    real_settled = inbox_module.settled

    def settled_then_overwritten(folder, settle_seconds, *args, **kwargs):
        # The agency's tool copies its correction over the report just after the check passed
        # (cp: truncate, then write): the night opens it with 3 lines written.
        ready, changing = real_settled(folder, settle_seconds, *args, **kwargs)
        with open(target, "r+b") as fh:
            fh.truncate(0)
            fh.write(HALF)
        return ready, changing

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module, "settled", settled_then_overwritten)
        code, out = _night(registry, inbox, tmp_path, settle="0")
    assert code == 0, out
    # Before: the 3 lines accepted and published for a night (K3 missing: 2.7170 at_risk).
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out, out
    assert f"left for the next run, still being written: {Q3_NAME}" in out, out
    assert _q3(tmp_path)["scores"] == [(None, "no_data")]
    target.write_bytes(Q3)  # the copy completes

    code, out = _night(registry, inbox, tmp_path, settle="0")
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    night2 = _q3(tmp_path)
    assert night2["scores"] == [(Decimal("3.2600"), "on_target")], night2
    # One send, one version (agency-report-v1.md, "Resubmissions"): before, the half file counted too.
    versions = query(tmp_path / "wh.duckdb", "SELECT versions FROM marts.reporting_compliance WHERE "
                     f"pilot_id = '{P}' AND period = '2549-Q3' AND agency_code = '03009'")
    assert versions == [(1,)]



def test_a_report_written_to_while_it_is_read_is_left_for_the_next_night(tmp_path, prefect_harness, monkeypatch):
    """Reviewer RV9 item 7: a writer that opens the file after the settle and lease checks, while
    the night copies it, gave the night part of the bytes (committed, published). Now one more
    fstat after the copy must match the one as opened (size, mtime_ns). The writer's moment is
    made deterministic by wrapping the copy (evidence.KeepBatch.add_from): the agency's tool
    copies its report over the settled earlier one (truncate, then the first 3 lines) just as
    the night starts reading it."""
    from warehouse import evidence
    from warehouse.db import evidence_dir_for

    registry, inbox = _scenario(tmp_path)
    target = inbox / Q3_NAME
    target.write_bytes(Q3.replace(b",1744,", b",1000,"))  # an earlier Q3 report, settled, not yet read
    real_add_from = evidence.KeepBatch.add_from

    def written_while_copied(self, source, *args, **kwargs):
        if os.fstat(source).st_ino == target.stat().st_ino:
            with open(target, "r+b") as fh:
                fh.truncate(0)
                fh.write(HALF)
        return real_add_from(self, source, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(evidence.KeepBatch, "add_from", written_while_copied)
        code, out = _night(registry, inbox, tmp_path, settle="0")
    assert code == 0, out
    # Before: the 3 lines accepted and published for a night (K3 missing: 2.7170 at_risk).
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out, out
    assert f"left for the next run, still being written: {Q3_NAME}" in out, out
    assert _q3(tmp_path)["scores"] == [(None, "no_data")]
    assert target.read_bytes() == HALF and not (inbox / "processed" / Q3_NAME).exists()  # left in place
    # The half copy is not named in the evidence store: only Q1's and Q2's bytes are.
    stored = sorted(p.name for p in evidence_dir_for(tmp_path / "wh.duckdb").rglob("*") if p.is_file())
    assert stored == sorted(hashlib.sha256(b).hexdigest() for b in (Q1, Q2)), stored
    target.write_bytes(Q3)  # the copy completes

    code, out = _night(registry, inbox, tmp_path, settle="0")
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert _q3(tmp_path)["scores"] == [(Decimal("3.2600"), "on_target")]
    versions = query(tmp_path / "wh.duckdb", "SELECT versions FROM marts.reporting_compliance WHERE "
                     f"pilot_id = '{P}' AND period = '2549-Q3' AND agency_code = '03009'")
    assert versions == [(1,)]

def test_filing_away_leaves_a_file_opened_for_writing_since_it_was_read(tmp_path):
    """The second question, just before the move: a file read whole, then opened for writing by
    another program (a sender re-uploading in place), stays in the inbox, told as WRITING."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(Q1)
    (inbox / "b.csv").write_bytes(Q2)
    files = inbox_module.receive([inbox / "a.csv", inbox / "b.csv"], tmp_path / "evidence")
    writer = subprocess.Popen([sys.executable, "-c", "import sys; f = open(sys.argv[1], 'ab'); print('open', flush=True);"
                               " sys.stdin.readline()", str(inbox / "b.csv")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        told = []
        moved = inbox_module.file_away([(f, "accepted") for f in files], inbox, left=lambda f, why: told.append((f.name, why)))
    finally:
        writer.communicate("\n", timeout=60)
    assert moved == [inbox / "processed" / "a.csv"]
    assert told == [("b.csv", inbox_module.WRITING)]
    assert (inbox / "b.csv").read_bytes() == Q2
