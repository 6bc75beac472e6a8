"""A broken restricted pilot's file (reviewer RV7 F1): its problems name its KPI codes and quote its
values, so the 503 page (web/app.py `registry_broken`) shows them whole only to an account cleared
for restricted pilots; any other account reads the file and a neutral sentence, in Thai and
English. The open web log has the files and the number of problems only, and a decision's journal
(web/decisions.py `_one_line`) keeps the neutral form (shared/spec/warehouse.md, web.md
"Restricted pilots"). An open pilot's problems are shown whole to everyone
(tests/web/test_web_honest_pages.py)."""
from __future__ import annotations

import logging
import re

from pilots.registry import RegistryError, load_registry
from tests.web.conftest import text_of

FILE = "pilots/PLT-2548-006.yaml"
TH_NEUTRAL = f"{FILE}: ไฟล์ของโครงการชั้นความลับผิดกฎของทะเบียน ผู้ดูแลระบบดูรายละเอียดได้ด้วยคำสั่ง pilotkpi check"
EN_NEUTRAL = f"{FILE}: a restricted pilot's file breaks a rule; the operator sees it with pilotkpi check"
SECRETS = ("S1", "S2", "Security agencies linked", "PLT-2548-006 /")


def _break_restricted(site_dir, classification: str | None = "restricted") -> None:
    """RV7's three faults in the restricted pilot's file: thresholds not decreasing (S2's values
    quoted), a key twice (S1) and a stray LRM in S1's name (the name quoted)."""
    f = site_dir / "registry" / FILE
    t = f.read_text(encoding="utf-8")
    t = t.replace("2549: [20, 16, 12, 9, 6]", "2549: [20, 16, 16, 9, 6]")
    t = t.replace("    weight: 50\n    thresholds:\n      2548: [30",
                  "    weight: 50\n    weight: 50\n    thresholds:\n      2548: [30")
    t = t.replace("name_en: Security agencies linked", 'name_en: "Security agencies linked\\u200e"')
    if classification != "restricted":
        t = t.replace("classification: restricted\n", f"classification: {classification}\n" if classification else "")
    f.write_text(t, encoding="utf-8")


def _problems(page: str) -> str:
    return " ".join(" ".join(text_of(ul).split()) for ul in re.findall(r'<ul class="problems">.*?</ul>', page, re.S))


def _uncleared_committee(site_dir) -> None:
    from web.accounts import accounts_path, add

    add(accounts_path(site_dir / "warehouse.duckdb"), "plain-committee", "committee", "plain committee password", [])


def test_a_restricted_pilots_problems_reach_only_cleared_accounts_and_never_the_log(site_dir, client_for, caplog):
    _break_restricted(site_dir)
    _uncleared_committee(site_dir)
    caplog.set_level(logging.ERROR, logger="pilotkpi.web")
    agency, cleared = client_for("demo-agency"), client_for("demo-committee")
    plain, analyst = client_for(), client_for("demo-analyst")
    assert plain.sign_in("plain-committee", "plain committee password").status_code == 303
    for client, paths in ((agency, ("/", "/submissions")), (plain, ("/submissions", "/quarters")),
                          (analyst, ("/submissions",))):
        for path in paths:
            r = client.get(path)
            assert r.status_code == 503 and 'data-store="registry"' in r.text
            text = text_of(r.text)
            for secret in SECRETS:
                assert secret not in text, (path, secret)
            assert _problems(r.text) == f"{TH_NEUTRAL} {EN_NEUTRAL}"  # one line a file, each language
    r = cleared.get("/submissions")
    assert r.status_code == 503
    shown = _problems(r.text)
    for secret in SECRETS:  # the cleared committee reads them whole
        assert secret in shown, secret
    assert "a restricted pilot's file breaks a rule" not in shown
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "pilotkpi.web")
    assert "broken registry" in logged and FILE in logged
    for secret in SECRETS + ("thresholds", "got "):
        assert secret not in logged, secret


