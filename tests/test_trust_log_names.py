"""The night's log lines that name an inbox entry show its control characters escaped.

docs/security.md: agency text that runs as code where it is shown (control characters, terminal
escape sequences) is shown as visible stand-ins. A name in the inbox is the agency's text, and
Prefect's console handler writes log records to the operator's terminal as they are (BEL aside:
`ESC ] 0 ; … ESC [ 2 J` went through, retitling and clearing the screen). The warning that names
a refused inbox entry (FILE_NOT_REGULAR) logged its name raw; now it passes through
warehouse/personal.printable (ESC as `\\x1b`), as the run's own output line already did.

Whole flow through `pilotkpi run`: tests/test_flow.py's scenario (6 files: accepted 3,
superseded 1, duplicates 1, quarantined 1) beside a symbolic link with such a name; a second
night names the link again and still runs.
"""
from __future__ import annotations

import pytest

from tests.log_capture import every_log_record
from tests.test_flow import make_scenario, run_cli

LINK = "z_\x1b]0;pwned\x07\x1b[2Jlink.csv"
SHOWN = "z_\\x1b]0;pwned\\x07\\x1b[2Jlink.csv"


@pytest.fixture
def records():
    with every_log_record("%(message)s") as lines:
        yield lines


def test_a_refused_entrys_name_is_logged_with_its_escapes_shown(tmp_path, prefect_harness, records):
    registry, inbox = make_scenario(tmp_path)
    (inbox / LINK).symlink_to(tmp_path / "elsewhere.csv")
    for night in (1, 2):
        records.clear()
        code, out = run_cli(registry, inbox, tmp_path)
        assert code == 0, out
        if night == 1:
            assert "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" in out, out
        else:
            assert "files seen 0" in out, out
        named = [line for line in records if "FILE_NOT_REGULAR" in line]
        assert named == [f"Refused '{SHOWN}': it is not a regular file (a symbolic link); nothing of it was read. "
                         "Put the file itself in the inbox. (FILE_NOT_REGULAR)"], records
        assert not [line for line in records if "\x1b" in line or "\x07" in line]
        assert (inbox / LINK).is_symlink()  # left where it is


FILED = "z_\x1b]0;pwned\x07\x1b[2Jreport.csv"


def test_a_filing_errors_log_line_shows_the_names_escapes(tmp_path, prefect_harness, records, monkeypatch):
    """After the commit, a file that cannot be filed away (inbox.file_away raises FilingError, which
    names it) was logged by the guard's "step file_away was not done" line as it was: the review
    saw ESC ] 0 ; pwned BEL ESC [ 2 J on the terminal. The line passes through printable now; the
    run's own error (ops.runs) keeps the text, masked, for `pilotkpi publish` to finish the step."""
    import pilots.inbox as inbox_module

    registry, inbox = make_scenario(tmp_path)
    (inbox / FILED).write_bytes(b"junk,not,a,report\n1,2,3,4\n")
    real = inbox_module._free_name

    def refuse_that_name(fd, name):
        if "\x1b" in name:
            raise PermissionError(13, "Permission denied")
        return real(fd, name)

    monkeypatch.setattr(inbox_module, "_free_name", refuse_that_name)
    code, out = run_cli(registry, inbox, tmp_path)
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out, out
    assert "file_away" in out, out
    line = [line for line in records if "step file_away was not done" in line]
    assert len(line) == 1 and "z_\\x1b]0;pwned\\x07\\x1b[2Jreport.csv" in line[0], records
    assert not [line for line in records if "\x1b" in line or "\x07" in line], records
    monkeypatch.setattr(inbox_module, "_free_name", real)
    records.clear()
    code, out = run_cli(registry, inbox, tmp_path)  # the next night files it away and still runs
    assert code == 0, out
    assert not [line for line in records if "\x1b" in line or "\x07" in line], records
