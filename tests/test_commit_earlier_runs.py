"""The steps after the commit read the earlier unfinished jobs once (flows/cheap.py Earlier): what
they wait for decides which steps may be skipped, which validation report waits, and which of them
this job completes. Before, ops.runs was read for them at the start, again for the waiting report
on a night that read no file, and again before publishing; nothing writes ops.runs in between.

Whole flow by `pilotkpi run`: tests/test_flow.py's 6-file inbox, the published copy failing (a full
disk: tests/test_post_commit_disk_full.py), then a quiet night that completes that job.
"""
from __future__ import annotations

import inspect

from tests.test_flow import make_scenario, run_cli
from tests.test_post_commit_disk_full import _enospc, _runs
from warehouse import store
from warehouse.publish import published_path


def _reads_from_cheap(monkeypatch) -> list[str]:
    """Each read of the unfinished runs made by flows/cheap.py itself (not by the store's
    complete_runs, which marks them inside the final records)."""
    real = store.unfinished_runs
    reads = []

    def counted(con):
        caller = inspect.stack()[1]
        if caller.filename.endswith("flows/cheap.py"):
            reads.append(caller.function)
        return real(con)

    monkeypatch.setattr(store, "unfinished_runs", counted)
    return reads


def test_a_quiet_night_reads_the_unfinished_runs_once_and_completes_them(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    with monkeypatch.context() as patch:  # the night's copy fails: committed, not published
        patch.setattr("warehouse.publish.shutil.copyfile", lambda s, t, *a, **k: (_ for _ in ()).throw(_enospc(t)))
        code, output = run_cli(registry, inbox, tmp_path)
    assert code == 5, output
    assert _runs(wh) == [("committed_with_errors", "publish", False)]
    assert not published_path(wh).exists()

    with monkeypatch.context() as patch:
        reads = _reads_from_cheap(patch)
        code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert len(reads) == 1, reads
    # The quiet night did what the first one waited for (publishing) and marked it completed;
    # the copy says the same (its record is written before its rename).
    assert _runs(wh) == [("committed_with_errors", "publish", True), ("succeeded", None, False)]
    assert _runs(published_path(wh)) == _runs(wh)
    assert "files seen 0" in output
