"""`pilotkpi reprocess` shows an agency's file name and the values its messages quote on the
operator's terminal: control characters escaped, as `pilotkpi check` and every error line do.

docs/security.md: agency text that runs as code where it is shown, bidi and control characters,
is shown as visible stand-ins. A file name is the agency's text (Linux lets it hold ESC and BEL),
and so is a cell a message quotes. `reprocess` echoed both as they were: a file named with
`ESC ] 0 ; … BEL` retitled the operator's terminal, `ESC [ 2 J` in a cell cleared it. Now they
pass through warehouse/personal.printable (ESC as `\\x1b`, BEL as `\\x07`), as in `pilotkpi check`.

The scenario is tests/test_flow.py's (PLT-2548-003: K1 percent/last, thresholds [20..60]; K2 a
sum); a second pilot PLT-2548-004, the same but for its code, is registered after night 1.
"""
from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF, PILOT, _csv, make_scenario, run_cli
from tests.test_reprocess_rebuild import query

NEW = "PLT-2548-004"
RETITLE = "\x1b]0;pwned\x07"  # xterm's "set the window title" sequence
CLEAR = "\x1b[2J"             # erase the screen


def cli(*args) -> tuple[int, str]:
    """The command as on the operator's terminal: click passes escape sequences to a terminal
    (color=True), where it strips some of them from a pipe."""
    result = CliRunner().invoke(main, list(args), color=True)
    return result.exit_code, result.output


def test_reprocess_escapes_the_file_name_and_the_quoted_values(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    unknown_pilot = f"h_{RETITLE}new_pilot.csv"
    (inbox / unknown_pilot).write_bytes(_csv(f"{NEW},03009,2548-Q1,2005-01-25,kpi,K1,,33,,,,",
                                             f"{NEW},03009,2548-Q1,2005-01-25,kpi,K2,,80,,,,"))
    (inbox / "i_bad_number.csv").write_bytes(_csv(f"{NEW},03009,2548-Q2,2005-04-25,kpi,K1,,4{CLEAR}7,,,,",
                                                  f"{NEW},03009,2548-Q2,2005-04-25,kpi,K2,,80,,,,"))
    wh = tmp_path / "wh.duckdb"
    code, text = run_cli(registry, inbox, tmp_path)
    assert code == 0, text
    ids = dict(query(wh, "SELECT file_name, submission_id FROM ingest.submissions WHERE pilot_id = 'PLT-2548-004'"))
    assert set(ids) == {unknown_pilot, "i_bad_number.csv"}  # the evidence keeps the name as written
    (registry / "pilots" / f"{NEW}.yaml").write_text(PILOT.replace("PLT-2548-003", NEW), encoding="utf-8")
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(tmp_path / "out"), "--as-of", AS_OF]

    # Still quarantined: the file's defect quotes its cell.
    code, text = cli("reprocess", str(ids["i_bad_number.csv"]), *base)
    assert code == 1, text
    assert "\x1b" not in text and "\x07" not in text
    assert (f"submission {ids['i_bad_number.csv']} (i_bad_number.csv) is still quarantined, nothing was written:"
            in text)
    assert "'4\\x1b[2J7'" in text, text  # the NOT_A_NUMBER messages' value, shown escaped

    # Accepted now that its pilot is registered: the line names the file.
    code, text = cli("reprocess", str(ids[unknown_pilot]), *base)
    assert code == 0, text
    assert "\x1b" not in text and "\x07" not in text
    [new_id] = [s for (s,) in query(wh, "SELECT submission_id FROM ingest.submissions WHERE reprocess_of IS NOT NULL")]
    assert (f"submission {ids[unknown_pilot]} (h_\\x1b]0;pwned\\x07new_pilot.csv) reprocessed as submission "
            f"{new_id}: accepted") in text, text
    # K1 a=33 between t2=30 and t3=40: 2 + 3/10 = 2.3000. K2 a sum KPI, Q1 thresholds x 1/4 =
    # [25, 50, 75, 100, 125]; a=80 between t3=75 and t4=100: 3 + 5/25 = 3.2000.
    assert query(wh, "SELECT kpi_code, score FROM marts.kpi_scores WHERE pilot_id = 'PLT-2548-004' "
                     "AND period = '2548-Q1' ORDER BY 1") == [("K1", Decimal("2.3000")), ("K2", Decimal("3.2000"))]

    # A later night still runs, the reprocessed file counted once.
    code, text = run_cli(registry, inbox, tmp_path)
    assert code == 0, text
    assert query(wh, "SELECT count(*) FROM ingest.submissions WHERE reprocess_of IS NOT NULL AND status = 'accepted'") == [(1,)]