def test_a_file_whose_classification_cannot_be_read_counts_as_restricted(site_dir, client_for):
    """No `classification:` in the file; the published copy still holds the pilot as restricted; and
    a new pilot's file the published copy does not know, without a classification, is hidden too."""
    _break_restricted(site_dir, classification=None)
    new = site_dir / "registry" / "pilots" / "PLT-2549-099.yaml"
    new.write_text("pilot_id: PLT-2549-099\nname_en: Secret thing\nkpis:\n  - code: Q7\n", encoding="utf-8")
    agency = client_for("demo-agency")
    text = _problems(agency.get("/").text)
    assert EN_NEUTRAL in text and "pilots/PLT-2549-099.yaml: a restricted pilot's file breaks a rule" in text
    for secret in SECRETS + ("Q7", "Secret thing"):
        assert secret not in text, secret


def test_an_open_pilot_its_file_now_calls_restricted_is_hidden_too(site_dir, client_for):
    """The published copy says open, the file says restricted (a pilot being reclassified): either
    saying restricted is enough."""
    f = site_dir / "registry" / "pilots" / "PLT-2548-004.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("classification: open", "classification: restricted").replace(
        '{code: "10004", role: secondary}', '{code: "10004", role: lead}'), encoding="utf-8")
    text = _problems(client_for("demo-agency").get("/").text)
    assert text.endswith("pilots/PLT-2548-004.yaml: a restricted pilot's file breaks a rule; the operator sees it "
                         "with pilotkpi check") and "lead agency" not in text, text


def test_a_decision_that_meets_a_broken_restricted_pilot_keeps_only_the_neutral_line(site_dir, client_for):
    """web/decisions.py `_one_line`, which the journal and the decision's page keep as the reason."""
    from web.decisions import _one_line

    _break_restricted(site_dir)
    site = client_for.app.state.site
    try:
        load_registry(site_dir / "registry")
    except RegistryError as exc:
        error = exc
    wrapped = RuntimeError("the job failed")
    wrapped.__cause__ = error
    for exc in (error, wrapped):
        for s in (None, site):
            line = _one_line(exc) if s is None else _one_line(exc, s)
            assert line == f"broken registry: {EN_NEUTRAL}", line
    # an open pilot's problem stays whole where the site can tell
    open_file = site_dir / "registry" / "pilots" / "PLT-2548-004.yaml"
    open_file.write_text(open_file.read_text(encoding="utf-8").replace(
        '{code: "10004", role: secondary}', '{code: "10004", role: lead}'), encoding="utf-8")
    try:
        load_registry(site_dir / "registry")
    except RegistryError as exc:
        error = exc
    line = _one_line(error, site)
    assert ("pilots/PLT-2548-004.yaml: PLT-2548-004: every pilot must have exactly one lead agency (found 2)"
            in line and EN_NEUTRAL in line), line
    for secret in SECRETS:
        assert secret not in line, secret


def test_a_decisions_job_is_refused_before_prefect_reads_a_broken_registry(site_dir, client_for, monkeypatch):
    """The decision's job is not started on a broken registry (its Prefect task would log every
    problem's text at ERROR to the web's log): refused with the neutral line, nothing run."""
    from flows import approval as jobs
    from web.decisions import Decision

    _break_restricted(site_dir)
    ran = []
    monkeypatch.setattr(jobs, "close_quarter", lambda *a, **k: ran.append(a) or (_ for _ in ()).throw(
        RuntimeError("PLT-2548-006 / S2: the job itself met it")))
    engine = client_for.app.state.site.decisions
    outcome = engine._run_job(Decision("d1", "k1", "close", {"period": "2549-Q3"}, "demo-committee", "now"))
    assert outcome == {"event": "refused", "reason": f"broken registry: {EN_NEUTRAL}"}, outcome
    assert not ran
