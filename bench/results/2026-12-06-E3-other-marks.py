"""Engineer E3 (2026-12-06): a served night's "other", piece by piece. Measurement only: nothing
here is imported by the project.

1. Marks. In a copy of the tree (`git clone --shared` of the branch; the bench takes the base out of
   that clone's git), save this file as flows/_instr.py and append to flows/nightly.py:

       from flows import _instr  # noqa: E402  measurement only
       _instr.install()

   Every night forked from that tree's `serve` then writes, beside its stages, one stage-log line
   per wrapped call, named x_* (not among bench/measure.py's top stages, so "other" is unchanged).
   flows/ is in no step's code digest (kpis/steps.files_of), so the outputs' keys and the pages are
   the tree's own.
2. Served nights: from the copy, `python -m bench.served_paired --pilots 400 --workload /tmp/W400
   --base 1df4e16 --rounds 4 --keep-prepared --work /tmp/E-sp --json OUT.json`.
3. `python bench/results/2026-12-06-E3-other-marks.py OUT.json`: "other" split into those pieces
   (medians and every night) for each night of the marked tree.
"""
import contextlib
import functools
import json
import statistics
import sys
import time


def _wrap(mod, attr, label):
    from warehouse import stages
    fn = getattr(mod, attr)

    @functools.wraps(fn)
    def timed(*a, **k):
        start = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            stages.record(label, time.perf_counter() - start)
    setattr(mod, attr, timed)


def install():
    import flows.cheap as c
    import flows.nightly as n
    import warehouse.moves as m
    import warehouse.restricted as r
    import warehouse.store as s
    from warehouse import stages
    from warehouse.publish import Stamp
    for mod, attr, label in (
            (n, "_nightly", "x_flow_body"), (n, "_job", "x_job"), (n, "connect", "x_job_connect"),
            (n, "limit_memory", "x_limit_memory"), (n, "_restricted_files", "x_restricted_files"),
            (n, "run_lock", "x_run_lock_enter"), (r, "recover", "x_restricted_recover"),
            (r, "RestrictedJob", "x_restricted_open"), (m, "sweep_evidence", "x_sweep_evidence"),
            (m, "move_misplaced", "x_move_misplaced"), (n, "_write_registry", "x_write_registry"),
            (s, "unfiled_files", "x_unfiled_files"), (n.Ingestor, "__init__", "x_ingestor_load"),
            (n, "ingest_task", "x_ingest_task"), (n, "build_marts_task", "x_marts_task"),
            (n.cheap, "after_commit", "x_after_commit"), (c, "_publish_and_record", "x_publish_and_record"),
            (n.Live, "close", "x_live_close"), (Stamp, "of", "x_stamp"), (c, "connect", "x_final_connect"),
            (c.Book, "save", "x_book_save")):
        _wrap(mod, attr, label)
    job_tx, cheap_tx = n.transaction, c.transaction

    @contextlib.contextmanager
    def commit_timed(con):  # the job's COMMIT alone: from the block's end to the transaction's
        with job_tx(con):
            yield
            start = time.perf_counter()
        stages.record("x_commit", time.perf_counter() - start)

    @contextlib.contextmanager
    def record_timed(con):  # the records after the commit (each a transaction)
        start = time.perf_counter()
        with cheap_tx(con):
            yield
        stages.record("x_record_tx", time.perf_counter() - start)
    n.transaction, c.transaction = commit_timed, record_timed


PIECES = {
    "Prefect outside the flow body (its start included)": lambda n, g: n["wall_seconds"] - g("x_flow_body"),
    "flow body before the job (lock, restricted files; receive task less its stages)":
        lambda n, g: g("x_flow_body") - g("x_job") - g("registry") - g("settle") - g("receive"),
    "job start: connect + memory limit": lambda n, g: g("x_job_connect") + g("x_limit_memory"),
    "job start: restricted store (recover, working copy, evidence sweep)":
        lambda n, g: g("x_restricted_recover") + g("x_restricted_open") + g("x_sweep_evidence"),
    "registry check/write + pilot moves": lambda n, g: g("x_write_registry") + g("x_move_misplaced"),
    "Ingestor's load": lambda n, g: g("x_ingestor_load"),
    "ingest task less its stage and the load":
        lambda n, g: g("x_ingest_task") - g("ingest") - g("x_ingestor_load") if g("x_ingest_task") else 0.0,
    "marts task less its stage": lambda n, g: g("x_marts_task") - g("marts"),
    "COMMIT": lambda n, g: g("x_commit"),
    "records after the commit (3 transactions)": lambda n, g: g("x_record_tx"),
    "CHECKPOINT": lambda n, g: g("checkpoint"),
    "job connection closed": lambda n, g: g("x_live_close"),
    "published copy's stamp (CRC-32)": lambda n, g: g("x_stamp"),
    "outputs book saved": lambda n, g: g("x_book_save"),
    "working file opened again (final record)": lambda n, g: g("x_final_connect"),
}


def main(path: str) -> None:
    report = json.load(open(path))
    for tree, kinds in report["nights"].items():
        for kind, nights in kinds.items():
            if not nights or "x_flow_body" not in nights[0]["stages"]:
                continue
            rows = {"wall": [], "other": [], "CPU (serve's tree)": [], "Pending -> Running": []}
            for n in nights:
                g = lambda k, s=n["stages"]: s.get(k, 0.0)  # noqa: E731
                rows["wall"].append(n["wall_seconds"])
                rows["other"].append(n["other_seconds"])
                rows["CPU (serve's tree)"].append(n["cpu_seconds"])
                rows["Pending -> Running"].append(n["start_seconds"])
                pieces = {name: f(n, g) for name, f in PIECES.items()}
                pieces["rest (restricted prepare and rename, the calls between)"] = (
                    n["other_seconds"] - sum(pieces.values()))
                for name, v in pieces.items():
                    rows.setdefault(name, []).append(v)
            print(f"\n{tree}, {kind} ({len(nights)} nights)\n\n| piece | median | each night |\n|---|---|---|")
            for name, values in rows.items():
                print(f"| {name} | {statistics.median(values):.3f} | {', '.join(f'{v:.3f}' for v in values)} |")
    print(f"\nsame results: {report['same_results']}; load {report['load']}")


if __name__ == "__main__":
    main(sys.argv[1])
