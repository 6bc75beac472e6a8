"""`pilotkpi accounts`: the owner-only accounts file, argon2id hashes, never a password shown."""
from __future__ import annotations

import json
import stat

import duckdb
from click.testing import CliRunner

from flows.cli import main
from web.accounts import accounts_path, load, verify


def accounts(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["accounts", *args], input=stdin)


def test_add_list_set_password_disable(tmp_path):
    wh = tmp_path / "pk.duckdb"
    path = accounts_path(wh)
    with duckdb.connect(str(tmp_path / "pk.published.duckdb")) as con:  # the registry an agency code is checked in
        con.execute("CREATE SCHEMA registry; CREATE TABLE registry.agencies AS SELECT '10004' AS agency_code")
    assert path == tmp_path / "pk.accounts.json"
    r = accounts("add", "somchai.dbd", "--role", "agency", "--agency", "10004", "--warehouse", str(wh),
                 "--password-stdin", stdin="correct horse battery\n")
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text(encoding="utf-8")
    assert "correct horse" not in raw and json.loads(raw)["accounts"][0]["password_hash"].startswith("$argon2id$")
    assert accounts("add", "analyst1", "--role", "analyst", "--warehouse", str(wh), "--password-stdin",
                    stdin="another long one\n").exit_code == 0
    listed = accounts("list", "--warehouse", str(wh)).output
    assert listed == "analyst1\tanalyst\t\nsomchai.dbd\tagency\t10004\n" and "argon2" not in listed
    account = load(path)["somchai.dbd"]
    assert verify(account, "correct horse battery") and not verify(account, "correct horse batterY")
    assert accounts("disable", "somchai.dbd", "--warehouse", str(wh)).exit_code == 0
    assert not verify(load(path)["somchai.dbd"], "correct horse battery")
    assert "DISABLED" in accounts("list", "--warehouse", str(wh)).output
    assert accounts("set-password", "somchai.dbd", "--warehouse", str(wh), "--password-stdin",
                    stdin="a new password here\n").exit_code == 0
    account = load(path)["somchai.dbd"]
    assert verify(account, "a new password here") and not account.disabled


def test_refusals_are_one_line(tmp_path):
    wh = str(tmp_path / "pk.duckdb")
    cases = [
        (["add", "x", "--role", "agency", "--warehouse", wh, "--password-stdin"], "long enough pw\n",
         "pilotkpi: an agency account needs --agency CODE (one or more)\n"),
        (["add", "x", "--role", "agency", "--agency", "3009", "--warehouse", wh, "--password-stdin"], "long enough pw\n",
         "pilotkpi: not a 5-digit agency code: '3009'\n"),
        (["add", "x", "--role", "analyst", "--warehouse", wh, "--password-stdin"], "short\n",
         "pilotkpi: a password needs at least 10 characters\n"),
        (["add", "../x", "--role", "analyst", "--warehouse", wh, "--password-stdin"], "long enough pw\n",
         "pilotkpi: '../x' is not an account name (letters, digits and . _ @ -, at most 64)\n"),
        (["set-password", "nobody", "--warehouse", wh, "--password-stdin"], "long enough pw\n",
         "pilotkpi: no account named 'nobody'\n"),
    ]
    for args, stdin, message in cases:
        r = accounts(*args, stdin=stdin)
        assert r.exit_code == 1 and r.stderr == message, (args, r.output)
