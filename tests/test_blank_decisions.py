"""A decision names who takes it, and why where a reason is required (data-quality.md §2: closing
"records who closed it"; reject and reopen take --reason). A blank --by or --reason (empty, spaces,
zero-width characters, a placeholder such as `-`, as pilots/normalise.clean_text reads a report
cell) is refused with exit 1, in English and Thai, before anything is written: the warehouse, the
analysts' copy and the summaries stay byte for byte as they were.

On tests/test_flow.py's scenario as of 2005-05-15: 2548-Q1 closed by Somchai (decision 1), then a
night with the lead's correction for Q1, which is held. The CLI refuses in its precheck (before
Prefect starts); the jobs themselves (flows/approval.py, what the web's decisions run) refuse the
same texts, and record no run.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import rows
from tests.test_flow import AS_OF, _csv, run_cli
from warehouse.publish import published_path

P = "PLT-2548-003"
THAI_BY = "ต้องระบุชื่อผู้ตัดสินใจ"
THAI_REASON = "ต้องระบุเหตุผล"


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def digests(root: Path) -> dict[str, str]:
    """Every file of the folder (warehouse, analysts' copy, restricted files, out/), by its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


BLANK_BY = ["", "   ", "\t", "\u200b \u200b", "-"]
BLANK_REASON = ["", "  ", " \u200b", "n/a"]


def by_commands(by: str, sid: int) -> list[list]:
    return [["close-quarter", "2548-Q2", "--pilot", P, "--by", by],
            ["close-quarter", "2548-Q2", "--by", by, "--note", "meeting 4/2548"],
            ["reopen", "2548-Q1", "--pilot", P, "--by", by, "--reason", "ministry asked"],
            ["approve", sid, "--by", by, "--note", "typo"],
            ["reject", sid, "--by", by, "--reason", "wrong pilot"]]


def reason_commands(reason: str, sid: int) -> list[list]:
    return [["reopen", "2548-Q1", "--pilot", P, "--by", "Somchai", "--reason", reason],
            ["reject", sid, "--by", "Somchai", "--reason", reason]]


def job_calls(root: Path, wh: Path, sid: int) -> list[tuple]:
    """(what, call, the Thai words expected): the jobs the web's decisions run (web/decisions.py)."""
    from flows import approval as jobs

    common = dict(registry_dir=root / "registry", warehouse_path=wh, out_dir=root / "out")
    return [("close", lambda: jobs.close_quarter("2548-Q2", P, " ", None, **common), THAI_BY),
            ("reopen", lambda: jobs.reopen("2548-Q1", P, "Somchai", "\u200b", **common), THAI_REASON),
            ("reject", lambda: jobs.decide_held("reject", sid, "Somchai", "  ", **common), THAI_REASON),
            ("approve", lambda: jobs.decide_held("approve", sid, "", "typo", **common), THAI_BY)]


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness, scenario_night):
    from warehouse.errors import Refusal

    root = tmp_path_factory.mktemp("blank")
    shutil.copytree(scenario_night, root, dirs_exist_ok=True)
    wh = root / "wh.duckdb"
    base = ["--registry", root / "registry", "--warehouse", wh, "--out", root / "out", "--as-of", AS_OF]
    code, out = cli("close-quarter", "2548-Q1", "--pilot", P, "--by", "Somchai", *base)
    assert code == 0, out
    late = root / "inbox2"
    late.mkdir()
    (late / "g_lead_q1_fix.csv").write_bytes(_csv(
        f"{P},03009,2548-Q1,2005-05-10,kpi,K1,,57,,,,",
        f"{P},03009,2548-Q1,2005-05-10,kpi,K2,,60,,,,",
        f"{P},03009,2548-Q1,2005-05-10,budget,ACT-1,5,,1000000,250000,own,"))
    code, out = run_cli(root / "registry", late, root)
    assert code == 0, out
    [(sid,)] = rows(wh, "SELECT submission_id FROM ingest.submissions WHERE status = 'held'")
    s: dict = {"root": root, "wh": wh, "sid": sid, "before": digests(root),
               "runs_before": rows(wh, "SELECT count(*) FROM ops.runs")}
    s["blank_by"] = [(args, *cli(*args, *base)) for by in BLANK_BY for args in by_commands(by, sid)]
    s["blank_reason"] = [(args, *cli(*args, *base)) for r in BLANK_REASON for args in reason_commands(r, sid)]
    s["after_cli"] = digests(root)
    s["jobs"] = []
    for what, call, thai in job_calls(root, wh, sid):
        try:
            call()
            s["jobs"].append((what, None, thai))
        except Refusal as exc:
            s["jobs"].append((what, str(exc), thai))
    s["after_jobs"] = digests(root)
    s["runs_after"] = rows(wh, "SELECT count(*) FROM ops.runs")
    s["decisions_after"] = rows(published_path(wh), "SELECT decision_id, action, decided_by FROM approval.decisions")
    s["closures_after"] = rows(published_path(wh), "SELECT period, closed_by FROM approval.quarter_closures")
    s["named"] = cli("reject", sid, "--by", "Malee", "--reason", "sent twice", *base)
    s["final"] = rows(published_path(wh), "SELECT decision_id, action, decided_by, note FROM approval.decisions "
                                           "ORDER BY 1")
    s["final_status"] = rows(wh, f"SELECT status FROM ingest.submissions WHERE submission_id = {sid}")
    return s


