"""Measure the stages after the read (issue 12 items 2 and 4): writing, marts, summaries, the
validation report, letters and publishing, on a demo cloned to about 400 pilots.

    .venv/bin/python -m bench.incremental FOLDER [--clones 57] [--profile out.prof]

Runs the nightly run's library steps in this process, without Prefect (its server start is
measured by bench/run.py): a full run, a night with 1% of the files new, a night with nothing new,
and the marts three ways (all, only changed, and the per-pilot lower bound). Prints seconds per
stage. The results are in bench/incremental.md. The national generator proper is bench/'s (h6);
this one only clones the demo plan, so the files have the demo's variety, not the national mix.
"""
from __future__ import annotations

import argparse
import cProfile
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

from pilots import demo

AS_OF = demo.AS_OF


def cloned_pilots(clones: int) -> tuple:
    """The demo's seven pilots, `clones` times: PLT-2548-001 becomes PLT-2548-001, -011, -021, ..."""
    return tuple(replace(p, pilot_id=f"{p.pilot_id[:9]}{c:02d}{p.pilot_id[-1]}")
                 for c in range(clones) for p in demo.PILOTS)


def write_workload(folder: Path, clones: int) -> tuple[Path, Path]:
    """Registry and inbox of the cloned demo: its regular reports, in each agency's house style."""
    pilots = cloned_pilots(clones)
    registry, inbox = folder / "registry", folder / "inbox"
    (registry / "pilots").mkdir(parents=True, exist_ok=True)
    inbox.mkdir(parents=True, exist_ok=True)
    saved, demo.PILOTS = demo.PILOTS, pilots
    try:
        for rel, text in demo.registry_files().items():
            (registry / rel).write_bytes(text.encode("utf-8"))
        for p in pilots:
            for r in demo._regular_reports(p):
                style = demo.STYLES[r.agency_code]
                name = demo.default_file_name(r.pilot_id, r.agency_code, r.period, style.fmt)
                (inbox / name).write_bytes(demo.render(r, style))
    finally:
        demo.PILOTS = saved
    return registry, inbox


class Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def line(self, title: str) -> str:
        total = sum(self.seconds.values())
        return f"{title}: total {total:.2f} s; " + ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items())


def night(root: Path, as_of: date, inbox: Path, only_changed: bool = True) -> Stages:
    """One nightly run's library steps, in the order of flows/nightly.py, without Prefect."""
    from flows import cheap
    from kpis import fingerprint, steps
    from kpis.build import build_marts
    from kpis.letters import build_letters, write_letters
    from kpis.summary import build_model, write_summaries
    from kpis.summary.validation import write_validation_report
    from pilots import inbox as inbox_folder
    from pilots.ingest import Ingestor
    from pilots.registry import load_registry, registry_rows
    from warehouse import store
    from warehouse.db import connect, evidence_dir_for, transaction
    from warehouse.publish import Stamp, publish, published_path

    t = Stages()
    warehouse, out = root / "w.duckdb", root / "out"
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    with t("registry"):
        registry = load_registry(root / "registry")
    with t("receive"):
        ready, _ = inbox_folder.settled(inbox, 0)
        files = inbox_folder.receive(ready, evidence_dir_for(warehouse))
    con = connect(warehouse)
    with transaction(con):
        with t("write registry"):
            store.start_run(con, run_id, now, as_of, registry.content_sha256, "bench", "run")
            store.replace_registry(con, registry_rows(registry))
        with t("ingest"):
            ingestor = Ingestor(con, registry, evidence_dir=evidence_dir_for(warehouse), run_id=run_id, as_of=as_of,
                                received_at=now)
            ingestor.ingest(files)
        with t("marts"):
            digests = fingerprint.Digests(con)
            build_marts(con, as_of, only_changed=only_changed, run_id=run_id, digests=digests)
        with t("state"):
            state = fingerprint.state_digest(digests, as_of)
            store.record_state(con, run_id, state)
        store.finish_run(con, run_id, now, "succeeded", ingestor.counts.as_dict())
    # The steps after the commit as flows/cheap.py runs them (its keys and outputs book), without Prefect.
    book, relations = cheap.Book(out), digests.all()

    def key(name: str, **upstream: str) -> str:
        step = steps.OUTPUTS[name]
        return steps.key(step, {r: relations.get(r, "") for r in step.reads}, as_of, upstream)

    with t("validation report"):
        if ingestor.counts.as_dict().get("files_seen", 0) > 0:  # a night that read no file writes none
            book.wrote("validation_report", None, [write_validation_report(con, run_id, out)], run_id=run_id)
    link = book.last_report()
    with t("summaries"):
        summaries = key("summaries", validation_report=link or "")
        if book.kept("summaries", summaries) is None:
            book.wrote("summaries", summaries, write_summaries(build_model(con, as_of), out, validation_link=link))
    with t("letters"):
        letters = key("letters")
        if book.kept("letters", letters) is None:
            book.wrote("letters", letters, write_letters(build_letters(con, as_of), out))
    with t("publish"):
        published = steps.key(steps.OUTPUTS["publish"], {"*": fingerprint.data_digest(digests)}, date.min)
        entry = book.entry("publish")
        skip = entry.get("key") == published and cheap._stamp(entry).matches(published_path(warehouse))
        con.execute("UPDATE ops.runs SET failed_steps = NULL WHERE run_id = ?", [run_id])
        if not skip:
            con.execute("CHECKPOINT")
        con.close()
        if not skip:
            copy = publish(warehouse)
            book.save("publish", {"key": published, **Stamp.of(copy).__dict__})
    return t


