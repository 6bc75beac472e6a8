"""`pilotkpi accounts set-password` (the usual remedy for a leaked password) ends the account's
sessions: main ended them only for `disable`, so a thief's session signed in with the leaked
password kept working for up to 8 idle hours, renewed by each request (verifier V5, r08)."""
from __future__ import annotations

from click.testing import CliRunner

from flows.cli import main
from tests.web.conftest import Client


def set_password(site_dir, name: str, password: str) -> None:
    result = CliRunner().invoke(main, ["accounts", "set-password", name, "--password-stdin",
                                       "--warehouse", str(site_dir / "warehouse.duckdb")], input=f"{password}\n")
    assert result.exit_code == 0, result.output


def test_a_new_password_signs_out_every_session_of_the_old_one(client_for, passwords, site_dir):
    owner, thief = client_for("demo-agency"), client_for("demo-agency")
    analyst = client_for("demo-analyst")
    assert thief.get("/submissions").status_code == 200
    set_password(site_dir, "demo-agency", "a new password 2006")

    for session in (thief, owner):  # each at its next request, whatever the page
        r = session.get("/submissions")
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert session.get("/").headers["location"] == "/signin"
    assert analyst.get("/").status_code == 200  # another account is not touched
    assert owner.sign_in("demo-agency", passwords["demo-agency"]).status_code == 401
    assert owner.sign_in("demo-agency", "a new password 2006").status_code == 303
    assert owner.get("/").status_code == 200


def test_the_same_password_set_again_also_signs_out(client_for, passwords, site_dir):
    # The operator may not know which password leaked, nor change it: a new hash (new salt) ends
    # the sessions all the same.
    session = client_for("demo-agency")
    set_password(site_dir, "demo-agency", passwords["demo-agency"])
    assert session.get("/").headers["location"] == "/signin"
    assert session.sign_in("demo-agency", passwords["demo-agency"]).status_code == 303


def test_disabled_then_enabled_again_before_the_thief_came_back(client_for, passwords, site_dir):
    # Main ended a disabled account's sessions only at their next request: one that made none
    # while the account was disabled was signed in again by set-password.
    thief = client_for("demo-agency")
    result = CliRunner().invoke(main, ["accounts", "disable", "demo-agency",
                                       "--warehouse", str(site_dir / "warehouse.duckdb")])
    assert result.exit_code == 0, result.output
    set_password(site_dir, "demo-agency", "a new password 2006")
    assert thief.get("/").headers["location"] == "/signin"
    fresh = Client(client_for.app)
    assert fresh.sign_in("demo-agency", "a new password 2006").status_code == 303
    fresh.close()