def test_a_blank_by_is_refused_by_every_decision_command(story):
    assert len(story["blank_by"]) == len(BLANK_BY) * 5
    for args, code, out in story["blank_by"]:
        assert code == 1, (args, out)
        assert "--by is blank: a decision records who takes it; nothing was changed" in out, out
        assert THAI_BY in out and "จึงไม่ได้เปลี่ยนแปลงสิ่งใด" in out, out


def test_a_blank_reason_is_refused_where_one_is_required(story):
    assert len(story["blank_reason"]) == len(BLANK_REASON) * 2
    for args, code, out in story["blank_reason"]:
        assert code == 1, (args, out)
        assert "--reason is blank: this decision records why it was taken; nothing was changed" in out, out
        assert THAI_REASON in out, out


def test_the_refused_commands_change_no_byte(story):
    """Warehouse, analysts' copy, restricted files and summaries, byte for byte."""
    assert story["after_cli"] == story["before"]
    assert any(name.endswith("published.duckdb") for name in story["before"])


def test_the_jobs_refuse_blank_texts_too_and_record_no_run(story):
    """The web's decisions call these jobs with the account's name as `by`: the rule is the job's,
    whatever its caller checked before."""
    for what, refused, thai in story["jobs"]:
        assert refused is not None, what
        assert thai in refused and "is blank" in refused, (what, refused)
    assert story["after_jobs"] == story["before"]
    assert story["runs_after"] == story["runs_before"]


def test_nothing_blank_was_recorded_and_a_named_decision_goes_through(story):
    assert story["decisions_after"] == [(1, "close", "Somchai")]
    assert story["closures_after"] == [("2548-Q1", "Somchai")]
    code, out = story["named"]
    assert code == 0, out
    assert story["final_status"] == [("rejected",)]
    assert story["final"] == [(1, "close", "Somchai", None), (2, "reject", "Malee", "sent twice")]


@pytest.mark.parametrize("name", ["สมชาย ใจดี", "ศรี\u200dสุดา", "0", "7", "ก", "Somchai Jai-dee", "นาง ก."])
def test_a_name_that_shows_is_not_blank(name):
    """Thai names, a joiner inside a name, a digit, one Thai letter, a hyphenated name: each shows,
    so each is recorded (the rule refuses only what records nobody)."""
    from pilots.approval import is_blank, refuse_blank

    assert not is_blank(name)
    refuse_blank(name, name, reason_required=True)  # no exception


@pytest.mark.parametrize("text", ["\u2060", "\u200e\u200f", "\u00ad", "\u3164", "\u2800", "\x00", "\x1b", " \u2028 "])
def test_a_text_of_characters_that_show_nothing_is_blank(text):
    """Word joiner, bidi marks, soft hyphen, the Hangul filler, the blank Braille pattern, NUL, ESC,
    a line separator: printed, each shows nothing, so a name of them records nobody."""
    from pilots.approval import BLANK_BY, is_blank, refuse_blank
    from warehouse.errors import Refused

    assert is_blank(text)
    with pytest.raises(Refused) as refused:
        refuse_blank(text)
    assert str(refused.value) == BLANK_BY


@pytest.mark.parametrize("reason", ["-", "n/a", "รอข้อมูล", "\u200b", "\u2060"])
def test_the_web_form_refuses_a_blank_reason_as_the_job_would(reason):
    """The web's form (web/decisions.read_form) reads a reason with the jobs' rule: a placeholder or
    an invisible reason is refused at once (a 400 page), not queued for the job to refuse."""
    from web.decisions import BadForm, read_form

    with pytest.raises(BadForm, match="^reason is required$"):
        read_form({"kind": "reject", "submission_id": "7", "reason": reason})
    assert read_form({"kind": "reject", "submission_id": "7", "reason": "ส่งซ้ำ"}) == (
        "reject", {"submission_id": 7, "reason": "ส่งซ้ำ"})
