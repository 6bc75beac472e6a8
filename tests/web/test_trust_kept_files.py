"""A checked file kept for "send" (web/agency.py KeptFiles) is deleted when its session ends, and
the files kept in all are bounded. Main deleted it only when sent or replaced by the session's
next check: after sign-out or 8 idle hours it stayed in the temporary folder until the web
stopped, and signed-in sessions are never dropped for room, so an agency could fill /tmp with
files of up to 20 MiB, one per sign-in (verifier V5, r12)."""
from __future__ import annotations

import re

from click.testing import CliRunner

from flows.cli import main
from tests.web.conftest import Client, report, verdict
from web.agency import MAX_KEPT_PER_ACCOUNT, Checked, KeptFiles
from web.auth import IDLE_SECONDS, PRUNE_SECONDS, Session


def kept(site) -> list[bytes]:
    return sorted(p.read_bytes() for p in site.keep_dir.iterdir())


def checked_and_kept(client, site, data: bytes = None) -> str:
    page = client.upload("dbd-2549-q3.csv", data or report()).text
    assert verdict(page) == "new"
    return page


def test_sign_out_deletes_the_sessions_checked_file(client_for):
    site = client_for.app.state.site
    agency = client_for("demo-agency")
    page = checked_and_kept(agency, site)
    assert kept(site) == [report()]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert agency.post("/signout", data={"csrf": csrf}).status_code == 303
    assert kept(site) == []
    assert site.kept.count_and_bytes() == (0, 0)


def test_a_session_idle_8_hours_has_its_checked_file_deleted_without_coming_back(client_for):
    site = client_for.app.state.site
    agency, analyst = client_for("demo-agency"), client_for("demo-analyst")
    checked_and_kept(agency, site)
    real = site.sessions._clock
    site.sessions._clock = lambda: real() + IDLE_SECONDS + PRUNE_SECONDS + 1
    assert analyst.get("/").status_code == 303  # idle too: any request looks for idle sessions
    assert kept(site) == []


def test_a_new_password_or_disable_deletes_the_file_at_once(client_for, site_dir):
    site = client_for.app.state.site
    analyst = client_for("demo-analyst")

    def accounts(*command: str) -> None:
        result = CliRunner().invoke(main, ["accounts", *command, "--warehouse", str(site_dir / "warehouse.duckdb")],
                                    input="a new password 2006\n")
        assert result.exit_code == 0, result.output

    checked_and_kept(client_for("demo-agency"), site)
    accounts("set-password", "demo-agency", "--password-stdin")
    assert analyst.get("/").status_code == 200  # someone else's request: the agency never came back
    assert kept(site) == []

    agency = Client(client_for.app)
    assert agency.sign_in("demo-agency", "a new password 2006").status_code == 303
    checked_and_kept(agency, site)
    accounts("disable", "demo-agency")
    assert analyst.get("/").status_code == 200
    assert kept(site) == []
    agency.close()


def test_an_account_keeps_at_most_five_files_the_oldest_session_must_check_again(client_for):
    site = client_for.app.state.site
    sessions = [client_for("demo-agency") for _ in range(MAX_KEPT_PER_ACCOUNT + 1)]
    pages = [checked_and_kept(s, site, report(disbursed=f"500000{i}.00")) for i, s in enumerate(sessions)]
    assert len(kept(site)) == MAX_KEPT_PER_ACCOUNT
    assert report(disbursed="5000000.00") not in kept(site)  # the oldest went
    first = sessions[0].send(pages[0])
    assert first.status_code == 409  # "the check result has expired; check the file again"
    last = sessions[-1].send(pages[-1])
    assert last.status_code == 303 and last.headers["location"].startswith("/receipts/")
    assert len(kept(site)) == MAX_KEPT_PER_ACCOUNT - 1  # sent: no longer kept


def test_the_bytes_kept_in_all_are_bounded_oldest_first(tmp_path):
    files = KeptFiles(max_per_account=3, max_bytes=250)
    people = [Session(f"s{i}", "csrf", 0.0, f"agency-{i}") for i in range(4)]
    sessions = [p.checked for p in people]

    def check(i: int, size: int) -> Checked:
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * size)
        return Checked(f"t{i}", f"f{i}.csv", size, "", [], path)

    made = [check(i, 100) for i in range(4)]
    for i, (person, c) in enumerate(zip(people, made)):
        files.keep(person, f"agency-{i}", c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f2", "f3"]  # 200 bytes; a third passed 250
    assert sessions[0] == {} and sessions[1] == {} and list(sessions[3]) == ["t3"]
    assert files.claim(sessions[1], "t1") is None  # dropped for room: the check has expired
    assert files.claim(sessions[2], "t2") is made[2] and sessions[2] == {}
    assert files.count_and_bytes() == (1, 100)
    big = check(9, 1000)  # larger than the bound alone: the newest is always kept
    files.keep(people[0], "agency-0", big)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f2", "f9"]  # f2 was claimed (sent) and not dropped
    files.release(sessions[0])
    assert not big.kept_at.exists() and files.count_and_bytes() == (0, 0)
    # A session that ended (signed out in another tab) while its file was being checked keeps none.
    people[1].ended = True
    late = check(10, 10)
    files.keep(people[1], "agency-1", late)
    assert not late.kept_at.exists() and sessions[1] == {} and files.count_and_bytes() == (0, 0)
