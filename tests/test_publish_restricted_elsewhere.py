"""`pilotkpi publish` completes a night whose restricted store is not beside the warehouse (verifier VJ F3).

A night run with `--restricted-store rs/secret.duckdb` committed, then failed to file its inbox
away (exit 5). The command it printed, `pilotkpi publish --warehouse … --inbox …`, had no
--restricted-store (publish had no such option): publish read the default store's place, knew
only the open pilots' files, filed those away, marked the night completed, and left the restricted
pilot's files in the inbox; the next night recorded them again. Now the printed command names the
store; publish without it is refused whole, as every job that does not name the store its warehouse
recorded (verifier VI F1); publish with it files away every file left and completes the night; the
next night sees no file. (flows/completion.py also never marks file_away done while files recorded
in a store it did not read are left: a warehouse from before the store's identity was recorded.)

Scenario: tests/test_restricted_store.py's (12 files, sorted by name: a_lead_q1 … g_no_pilot, 7
files of open pilots or none, then r1 … r5 of the restricted pilot). Filing away is made to fail
after its first file (a_lead_q1.csv), as the verifier's run_filing_fails.py does.
"""
from __future__ import annotations

from click.testing import CliRunner

from flows.cli import main
from pilots import inbox as inbox_module
from tests.test_restricted_store import RESTRICTED_FILES, make_restricted_scenario, rows, run


def _publish(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["publish", *args])
    return result.exit_code, result.output


def _left(inbox) -> list[str]:
    return sorted(p.name for p in inbox.iterdir() if p.is_file())


def test_publish_files_away_a_restricted_store_named_elsewhere(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_restricted_scenario(tmp_path)
    (tmp_path / "rs").mkdir(mode=0o700)
    rs, wh = tmp_path / "rs" / "secret.duckdb", tmp_path / "wh.duckdb"
    real = inbox_module.file_away

    def failing(files, folder, moving=None, left=None):
        files = list(files)
        real(files[:1], folder, moving, left)
        raise inbox_module.FilingError(f"{len(files) - 1} file(s) were not filed away: disk full")

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module, "file_away", failing)
        code, out = run(tmp_path, registry, inbox, "--restricted-store", str(rs))
    assert code == 5, out
    assert "files seen 12:" in out, out
    command = f"pilotkpi publish --warehouse {wh} --inbox {inbox} --restricted-store {rs}"
    assert command in out, out  # before: no --restricted-store
    restricted = sorted(RESTRICTED_FILES)
    open_left = ["b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv", "e_dup.csv", "f_bad.csv", "g_no_pilot.csv"]
    assert _left(inbox) == open_left + restricted

    # The store not named: publish is refused whole (the warehouse records a store its jobs wrote,
    # warehouse/store_identity.py), nothing filed away and the night not completed.
    code, out = _publish("--warehouse", str(wh), "--inbox", str(inbox))
    assert code == 1, out
    assert "no restricted store here, yet this warehouse's jobs wrote one" in out, out
    assert "completed run(s)" not in out, out  # before: "completed run(s): …" with 5 files left
    assert _left(inbox) == open_left + restricted
    assert rows(wh, "SELECT count(*) FROM ops.runs WHERE completed_at IS NULL AND status = 'committed_with_errors'"
                ) == [(1,)]

    # Named, as the night printed it: the rest filed away, the night completed.
    code, out = _publish(*command.split()[2:])
    assert code == 0, out
    assert "filed away 11 file(s)" in out and "completed run(s): " in out and "not filed away" not in out, out
    assert _left(inbox) == []
    assert len([*(inbox / "processed").iterdir(), *(inbox / "quarantine").iterdir()]) == 12
    assert rows(wh, "SELECT count(*) FROM ops.runs WHERE completed_at IS NULL AND status = 'committed_with_errors'"
                ) == [(0,)]

    # The next night sees nothing new: no file recorded again (before: 5 more duplicates in the store).
    before = rows(rs, "SELECT count(*) FROM ingest.submissions")
    code, out = run(tmp_path, registry, inbox, "--restricted-store", str(rs))
    assert code == 0, out
    assert "files seen 0:" in out, out
    assert rows(rs, "SELECT count(*) FROM ingest.submissions") == before == [(5,)]
