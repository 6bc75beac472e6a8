"""Filing the inbox away runs beside the other steps after the commit (flows/cheap.py, Guard.start
and Guard.join), on a connection of its own, and its outcome is taken at its place in the order.

Whole-flow tests through `pilotkpi run` on tests/test_flow.py's scenario: 6 files, of which 5
go to processed/ and f_bad.csv to quarantine/.
"""
from __future__ import annotations

import threading

from pilots import inbox as inbox_folder
from tests.test_flow import make_scenario, run_cli
from tests.test_post_commit import COUNTS, PROCESSED, inbox_state, run_id_of, runs, submission_count

WAIT_S = 60  # far beyond the scenario's own time: only a file_away that never runs alongside waits it out


def test_filing_away_runs_while_the_summaries_are_written(tmp_path, prefect_harness, monkeypatch):
    """The summaries wait until filing away has moved the files: were the two steps run one after
    the other (summaries first, as their order says), the wait would time out and the run fail."""
    registry, inbox = make_scenario(tmp_path)
    filed, threads = threading.Event(), {}
    real_file_away = inbox_folder.file_away

    def file_away(files, folder, *args, **kwargs):
        threads["file_away"] = threading.get_ident()
        try:
            return real_file_away(files, folder, *args, **kwargs)
        finally:
            filed.set()

    import flows.cheap

    real_summaries = flows.cheap.write_summaries

    def write_summaries(*args, **kwargs):
        threads["summaries"] = threading.get_ident()
        if not filed.wait(WAIT_S):
            raise AssertionError("filing away did not run beside the summaries")
        # Filed away already: the inbox is as a finished night leaves it, while the summaries render.
        assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])
        return real_summaries(*args, **kwargs)

    monkeypatch.setattr("pilots.inbox.file_away", file_away)
    monkeypatch.setattr("flows.cheap.write_summaries", write_summaries)
    code, out = run_cli(registry, inbox, tmp_path)

    assert code == 0, out
    assert threads["file_away"] != threads["summaries"] == threading.get_ident()
    assert f"{COUNTS}" in out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])
    assert (tmp_path / "out" / "summary.th.html").exists()
    [(run_id, status, failed, error, completed, by)] = runs(tmp_path / "wh.duckdb")
    assert (run_id, status, failed, error) == (run_id_of(out), "succeeded", None, None)


def test_failures_beside_are_recorded_in_the_order_of_the_steps(tmp_path, prefect_harness, monkeypatch):
    """Filing away fails first in time (it starts first), the summaries later; ops.runs still lists
    them in the graph's order, and its error is the first step's in that order (the summaries')."""
    registry, inbox = make_scenario(tmp_path)
    failed_first = threading.Event()

    def file_away(files, folder, *args, **kwargs):
        failed_first.set()
        raise OSError(5, "injected file_away failure")

    def write_summaries(*args, **kwargs):
        assert failed_first.wait(WAIT_S)
        raise RuntimeError("injected summaries failure")

    monkeypatch.setattr("pilots.inbox.file_away", file_away)
    monkeypatch.setattr("flows.cheap.write_summaries", write_summaries)
    code, out = run_cli(registry, inbox, tmp_path)

    assert code == 5, out
    assert ("NOT done (ops.runs: status committed_with_errors):\n"
            "  summaries: RuntimeError: injected summaries failure\n"
            "  file_away: OSError: [Errno 5] injected file_away failure") in out
    [(_, status, failed, error, _, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, failed, error) == ("committed_with_errors", "summaries,file_away",
                                       "RuntimeError: injected summaries failure")
    assert len(inbox_state(inbox)[0]) == 6  # nothing moved; the next run files them away

    monkeypatch.undo()
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])


class Killed(BaseException):
    """Stands for a stop of the flow's thread (no handler of the job runs)."""


def test_a_stop_while_filing_away_runs_beside_loses_nothing_and_counts_nothing_twice(
        tmp_path, prefect_harness, monkeypatch):
    """The flow's thread stops in the summaries while filing away runs beside them. The stop waits
    for the moves under way (the job's thread joins it on the way out), the run stays recorded
    as unfinished with every step, and the next night completes it: no file left behind, no new
    row for the files already filed."""
    registry, inbox = make_scenario(tmp_path)

    def stopped(*args, **kwargs):
        raise Killed()

    with monkeypatch.context() as patch:
        patch.setattr("flows.cheap.write_summaries", stopped)
        try:
            run_cli(registry, inbox, tmp_path)
        except Killed:
            pass
        else:
            raise AssertionError("the stop did not leave the job")

    [(first, status, failed, _, completed, _)] = runs(tmp_path / "wh.duckdb")
    assert (status, failed, completed) == (
        "committed_with_errors", "validation_report,summaries,artifact,letters,file_away,publish", False)
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])  # filed beside, before the stop left
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 0" in out and f"completed the missing steps of earlier run(s): {first}" in out
    assert inbox_state(inbox) == ([], PROCESSED, ["f_bad.csv"])
    assert [r[1] for r in runs(tmp_path / "wh.duckdb")] == ["committed_with_errors", "succeeded"]
    assert submission_count(tmp_path / "wh.duckdb") == 6
