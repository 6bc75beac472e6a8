"""The validation report the summaries link to leaves a pilot that became restricted (verifier V8,
F1): the night that moves the pilot's rows to the restricted store read no file, so it wrote no
report, and `out/validation.html` kept naming the pilot's files until a later night read some.
Now a job that moves a pilot to the restricted store writes the last report again for its run
(flows/cheap.py `_last_report_run`): the moved files are counted, not listed, like any restricted
pilot's (warehouse.md, "Restricted pilots").

The registry is tests/test_flow.py's: PLT-2548-003, open, lead 03009.
"""
from __future__ import annotations

from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_pilot_moves import reclassify

P = "PLT-2548-003"


def test_the_last_report_is_written_again_without_a_pilot_moved_to_the_restricted_store(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "zq8-lead-q1.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                                 f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,"))
    (inbox / "zq8-bad-q2.csv").write_bytes(_csv(f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,zq8-not-a-number,,,,"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    report = tmp_path / "out" / "validation.html"
    before = report.read_text(encoding="utf-8")
    assert "zq8-lead-q1.csv" in before and "zq8-bad-q2.csv" in before and "zq8-not-a-number" in before
    run_1 = before.split('<meta name="pilotkpi-run" content="', 1)[1].split('"', 1)[0]

    reclassify(registry, P, "restricted")
    code, out = run_cli(registry, inbox, tmp_path)  # no new file: the night only moves the pilot
    assert code == 0, out
    assert f"moved pilot {P} from the open warehouse to the restricted store" in out, out
    after = report.read_text(encoding="utf-8")
    assert "zq8" not in after
    assert f'content="{run_1}"' in after  # the same run's report, written again
    assert "Not counted above: 2 file(s) of restricted pilots" in after
    for lang in ("th", "en"):  # the summaries still link to it
        assert 'href="validation.html"' in (tmp_path / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")


def test_a_move_nights_report_rewrite_that_failed_is_done_by_the_next_night(tmp_path, prefect_harness, monkeypatch):
    """The rewrite is a step like the others: if it fails (or the job is killed after its commit),
    the next night, which reads no file and moves nothing, writes that report again (reviewer RV5:
    it skipped the step, and the report kept naming the moved pilot's file)."""
    import flows.cheap as cheap

    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "zq8-lead-q1.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,"))
    assert run_cli(registry, inbox, tmp_path)[0] == 0
    report = tmp_path / "out" / "validation.html"
    assert "zq8-lead-q1.csv" in report.read_text(encoding="utf-8")

    reclassify(registry, P, "restricted")
    written = cheap.write_validation_report

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(cheap, "write_validation_report", disk_full)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 5 and "validation_report" in out, out  # committed; the step not done
    assert "zq8-lead-q1.csv" in report.read_text(encoding="utf-8")
    monkeypatch.setattr(cheap, "write_validation_report", written)
    code, out = run_cli(registry, inbox, tmp_path)  # a quiet night
    assert code == 0, out
    assert "completed the missing steps of earlier run(s)" in out, out
    after = report.read_text(encoding="utf-8")
    assert "zq8" not in after and "Not counted above: 1 file(s) of restricted pilots" in after
