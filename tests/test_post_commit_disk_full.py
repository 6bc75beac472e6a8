"""An honest message after the commit (issue 24 item 7): a full disk after the warehouse commit
ends the job as `committed_with_errors` (exit 5) with the steps named, and ops.runs says the same.

The disk is made full in-process: every write under --out (pages, letters, the outputs book), or
the copy of the published file and every later write to the warehouse, raises ENOSPC. The scenario
is tests/test_flow.py's 6-file inbox.
"""
from __future__ import annotations

import errno
import pathlib

import duckdb
import pytest

from tests.test_flow import make_scenario, run_cli
from warehouse.publish import published_path


def _enospc(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def _runs(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT status, failed_steps, completed_at IS NOT NULL FROM ops.runs "
                           "ORDER BY started_at").fetchall()
    finally:
        con.close()


def test_a_full_out_folder_is_committed_with_errors_naming_the_steps(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    out = tmp_path / "out"
    real_text, real_bytes = pathlib.Path.write_text, pathlib.Path.write_bytes

    def full(real):
        def write(self, *args, **kwargs):
            if out in self.parents:
                raise _enospc(self)
            return real(self, *args, **kwargs)
        return write

    with monkeypatch.context() as patch:
        patch.setattr(pathlib.Path, "write_text", full(real_text))
        patch.setattr(pathlib.Path, "write_bytes", full(real_bytes))
        code, output = run_cli(registry, inbox, tmp_path)

    assert code == 5, output
    assert "the warehouse is unchanged" not in output and "the run failed" not in output
    assert "NOT done (ops.runs: status committed_with_errors):" in output
    # The artifact was created, but noting it in the outputs book (in --out) failed: not done either.
    for step in ("validation_report", "summaries", "artifact", "letters"):
        assert f"  {step}: OSError: [Errno 28] No space left on device" in output
    wh = tmp_path / "wh.duckdb"
    [(status, failed, _)] = _runs(wh)
    assert (status, failed) == ("committed_with_errors", "validation_report,summaries,artifact,letters")
    assert published_path(wh).exists()  # the copy is beside the warehouse, not in --out
    assert _runs(published_path(wh)) == _runs(wh)

    code, output = run_cli(registry, inbox, tmp_path)  # space again: the next night completes them
    assert code == 0, output
    assert [r[0] for r in _runs(wh)] == ["committed_with_errors", "succeeded"] and _runs(wh)[0][2]
    assert (out / "validation.html").is_file() and (out / "summary.th.html").is_file()


def test_a_disk_full_while_publishing_is_recorded_as_the_command_line_says(tmp_path, prefect_harness, monkeypatch):
    """The copy fails, and so does every later write to the warehouse: ops.runs already says that
    publishing had not finished, as the command line does."""
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    def no_space(source, target, *a, **k):
        raise _enospc(target)

    def no_record(*a, **k):
        raise _enospc(wh)

    with monkeypatch.context() as patch:
        patch.setattr("warehouse.publish.shutil.copyfile", no_space)
        patch.setattr("flows.cheap._for_the_record", no_record)
        code, output = run_cli(registry, inbox, tmp_path)

    assert code == 5, output
    assert "  publish: OSError: [Errno 28] No space left on device" in output
    assert "the warehouse is unchanged" not in output
    [(status, failed, _)] = _runs(wh)
    assert (status, failed) == ("committed_with_errors", "publish")
    assert not published_path(wh).exists()

    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert [r[:2] for r in _runs(wh)] == [("committed_with_errors", "publish"), ("succeeded", None)]
    assert _runs(wh)[0][2]  # completed by the second run, which published
    assert _runs(published_path(wh)) == _runs(wh)


@pytest.mark.parametrize("where", ["copy", "record"])
def test_the_copy_never_says_publishing_had_not_finished(tmp_path, prefect_harness, monkeypatch, where):
    """The working file says "not finished" while copying; the copy gets the final record."""
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    if where == "record":  # published, then the working file's final record fails
        monkeypatch.setattr("flows.cheap._for_the_record", lambda *a, **k: (_ for _ in ()).throw(_enospc(wh)))
    code, output = run_cli(registry, inbox, tmp_path)
    copy = _runs(published_path(wh))
    assert copy == [("succeeded", None, False)]
    if where == "record":
        assert code == 5 and "  record: OSError: [Errno 28]" in output
        assert _runs(wh) == [("committed_with_errors", "publish", False)]  # the next run publishes again
    else:
        assert code == 0 and _runs(wh) == copy


def test_a_write_that_fills_the_disk_leaves_no_temporary_file_and_names_its_file(tmp_path, prefect_harness,
                                                                                  monkeypatch):
    """As a full file system fails a write (verifier VC, F6): the temporary file is made and half
    written, then the write raises ENOSPC naming no file. Every atomic write in --out (kpis/files.py
    write_atomically: the pages, letters, the validation report, the outputs book, the summary's
    sections) removes its temporary file, and each step's error names the file it was writing;
    the next night, with space again, finds no temporary file left either."""
    registry, inbox = make_scenario(tmp_path)
    out = tmp_path / "out"
    real_text, real_bytes = pathlib.Path.write_text, pathlib.Path.write_bytes

    def full(real):
        def write(self, data, *args, **kwargs):
            if out in self.parents:
                real(self, data[:len(data) // 2], *args, **kwargs)  # the blocks there were
                raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file named
            return real(self, data, *args, **kwargs)
        return write

    with monkeypatch.context() as patch:
        patch.setattr(pathlib.Path, "write_text", full(real_text))
        patch.setattr(pathlib.Path, "write_bytes", full(real_bytes))
        code, output = run_cli(registry, inbox, tmp_path)

    assert code == 5, output
    for step in ("validation_report", "summaries", "artifact", "letters"):
        assert f"  {step}: OSError: [Errno 28] No space left on device: '{out}" in output, output
    assert f"No space left on device: '{out / 'validation.html'}'" in output
    assert f"No space left on device: '{out / '.pilotkpi-outputs.json'}'" in output
    wh = tmp_path / "wh.duckdb"
    [(status, failed, _)] = _runs(wh)
    assert (status, failed) == ("committed_with_errors", "validation_report,summaries,artifact,letters")
    assert [p.name for p in out.rglob("*") if p.name.endswith(".tmp")] == []

    code, output = run_cli(registry, inbox, tmp_path)  # space again
    assert code == 0, output
    assert [p.name for p in out.rglob("*") if p.name.endswith(".tmp")] == []
    assert (out / "validation.html").is_file() and (out / "summary.th.html").is_file()