def marts_three_ways(root: Path, as_of: date) -> str:
    """Every mart; only the changed ones (after one more file); and the per-pilot lower bound: the
    same SQL over a warehouse holding only 1% of the pilots (what recomputing the affected pilots'
    rows would cost at best, before deleting and inserting them)."""
    from kpis.build import build_marts
    from warehouse.db import connect, transaction

    copy = root / "copy.duckdb"  # not marts.duckdb: a catalog named marts hides the schema
    shutil.copyfile(root / "w.duckdb", copy)
    con = connect(copy)
    out = []
    for label, only in (("all marts", False), ("only changed, nothing new", True)):
        with transaction(con):
            start = time.perf_counter()
            built = build_marts(con, as_of, only_changed=only)
            out.append(f"{label}: {time.perf_counter() - start:.2f} s ({len(built)} built)")
    pilots = [r[0] for r in con.execute("SELECT pilot_id FROM registry.pilots ORDER BY pilot_id").fetchall()]
    keep = pilots[:max(1, len(pilots) // 100)]
    with transaction(con):
        for table in ("registry.pilots", "registry.pilot_agencies", "registry.kpis", "registry.kpi_thresholds",
                      "ingest.submissions", "core.kpi_actuals", "core.budget_lines"):
            con.execute(f"DELETE FROM {table} WHERE pilot_id IS NULL OR NOT list_contains(?, pilot_id)", [keep])
        start = time.perf_counter()
        build_marts(con, as_of)
        out.append(f"per-pilot lower bound ({len(keep)} of {len(pilots)} pilots, SQL only): "
                   f"{time.perf_counter() - start:.2f} s")
    con.close()
    copy.unlink()
    return "; ".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clones", type=int, default=57)
    parser.add_argument("--profile", type=Path, help="cProfile the full run into this file")
    args = parser.parse_args(argv)
    root = args.folder
    if root.exists():
        shutil.rmtree(root)
    registry, inbox = write_workload(root / "gen", args.clones)
    files = sorted(inbox.iterdir())
    held = root / "held"
    held.mkdir()
    for f in files[::100]:  # 1% of the files arrive the next night
        f.rename(held / f.name)
    shutil.copytree(registry, root / "registry")
    print(f"{len(args.clones * demo.PILOTS)} pilots, {len(files)} files")
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    print(night(root, AS_OF, inbox).line("full run"))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(night(root, AS_OF, held).line("1% new"))
    (root / "empty").mkdir()
    print(night(root, AS_OF, root / "empty").line("nothing new"))
    print(marts_three_ways(root, AS_OF))


if __name__ == "__main__":
    main()
