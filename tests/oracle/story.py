"""A small generated workload over four nights and the committee's decisions between them.

bench/workload.py's files for a few pilots, with hand-made changes that touch every rule the
oracle recomputes: a report held back (missing: a reminder), a defective one in its place
(rejected_file), late first reports, a closed quarter's corrections (held, then approved or
rejected), a resubmission that replaces the accepted file, one whose earlier submitted_on makes it
superseded at once, the workload's 1% of revisions, a pilot moved to restricted, a night of
registry changes only (dates, roles, a KPI's aggregation), and rebuilds on the days where
dueness and reminder levels turn.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from click.testing import CliRunner

from bench import workload
from flows.cli import main
from pilots import demo

COLUMNS = ("pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
           "allocated_thb", "disbursed_thb", "funding_source", "note")
NIGHT_1, NIGHT_2, NIGHT_3, NIGHT_4 = date(2006, 8, 15), date(2006, 8, 16), date(2006, 8, 17), date(2006, 8, 18)
REBUILDS = (date(2006, 6, 30), date(2006, 8, 14), date(2006, 8, 15), date(2006, 9, 13))


@dataclass
class Story:
    root: Path
    pilots: int
    plans: list = field(default_factory=list)
    agencies: list = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.root / "w.duckdb"

    def base(self, as_of: date) -> list[str]:
        return ["--registry", str(self.root / "registry"), "--warehouse", str(self.warehouse),
                "--out", str(self.root / "out"), "--as-of", as_of.isoformat()]

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def night(self, as_of: date) -> str:
        return self.cli("run", "--inbox", str(self.root / "inbox"), "--settle-seconds", "0", *self.base(as_of))

    def report(self, pilot_index: int, role: str, period: str) -> demo.Report:
        plan = self.plans[pilot_index]
        agency = next(code for code, r in plan.agencies if r == role)
        return next(r for r in demo._regular_reports(plan) if r.agency_code == agency and r.period == period)

    def write(self, name: str, report: demo.Report) -> None:
        """A canonical UTF-8 CSV of the report (agency-report-v1.md's column names)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for line in report.lines:
            head = {"pilot_id": report.pilot_id, "agency_code": report.agency_code, "period": report.period,
                    "submitted_on": report.submitted_on.isoformat()}
            writer.writerow([(head | line).get(c) or "" for c in COLUMNS])
        (self.root / "inbox" / name).write_text(out.getvalue(), encoding="utf-8")

    def hold_back(self, report: demo.Report) -> Path:
        """Move the workload's file of this report out of the inbox (it arrives on a later night)."""
        stem = demo.default_file_name(report.pilot_id, report.agency_code, report.period, "x")[:-1]
        (found,) = [p for p in (self.root / "inbox").iterdir() if p.name.startswith(stem)]
        target = self.root / "later" / found.name
        target.parent.mkdir(exist_ok=True)
        found.rename(target)
        return target

    def send_later(self, held: Path) -> None:
        held.rename(self.root / "inbox" / held.name)

    def submission_id(self, file_name: str) -> int:
        for path in (self.warehouse, self.warehouse.with_name("w.restricted.duckdb")):
            con = duckdb.connect(str(path), read_only=True)
            try:
                row = con.execute("SELECT max(submission_id) FROM ingest.submissions WHERE file_name = ?",
                                  [file_name]).fetchone()
            finally:
                con.close()
            if row[0] is not None:
                return row[0]
        raise AssertionError(f"{file_name} not received")


def _with_kpis(report: demo.Report, days: int, **actuals: str) -> demo.Report:
    """The report signed `days` later with the given KPI actuals."""
    out = demo._copy(report, submitted_on=report.submitted_on + timedelta(days=days))
    for line in out.lines:
        if line["line_type"] == "kpi" and line["item_code"] in actuals:
            line["actual"] = actuals[line["item_code"]]
    return out


def _only(report: demo.Report, line_type: str, days: int, drop: str | None = None) -> demo.Report:
    """The report signed `days` later with only its `line_type` lines (and without item `drop`)."""
    out = demo._copy(report, submitted_on=report.submitted_on + timedelta(days=days))
    out.lines = [line for line in out.lines if line["line_type"] == line_type and line["item_code"] != drop]
    return out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _changed_kpis(report: demo.Report, days: int, factor: str) -> demo.Report:
    """The report signed `days` later with every KPI actual × factor (kept to 2 decimals)."""
    out = demo._copy(report, submitted_on=min(report.submitted_on + timedelta(days=days), NIGHT_1))
    for line in out.lines:
        if line["line_type"] == "kpi" and line.get("actual"):
            out_value = (Decimal(line["actual"]) * Decimal(factor)).quantize(Decimal("0.01"))
            line["actual"] = str(out_value)
    return out


def checkpoints(root: Path, pilots: int = 6):
    """Run the story; yield (label, as_of) after each job, for the caller to compare the marts."""
    story = Story(root, pilots)
    wl = workload.write_workload(root, pilots)
    story.agencies, story.plans = workload.pilot_plans(pilots)
    p = [plan.pilot_id for plan in story.plans]

    # Night 1: P0's secondary misses 2549-Q3; P1's lead sends a defective 2549-Q3 (negative amount).
    late_secondary = story.hold_back(story.report(0, "secondary", "2549-Q3"))
    late_lead = story.hold_back(story.report(1, "lead", "2549-Q3"))
    # Two reports never come: P2's first supporting agency's 2549-Q3, P3's secondary's 2549-Q2.
    story.hold_back(story.report(2, "supporting", "2549-Q3"))
    story.hold_back(story.report(3, "secondary", "2549-Q2"))
    bad = demo._copy(story.report(1, "lead", "2549-Q3"))
    next(line for line in bad.lines if line["line_type"] == "budget")["allocated_thb"] = "-5000"
    story.write(f"{p[1]}_bad_2549-Q3.csv", bad)
    # P0's secondary has an extension up to night 1's date; P5 starts and ends mid-quarter.
    registry = root / "registry" / "pilots"
    secondary = next(code for code, role in story.plans[0].agencies if role == "secondary")
    _edit(registry / f"{p[0]}.yaml", f'{{code: "{secondary}", role: secondary}}',
          f'{{code: "{secondary}", role: secondary, no_reminders_until: 2006-08-15}}')
    _edit(registry / f"{p[5]}.yaml", "start: 2004-10-01", "start: 2004-11-15")
    _edit(registry / f"{p[5]}.yaml", "end: 2006-09-30", "end: 2006-05-20")
    _edit(registry / f"{p[2]}.yaml", "end: 2006-09-30", "end: 2006-09-30\nreport_due_days: 45")
    # P5's lead restates its history: K1 flat at 50 then 60 (changed_after_flat), K2's quarters
    # 3, 3, 3, 4 then 6 (MAD 0, mean absolute deviation 0.25: z = 3 / (1.253314 × 0.25)).
    for period, k1, k2 in (("2548-Q1", "50", "3"), ("2548-Q2", "50", "3"), ("2548-Q3", "50", "3"),
                           ("2548-Q4", "50", "4"), ("2549-Q1", "60", "6")):
        story.write(f"{p[5]}_restated_{period}.csv", _with_kpis(story.report(5, "lead", period), 1, K1=k1, K2=k2))
    # An early report: P3's lead sends 2549-Q4 before the quarter ends.
    early = demo._copy(story.report(3, "lead", "2549-Q3"), period="2549-Q4", submitted_on=date(2006, 8, 10))
    story.write(f"{p[3]}_early_2549-Q4.csv", early)
    story.night(NIGHT_1)
    yield "night 1", NIGHT_1

    # The committee closes 2549-Q2 for every pilot and 2549-Q3 for P2.
    story.cli("close-quarter", "2549-Q2", "--by", "committee", *story.base(NIGHT_1))
    story.cli("close-quarter", "2549-Q3", "--pilot", p[2], "--by", "committee", *story.base(NIGHT_1))
    yield "closed", NIGHT_1

    # Night 2: the late reports, corrections of closed quarters (held), an open-quarter
    # resubmission that replaces the accepted file, and the workload's 1% of revisions.
    workload.write_increment(root / "increment-plan", pilots, 0.01, wl.inbox)
    story.send_later(late_secondary)
    story.send_later(late_lead)
    story.write(f"{p[2]}_fix_2549-Q3.csv", _changed_kpis(story.report(2, "lead", "2549-Q3"), 3, "0.9"))
    story.write(f"{p[3]}_fix_2549-Q2.csv", _changed_kpis(story.report(3, "lead", "2549-Q2"), 3, "0.5"))
    story.write(f"{p[4]}_fix_2549-Q3.csv", _changed_kpis(story.report(4, "lead", "2549-Q3"), 2, "0.7"))
    story.night(NIGHT_2)
    yield "night 2", NIGHT_2

    story.cli("approve", str(story.submission_id(f"{p[2]}_fix_2549-Q3.csv")), "--by", "committee",
              *story.base(NIGHT_2))
    yield "approved", NIGHT_2
    story.cli("reject", str(story.submission_id(f"{p[3]}_fix_2549-Q2.csv")), "--by", "committee",
              "--reason", "not signed", *story.base(NIGHT_2))
    yield "rejected", NIGHT_2
    story.cli("reopen", "2549-Q2", "--pilot", p[1], "--by", "committee", "--reason", "recount",
              *story.base(NIGHT_2))
    yield "reopened", NIGHT_2

    # Night 3: P2 becomes restricted; P5's lead resends 2549-Q1 with an older date (superseded at once).
    pilot_file = root / "registry" / "pilots" / f"{p[2]}.yaml"
    pilot_file.write_text(pilot_file.read_text(encoding="utf-8").replace("classification: open",
                                                                         "classification: restricted"),
                          encoding="utf-8")
    older = _changed_kpis(story.report(5, "lead", "2549-Q1"), -1, "0.8")
    story.write(f"{p[5]}_old_2549-Q1.csv", older)
    # P0's lead resends 2549-Q1 without its budget lines and without K4 (a KPI-only report does
    # not erase its budget; K4 missing); P1's lead resends 2548-Q4 with budget lines only (every
    # KPI missing: composite empty). P0's 2549 thresholds of K1 go down by 10% (2549-Q2 closed:
    # changed since closing).
    kpis_only = _only(story.report(0, "lead", "2549-Q1"), "kpi", 2, drop="K4")
    story.write(f"{p[0]}_kpis_2549-Q1.csv", _with_kpis(kpis_only, 0, K1="123456789.5"))
    story.write(f"{p[1]}_budget_2548-Q4.csv", _only(story.report(1, "lead", "2548-Q4"), "budget", 2))
    text = (registry / f"{p[0]}.yaml").read_text(encoding="utf-8")
    old = re.search(r"2549: \[([^\]]*)\]", text).group(1)  # K1's, the first KPI in the file
    new = ", ".join(str(Decimal(t) * Decimal("0.9")) for t in old.split(", "))
    _edit(registry / f"{p[0]}.yaml", f"2549: [{old}]", f"2549: [{new}]")
    # A quarantined file whose rows disagree on the period: it counts for its first row's
    # (pilot, agency, period) (scoring.md §6, quarantined count).
    mixed = demo._copy(story.report(4, "secondary", "2549-Q3"))
    mixed.lines = mixed.lines[:2]
    story.write(f"{p[4]}_mixed_2549-Q3.csv", mixed)
    text = (root / "inbox" / f"{p[4]}_mixed_2549-Q3.csv").read_text(encoding="utf-8").splitlines()
    text[2] = text[2].replace("2549-Q3", "2549-Q2")
    (root / "inbox" / f"{p[4]}_mixed_2549-Q3.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    # An agency outside P0 reports on it (quarantined); night 4's registry makes it a participant
    # and the file is reprocessed.
    outsider = next(a.code for a in story.agencies if a.code not in {c for c, _ in story.plans[0].agencies})
    outsider_report = demo.Report(p[0], outsider, "2549-Q3", date(2006, 7, 20), [
        {"line_type": "budget", "item_code": "ACT-L2-90", "layer": "2", "allocated_thb": "5000000.00",
         "disbursed_thb": "100000.00", "funding_source": "own", "note": None}])
    story.write(f"{p[0]}_{outsider}_2549-Q3.csv", outsider_report)
    story.night(NIGHT_3)
    yield "night 3", NIGHT_3

    # Night 4 reads no file, but the registry changed: P1 ends 2006-01-15 (2549-Q3 no longer
    # due), P3's lead and one secondary swap roles (the new lead never sent KPIs), P4's first
    # supporting agency becomes an adviser (no longer expected), P0's K4 becomes a `sum` KPI.
    _edit(registry / f"{p[1]}.yaml", "end: 2006-09-30", "end: 2006-01-15")
    lead3 = next(code for code, role in story.plans[3].agencies if role == "lead")
    second3 = next(code for code, role in story.plans[3].agencies if role == "secondary")
    _edit(registry / f"{p[3]}.yaml", f'{{code: "{lead3}", role: lead}}', f'{{code: "{lead3}", role: secondary}}')
    _edit(registry / f"{p[3]}.yaml", f'{{code: "{second3}", role: secondary}}', f'{{code: "{second3}", role: lead}}')
    supporting4 = next(code for code, role in story.plans[4].agencies if role == "supporting")
    _edit(registry / f"{p[4]}.yaml", f'{{code: "{supporting4}", role: supporting}}',
          f'{{code: "{supporting4}", role: advisory}}')
    text = (registry / f"{p[0]}.yaml").read_text(encoding="utf-8")
    k4 = text.index("code: K4")
    (registry / f"{p[0]}.yaml").write_text(
        text[:k4] + text[k4:].replace("aggregation: last", "aggregation: sum", 1), encoding="utf-8")
    _edit(registry / f"{p[0]}.yaml", "agencies:\n", f'agencies:\n  - {{code: "{outsider}", role: supporting}}\n')
    story.night(NIGHT_4)
    yield "night 4", NIGHT_4
    story.cli("reprocess", str(story.submission_id(f"{p[0]}_{outsider}_2549-Q3.csv")), *story.base(NIGHT_4))
    yield "reprocessed", NIGHT_4

    # The same warehouse rebuilt as of the days where the rules turn: 2549-Q3 ends 2006-06-30
    # (due that day); P2 (report_due_days 45) expects its reports by 2006-08-14 (no reminder yet),
    # a day later 1 day overdue, 30 days overdue on 2006-09-13 (level 2; P3's 2549-Q2 is at
    # level 3 throughout).
    for as_of in REBUILDS:
        story.cli("rebuild", *story.base(as_of))
        yield f"rebuilt as of {as_of}", as_of
