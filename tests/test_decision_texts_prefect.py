"""The committee's free text never reaches Prefect's database (warehouse.md, "Restricted pilots":
Prefect's database quotes no restricted value; docs/security.md).

Prefect keeps each flow run's parameters (its UI and API show them). The decision jobs of
flows/approval.py take the close note, the reopen reason and the approve/reject reason as a
pydantic SecretStr, which Prefect stores as '**********': a restricted pilot's texts are kept in
its restricted store only, and an open pilot's in the warehouse, never in Prefect.

tests/test_restricted_decisions.py's story on tests/test_restricted_store.py's scenario (restricted
PLT-2548-099, open PLT-2548-003; as of 2005-05-15), every decision with a text of its own:
  1 close-quarter 2548-Q2 --pilot PLT-2548-099 --note CLOSE_NOTE
  2 a night with u1 and u2 of the restricted pilot: both held
  3 approve u1 --note APPROVE_NOTE; reject u2 --reason REJECT_REASON
  4 reopen 2548-Q2 --pilot PLT-2548-099 --reason REOPEN_REASON
  5 close-quarter 2548-Q2 --pilot PLT-2548-003 --note OPEN_NOTE (an open pilot's text, sealed alike)
Then every flow run, task run, log and artifact of Prefect's API is read, and Prefect's database
file searched byte by byte.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_pilot_moves import cli, q
from tests.test_restricted_decisions import U1, U2
from tests.test_restricted_store import SECRET, make_restricted_scenario, run
from warehouse.paths import files_of

OPEN = "PLT-2548-003"
CLOSE_NOTE, APPROVE_NOTE = "close-note-K7VX-secret", "approve-note-K7VX-secret"
REJECT_REASON, REOPEN_REASON = "reject-reason-K7VX-secret", "reopen-reason-K7VX-secret"
OPEN_NOTE = "open-note-K7VX"
TEXTS = (CLOSE_NOTE, APPROVE_NOTE, REJECT_REASON, REOPEN_REASON, OPEN_NOTE)
DECISION_FLOWS = ("close-quarter", "reopen", "decide-held-file")
MASK = "**********"


def _every(read, **kw) -> list:
    """Every object a Prefect read_* call returns, page by page."""
    found, offset = [], 0
    while True:
        page = read(limit=200, offset=offset, **kw)
        found += page
        if len(page) < 200:
            return found
        offset += len(page)


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    root = tmp_path_factory.mktemp("decision-texts")
    registry, inbox = make_restricted_scenario(root)
    assert run(root, registry, inbox)[0] == 0
    wh = root / "wh.duckdb"
    base = ["--registry", registry, "--warehouse", wh, "--out", root / "out", "--as-of", "2005-05-15"]
    steps = {"close": cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", "--note", CLOSE_NOTE,
                          *base)}
    late = root / "inbox2"
    late.mkdir()
    for name, data in (U1, U2):
        (late / name).write_bytes(data)
    assert run(root, registry, late)[0] == 0
    ids = dict(q(files_of(wh).restricted, "SELECT file_name, submission_id FROM ingest.submissions "
                                          "WHERE status = 'held'"))
    u1, u2 = ids[U1[0]], ids[U2[0]]
    steps["approve"] = cli("approve", u1, "--by", "Somchai", "--note", APPROVE_NOTE, *base)
    steps["reject"] = cli("reject", u2, "--by", "Somchai", "--reason", REJECT_REASON, *base)
    steps["reopen"] = cli("reopen", "2548-Q2", "--pilot", SECRET, "--by", "Malee", "--reason", REOPEN_REASON, *base)
    steps["open close"] = cli("close-quarter", "2548-Q2", "--pilot", OPEN, "--by", "Somchai", "--note", OPEN_NOTE,
                              *base)
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        decision_runs = _every(client.read_flow_runs,
                               flow_filter=FlowFilter(name=FlowFilterName(any_=list(DECISION_FLOWS))))
        flows = {f.id: f.name for f in _every(client.read_flows)}
        api = {"flow runs": [r.model_dump(mode="json") for r in _every(client.read_flow_runs)],
               "task runs": [r.model_dump(mode="json") for r in _every(client.read_task_runs)],
               "logs": [r.model_dump(mode="json") for r in _every(client.read_logs)],
               "artifacts": [r.model_dump(mode="json") for r in _every(client.read_artifacts)]}
    prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]).parent
    return {"root": root, "wh": wh, "u1": u1, "u2": u2, "steps": steps, "api": api, "prefect_db": prefect_db,
            "decision_runs": [(flows[r.flow_id], r.parameters) for r in decision_runs]}


def test_each_decision_was_applied(story):
    assert {name: code for name, (code, _) in story["steps"].items()} == {
        "close": 0, "approve": 0, "reject": 0, "reopen": 0, "open close": 0}, story["steps"]


def test_prefect_keeps_each_decision_runs_text_masked(story):
    """Each of the story's decision runs is in Prefect's database with its other parameters as
    given, and its text as '**********'."""
    runs = [(name, p) for name, p in story["decision_runs"] if str(p.get("warehouse_path")) == str(story["wh"])]
    seen = sorted((name, p.get("action"), p.get("pilot_id"), p.get("submission_id"), p.get("note", p.get("reason")))
                  for name, p in runs)
    assert seen == sorted([
        ("close-quarter", None, SECRET, None, MASK),
        ("decide-held-file", "approve", None, story["u1"], MASK),
        ("decide-held-file", "reject", None, story["u2"], MASK),
        ("reopen", None, SECRET, None, MASK),
        ("close-quarter", None, OPEN, None, MASK)])


def test_prefects_api_quotes_none_of_the_texts(story):
    for kind, objects in story["api"].items():
        assert objects or kind in ("logs", "artifacts"), kind  # logs and artifacts: none at WARNING
        data = json.dumps(objects, ensure_ascii=False)
        assert [t for t in TEXTS if t in data] == [], kind
    assert len(story["api"]["flow runs"]) >= 5


def test_prefects_database_holds_none_of_the_texts(story):
    files = [p for p in sorted(story["prefect_db"].rglob("*")) if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert [t for t in TEXTS if t.encode() in data] == [], path


def test_the_stores_keep_the_texts_as_before(story):
    """The texts are where pilots/approval.py puts them: a restricted pilot's in its restricted
    store only (the open rows without them), an open pilot's in the warehouse."""
    wh, rs = story["wh"], files_of(story["wh"]).restricted
    closures = ("SELECT pilot_id, closed_by, note, reopened_by, reopen_reason FROM approval.quarter_closures "
                "WHERE period = '2548-Q2' ORDER BY pilot_id, closed_at")
    assert q(wh, closures) == [(OPEN, "Somchai", OPEN_NOTE, None, None), (SECRET, "Somchai", None, "Malee", None)]
    assert q(rs, closures) == [(SECRET, "Somchai", CLOSE_NOTE, "Malee", REOPEN_REASON)]
    decisions = "SELECT decision_id, action, pilot_id, submission_id, note FROM approval.decisions ORDER BY 1"
    assert q(wh, decisions) == [(1, "close", SECRET, None, None), (4, "reopen", SECRET, None, None),
                                (5, "close", OPEN, None, OPEN_NOTE)]
    assert q(rs, decisions) == [(2, "approve", SECRET, story["u1"], APPROVE_NOTE),
                                (3, "reject", SECRET, story["u2"], REJECT_REASON)]
    for _, output in story["steps"].values():
        assert [t for t in TEXTS if t in output] == []
