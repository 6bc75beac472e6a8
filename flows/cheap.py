"""The steps after a job's commit, in the order of the declared graph (kpis/steps.py): validation
report, summaries, artifact, letters, filing the inbox away, publishing.

Every action after the commit runs inside the step guard (`Guard.run`): writing the outputs book
included, so a full `--out` folder ends the job as `committed_with_errors` with the step named,
never as "the warehouse is unchanged" (issue 24 item 7). A failing step does not stop the next.

A step is skipped when what it shows has not changed since it was last done (issue 12, issue 22):
- its key (kpis/steps.py: the digests of the relations it declares, the bytes of its files and
  modules, the as-of date where it declares it, the keys of the steps it comes after) equals the
  one in OUT/.pilotkpi-outputs.json, and every file it then wrote still has the bytes then written;
- no unfinished earlier job waits for that step;
- the job is a nightly run (`rebuild` is asked for to redo everything; the other jobs change data).
A skipped step is done: it is listed in ops.runs.skipped_steps, never in failed_steps.

Filing the inbox away runs in a thread beside the other steps, from the start (Guard.start): it
reads no output and writes none, and its moves are system calls and hashing, which let go of the
GIL, while the rendering is Python; so the second core files away while the first renders. It
is joined at its place in the order (after the letters, before publishing), and its outcome is
taken there as if it had run there: an error noted in the same order, a stop raised there.
Two more waits are spent beside the steps (issue 22, the served 1%-new night): a job that read
files reads its summaries' model on a cursor of its own while its validation report is written
(DuckDB's queries let go of the GIL), the summaries step taking it (its error, if any); and the
artifact, one request to Prefect's server, is sent while the letters are written, joined after
them. Failed steps are noted in the graph's order all the same (`Guard.in_order`).

The validation report describes the files a job read: a job that read none (a quiet night, a
rebuild, a decision) writes none, and the summaries keep linking to the last report that read
files (issue 23 item 3). A job that read only restricted files writes it (their count).

Publishing is skipped when the data (every relation but ops.*) is what was last published and the
published copy is still exactly that file: size, mtime and CRC-32 (a copy edited by hand is
replaced), unless ops.publish_afresh asks for a copy written afresh (a restricted pilot's data left
the open side: warehouse/publish.py), which is then what is published. The reading chosen: ops.*
alone is not "the warehouse changed"; the copy's ops.runs ends at the last job that changed data,
the working file has every run.

The commit's CHECKPOINT is made before publishing. In DuckDB 2.0 a checkpoint that fails (a full
disk, an I/O error, a block it cannot pin) raises FatalException and invalidates the database for
every connection: every later query fails, and closing the connections leaves the commit in the
write-ahead log (the next open replays it). So nothing after the commit may read the database
unguarded: a step that fails is noted and the next goes on, the reads that only choose what to skip
fall back to doing everything, publishing refuses a file whose log holds writes
(warehouse/publish.py), and the final record is written on the working file opened again (a new
database: the log replayed). The job ends committed_with_errors (exit 5) with the steps not done
named, never as "the warehouse is unchanged"; if even that record fails, ops.runs keeps the commit's
own record (every step not done), which says the same. After a checkpoint that worked, the job's
connection stays open while the copy is made, and the final record is written on it
(`_for_the_record`). Nothing runs on the database from its CHECKPOINT to the end of the copy (a
statement may write blocks into the file, a commit may checkpoint): publish refuses a source that
changed while it was copied.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from warehouse.personal import printable
from kpis import steps
from kpis.files import write_atomically
from kpis.letters import build_letters, write_letters
from kpis.summary import artifact_markdown, build_model, write_summaries
from kpis.summary.validation import report_for, write_validation_report
from warehouse.personal import masked
from warehouse import store
from warehouse.db import connect, transaction
from warehouse.publish import Stamp, afresh_reasons, forget_afresh, publish, published_path, rewrite_afresh
from warehouse.stages import record, stage
from warehouse.testpoints import pause_point

OUTPUTS_FILE = ".pilotkpi-outputs.json"  # in OUT: the key each output step last wrote with
SUMMARY_ARTIFACT_KEY = "pilotkpi-summary"
NOT_PUBLISHED = "publishing had not finished"  # recorded before copying; replaced when it finishes


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _file_sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class JobState:
    """What the job committed, as the graph's keys need it (plain strings: Prefect may keep it)."""
    state: str  # ops.runs.state_sha256: every data relation and the as-of date
    data: str  # every data relation, without the as-of date: what publishing copies
    relations: dict[str, str]  # relation -> digest


class Book:
    """OUT/.pilotkpi-outputs.json: per step, the key it was last done with and the files it wrote."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)

    def _read(self) -> dict:
        try:
            return json.loads((self.out_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def entry(self, step: str) -> dict:
        entry = self._read().get(step)
        return entry if isinstance(entry, dict) else {}

    def kept(self, step: str, key: str) -> list[Path] | None:
        """The files of `step` if it was done with this key and they are intact, else None."""
        entry = self.entry(step)
        if entry.get("key") != key or not isinstance(entry.get("files"), dict):
            return None
        paths = [self.out_dir / name for name in entry["files"]]
        if any(_file_sha(p) != sha for p, sha in zip(paths, entry["files"].values())):
            return None
        return paths

    def forget(self, step: str) -> None:
        """Before a step writes: its files are about to change, whatever happens next."""
        self.save(step, None)

    def wrote(self, step: str, key: str | None, files: list[Path], **more) -> None:
        self.save(step, {"key": key, "files": {str(Path(p).relative_to(self.out_dir)): _file_sha(Path(p))
                                               for p in files}, **more})

    def save(self, step: str, entry: dict | None) -> None:
        book = self._read()
        if entry is None and step not in book:
            return
        if entry is None:
            book.pop(step)
        else:
            book[step] = entry
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.out_dir / OUTPUTS_FILE, json.dumps(book, indent=1, sort_keys=True).encode("utf-8"),
                         self.out_dir / f"{OUTPUTS_FILE}.{os.getpid()}.tmp")

    def last_report(self) -> str | None:
        """The name of the last validation report a job wrote here, if it is still there."""
        files = self.entry("validation_report").get("files")
        name = next(iter(files), None) if isinstance(files, dict) else None
        return name if name and (self.out_dir / name).is_file() else None


class Guard:
    """Runs the steps after the commit: a failing one is logged and noted, the next ones still run."""

    def __init__(self, open_text: Callable[[Exception], str]) -> None:
        self.open_text = open_text  # Live.open_text: messages stay on their side (warehouse/errors.py)
        self.failed: dict[str, str] = {}
        self.skipped: list[str] = []
        self.ran: list[str] = []
        self.logger = get_run_logger()

    def run(self, name: str, fn: Callable, *args, **kwargs):
        try:
            with stage(name):
                result = fn(*args, **kwargs)
            if name not in self.ran:
                self.ran.append(name)
            return result
        except Exception as exc:  # noqa: BLE001 - the data is committed; say what was not done, go on
            self.not_done(name, self.open_text(exc))
            return None

    def start(self, name: str, fn: Callable, *args) -> "Beside":
        """Start a step in a thread of its own, beside the next ones; `join` takes its outcome."""
        return Beside(name, fn, *args)

    def join(self, step: "Beside", then: Callable | None = None):
        """The outcome of a step started beside the others, taken as `run` takes it, after the steps
        run meanwhile: its error is noted then (`in_order` puts it back at its place in the graph's
        order), and a BaseException (a stop) is raised here, as it would have been when the step ran.
        then(result): what the step does with its outcome in the flow's thread (the outputs book:
        one writer).
        Stage log: `<name>` is the wait for it here, the part of its time not hidden behind the
        steps run meanwhile (so the stages still add up to the wall time); `<name>_background`
        its own time, in its thread."""
        try:
            return self.run(step.name, lambda: then(step.outcome()) if then is not None else step.outcome())
        finally:
            record(f"{step.name}_background", step.seconds)

    def in_order(self) -> None:
        """The failed steps in the graph's order (steps joined after a later one noted theirs first):
        ops.runs names them so, and its error is the first one's."""
        order = {name: i for i, name in enumerate(steps.POST_COMMIT_ORDER)}
        self.failed = {k: self.failed[k] for k in sorted(self.failed, key=lambda k: order.get(k, len(order)))}
        self.ran.sort(key=lambda k: order.get(k, len(order)))

    def skip(self, name: str) -> None:
        self.skipped.append(name)

    def not_done(self, name: str, error: str) -> None:
        error = masked(error)  # it may quote an inbox path
        self.failed.setdefault(name, error)
        # The path is an agency's text: escaped on the terminal (Prefect's console writes ESC as it is).
        self.logger.error("after the commit, step %s was not done: %s", name, printable(error))


class Beside:
    """A step running in a thread beside the others (Guard.start, Guard.join).

    Filing away is system calls and hashing, which let go of the GIL; the rendering is Python.
    Run one after the other they leave the second core idle; side by side, filing away is done
    (or mostly done) by the time the letters are (bench/receive_paired.py night measures it)."""

    def __init__(self, name: str, fn: Callable, *args) -> None:
        self.name, self.result, self.error, self.seconds = name, None, None, 0.0
        # In a copy of the flow's context (Prefect's run context): the step runs as part of the flow.
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, fn, *args),
                                       name=f"pilotkpi-{name}")
        self.thread.start()

    def outcome(self):
        """Wait for the step to end; its result, or its error raised here, in the flow's thread."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def _run(self, fn: Callable, *args) -> None:
        start = time.perf_counter()
        try:
            self.result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow's thread by Guard.join
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - start


@dataclass
class Done:
    summaries: list[Path] = field(default_factory=list)
    by_status: dict[str, int] | None = None
    published: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    letters: list[Path] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def after_commit(live, kind: str, run_id: str, counts: dict, warehouse_path: Path, out_dir: Path, as_of: date,
                 job_steps: list[str], file_away: Callable[[object], object] | None, job: JobState | None,
                 moved_to_restricted: bool = False) -> Done:
    """The steps after the commit (module docstring). live: the job's connection (flows.nightly.Live),
    closed here once the job's final record is written (the copy is made from the checkpointed file).
    moved_to_restricted: the job moved a pilot's rows to the restricted store (_outputs)."""
    con = live.con
    guard = Guard(live.open_text)
    book = Book(out_dir)
    # The earlier unfinished jobs, read once: what they wait for decides the skips, which report
    # waits, and which of them publishing completes (nothing in between writes ops.runs).
    earlier = Earlier.read(con, run_id)
    # Filing away needs none of the outputs, nor they it: it runs beside them from the start, on a
    # connection of its own (a cursor: one DuckDB connection is not shared between threads), and
    # is joined at its place in the order, before publishing.
    filing = _start_filing(guard, file_away, con) if file_away is not None else None
    # A job that read files writes its validation report first, and its summaries' figures changed:
    # their model is read meanwhile, on a cursor of its own (DuckDB lets go of the GIL while it
    # queries; the report is mostly Python). Taken by the summaries step, whose error it is if it
    # fails. Not beside a report of many defects (_beside_the_report).
    model = _start_model(con, as_of) if counts.get("files_seen", 0) > 0 and _beside_the_report(con, run_id) else None
    try:
        return _outputs(live, con, guard, book, kind, run_id, counts, warehouse_path, out_dir, as_of, job_steps,
                        filing, job, earlier, model, moved_to_restricted)
    finally:
        if model is not None:
            model.thread.join()  # leaving early: its queries end before the connection closes
        if filing is not None:
            filing.thread.join()  # leaving early (a stop): the moves under way end before the process does


@dataclass
class Earlier:
    """The earlier unfinished jobs (run_id -> the steps they wait for), read once after the commit;
    runs is None when they cannot be read (the database invalidated), and error says why.

    Once is enough: between this read and the final record nothing writes ops.runs (the run lock
    is held, the steps only read the warehouse), and nothing on the job's connection checkpoints,
    the one way it would be invalidated after a read that worked."""
    runs: dict[str, list[str]] | None
    error: Exception | None = None

    @classmethod
    def read(cls, con, run_id: str) -> "Earlier":
        try:
            return cls({r: failed for r, failed in store.unfinished_runs(con).items() if r != run_id})
        except Exception as exc:  # noqa: BLE001 - the steps after it say what failed
            return cls(None, exc.with_traceback(None))  # kept without its frames (they hold the connection)

    def waiting(self) -> set[str]:
        """The steps they wait for; every step when unknown (then no step is skipped, and each
        fails or is done)."""
        if self.runs is None:
            return set(steps.POST_COMMIT_ORDER)
        return {s for failed in self.runs.values() for s in failed}

    def known(self) -> dict[str, list[str]]:
        """The runs; raises why they could not be read."""
        if self.runs is None:
            raise self.error
        return self.runs


def _start_filing(guard: Guard, file_away: Callable[[object], object], con) -> Beside:
    """file_away(a cursor of its own) beside the other steps. A cursor that cannot be opened is the
    step's failure, taken at its place in the order like any other."""
    try:
        cursor = con.cursor()
    except Exception as exc:  # noqa: BLE001 - the data is committed: a step not done, the others go on
        return guard.start("file_away", _raise, exc)
    return guard.start("file_away", _on_its_own_connection, file_away, cursor)


# The defects a job's files may hold for the summaries' model to be read beside its validation
# report. A fill-down gone wrong (a file of 100,000 rows, three defects each) made the report's
# query of its 300,000 defects and the model's queries, run at once, need more than the job's
# memory limit (warehouse/db.py JOB_MEMORY_LIMIT): the summaries failed and the night ended with
# exit 5 (each alone fits). Above this the model is read after the report, by the summaries step.
# The 400-pilot national night's 20,269 files held 2,540 defects.
BESIDE_MAX_ISSUES = 20_000


def _beside_the_report(con, run_id: str) -> bool:
    """Whether the job's defects are few enough to read the summaries' model beside its report;
    False when they cannot be counted (the steps then meet that error in their order)."""
    try:
        return store.run_issue_count(con, run_id) <= BESIDE_MAX_ISSUES
    except Exception:  # noqa: BLE001 - the report and the summaries report it as theirs
        return False


def _start_model(con, as_of: date) -> Beside | None:
    """build_model(a cursor of its own, as_of) in a thread; None when no cursor can be opened (the
    summaries step then builds it, and fails as it would have)."""
    try:
        cursor = con.cursor()
    except Exception:  # noqa: BLE001 - the summaries step meets the same error and notes it
        return None
    return Beside("summaries_model", _on_its_own_connection, lambda c: build_model(c, as_of), cursor)


def _create_artifact(markdown: str) -> None:
    create_markdown_artifact(key=SUMMARY_ARTIFACT_KEY, markdown=markdown, description="pilotkpi committee summary")


def _raise(exc: BaseException) -> None:
    raise exc


def _on_its_own_connection(step: Callable[[object], object], cursor) -> object:
    """step(cursor), the cursor closed when it ends (before publishing closes the warehouse)."""
    try:
        return step(cursor)
    finally:
        cursor.close()


def _outputs(live, con, guard: Guard, book: Book, kind: str, run_id: str, counts: dict, warehouse_path: Path,
             out_dir: Path, as_of: date, job_steps: list[str], filing: Beside | None, job: JobState | None,
             earlier: Earlier, prefetched: Beside | None = None, moved_to_restricted: bool = False) -> Done:
    """after_commit's steps in their order, filing away (started already) joined at its place.
    prefetched: the summaries' model being built beside the validation report (after_commit).
    moved_to_restricted: the last validation report, which the summaries link to, is written again
    for its run (_last_report_run), as the open side now shows that run: the moved pilot's files
    leave it, counted only, like any restricted pilot's (verifier V8: it named them until a later
    night read files)."""
    waiting = earlier.waiting()

    def skippable(name: str) -> bool:
        return kind == "run" and job is not None and name not in waiting

    def key(name: str, **upstream: str) -> str:
        step = steps.OUTPUTS[name]
        relations = {r: job.relations.get(r, "") for r in step.reads} if job is not None else {}
        return steps.key(step, relations, as_of, upstream)

    # The validation report: a job that read files writes its own; the others link to the last
    # one, written again first if the job that read them stopped before writing it.
    try:
        reader = run_id if counts.get("files_seen", 0) > 0 else _report_waiting(con, earlier, book)
        if reader is None and moved_to_restricted:
            reader = _last_report_run(con, book)
    except Exception as exc:  # noqa: BLE001 - which report waits is unknown: the step is not done
        reader = None
        guard.not_done("validation_report", guard.open_text(exc))
    if "validation_report" in guard.failed:
        link = book.last_report()
    elif reader is not None:
        def report() -> None:
            book.forget("validation_report")
            path = write_validation_report(con, reader, out_dir)
            book.wrote("validation_report", None, [path], run_id=reader)
        guard.run("validation_report", report)
        link = report_for(out_dir, kind, run_id) if reader == run_id else book.last_report()
    else:
        guard.skip("validation_report")
        link = book.last_report()

    model: dict = {}
    sending: Beside | None = None  # the artifact, sent beside the letters
    summaries_key = key("summaries", validation_report=link or "")
    kept = book.kept("summaries", summaries_key) if skippable("summaries") else None
    if kept:
        guard.skip("summaries")
        written = kept
    else:
        def summaries() -> list[Path]:
            book.forget("summaries")
            model["model"] = prefetched.outcome() if prefetched is not None else build_model(con, as_of)
            sections: dict = {}  # pilot sections rendered now, of all (the others were unchanged)
            paths = write_summaries(model["model"], out_dir, validation_link=link, reuse_sections=True,
                                   stats=sections)
            book.wrote("summaries", summaries_key if job is not None else None, paths, sections=sections)
            return paths
        written = guard.run("summaries", summaries) or []
    if prefetched is not None:  # joined here in any case: nothing may query during the checkpoint and the copy
        prefetched.thread.join()
        record("summaries_model_background", prefetched.seconds)

    artifact_key = key("artifact", summaries=summaries_key)
    if skippable("artifact") and book.kept("artifact", artifact_key) is not None and "summaries" in guard.skipped:
        guard.skip("artifact")  # it shows the summaries' figures, which have not changed
    elif "summaries" in guard.failed and "model" not in model:
        guard.not_done("artifact", "not done: the summaries could not be built")
    else:
        def artifact() -> str:
            book.forget("artifact")
            shown = model["model"] if "model" in model else build_model(con, as_of)
            return artifact_markdown(shown, written)
        markdown = guard.run("artifact", artifact)
        if markdown is not None:
            # The artifact is one request to Prefect's server, nearly no CPU here: it is sent beside
            # the letters and joined after them (the book written then, in this thread).
            sending = guard.start("artifact", _create_artifact, markdown)
    by_status = (model["model"].by_status if "model" in model
                 else _by_status(con) if "summaries" in guard.skipped else None)

    try:
        letters_key = key("letters")
        letters = book.kept("letters", letters_key) if skippable("letters") else None
        if letters is not None:
            guard.skip("letters")
        else:
            def write() -> list[Path]:
                book.forget("letters")
                pause_point("letters")
                paths = write_letters(build_letters(con, as_of), out_dir)
                book.wrote("letters", letters_key if job is not None else None, paths)
                return paths
            letters = guard.run("letters", write) or []
    finally:
        if sending is not None:
            sending.thread.join()  # a stop in the letters: the request ends before the process does
    if sending is not None:
        guard.join(sending, lambda _: book.wrote("artifact", artifact_key if job is not None else None, []))
    if filing is not None:
        guard.join(filing)
    guard.in_order()

    done = Done(written, by_status, None, guard.failed, [], letters)
    _publish_and_record(live, guard, book, kind, run_id, warehouse_path, job_steps, job, skippable("publish"), done,
                        earlier)
    done.ran, done.skipped = guard.ran, guard.skipped
    return done


def _publish_and_record(live, guard: Guard, book: Book, kind: str, run_id: str, warehouse_path: Path,
                        job_steps: list[str], job: JobState | None, skippable: bool, done: Done,
                        earlier: Earlier) -> None:
    """Record the outcome, then publish. Earlier unfinished runs whose missing steps this job did
    are marked completed; those that wait for publishing only once the copy is in place.

    Before copying, the working file says publishing has not finished (committed_with_errors), and
    the copy gets the final record before its rename: a failed copy (a full disk) leaves ops.runs
    saying what the command line says. After the rename the working file gets the same record."""
    con = live.con
    at = _utcnow()
    steps_done = set(job_steps) - set(guard.failed)
    publish_key = steps.key(steps.OUTPUTS["publish"], {"*": job.data}, date.min) if job is not None else None
    entry = book.entry("publish")
    copy = published_path(warehouse_path)
    # Completing an earlier run is news for the copy's ops.runs, which says it is unfinished.
    # Unknown (earlier.runs None): skippable is False already (every step waits), so it publishes
    # (the record below fails and says why).
    completes = [r for r, s in (earlier.runs or {}).items() if set(s) <= steps_done]
    afresh = _afresh(con)
    unchanged = (skippable and not completes and not afresh and publish_key is not None
                 and entry.get("key") == publish_key and _stamp(entry).matches(copy))

    def record(c, failed: dict[str, str], steps_now: set[str], published_afresh: bool = False) -> list[str]:
        with transaction(c):
            completed = store.complete_runs(c, steps_now, run_id, at)
            store.record_post_commit(c, run_id, at, failed)
            store.record_skipped(c, run_id, guard.skipped)
            if published_afresh:  # the copy's note is done with (the working file's: rewrite_afresh)
                forget_afresh(c)
        return completed

    if unchanged:
        guard.skip("publish")
        try:
            done.completed = record(con, guard.failed, steps_done)
        except Exception as exc:  # noqa: BLE001 - ops.runs keeps the commit's record: every step not done
            guard.not_done("record", guard.open_text(exc))
        live.close()
        return
    checkpointed = False
    try:
        done.completed = record(con, {**guard.failed, "publish": NOT_PUBLISHED}, steps_done - {"publish"})
        with stage("checkpoint"):  # the job's writes into the file (bench: part of "other")
            con.execute("CHECKPOINT")
        checkpointed = True
    except Exception as exc:  # noqa: BLE001 - ops.runs keeps the commit's record: every step not done
        guard.not_done("record", guard.open_text(exc))
    if not checkpointed:  # closed (an invalidated database keeps its log), opened again for the record below
        live.close()
    final: dict[str, list[str]] = {}

    def finish(copy_con) -> None:  # the copy's record: as it is once published
        final["copy"] = record(copy_con, guard.failed, steps_done, bool(afresh))

    # The checkpointed file. The job's connection, when it stays open, runs nothing until the
    # record below (filing away's cursor is closed; the outputs are done): a statement could write
    # blocks into the file, and publish refuses a source that changed while it was copied.
    # Written afresh, not byte for byte, while ops.publish_afresh says a restricted pilot's data
    # left the open side (warehouse/publish.py).
    published = guard.run("publish", publish, warehouse_path, finish, afresh=bool(afresh))
    if published is not None:
        try:
            book.save("publish", {"key": publish_key, **Stamp.of(published).__dict__})
        except OSError as exc:  # the book is a cache: the next night publishes again, nothing is wrong
            guard.logger.warning("could not note the published copy in %s: %s", book.out_dir / OUTPUTS_FILE, exc)
    # The working file's record; after a failed publish it keeps "not finished" if this fails too.
    try:
        try:
            failed = {k: v for k, v in guard.failed.items() if k != "record"}
            completed = record(_for_the_record(live, checkpointed, warehouse_path), failed,
                               set(job_steps) - set(failed))
        finally:
            live.close()
        guard.failed.pop("record", None)  # an earlier record that failed is replaced by this one
        done.completed = sorted(set(done.completed) | set(completed))
    except Exception as exc:  # noqa: BLE001 - the working file still says publishing had not finished
        guard.not_done("record", guard.open_text(exc))
    if afresh and published is not None:
        # The working file too, so that no later byte copy publishes its freed blocks again; its
        # note is done with only in the file written afresh (warehouse/publish.py rewrite_afresh).
        try:
            rewrite_afresh(warehouse_path)
        except Exception as exc:  # noqa: BLE001 - the note stays: the next job publishes and rewrites afresh
            guard.logger.warning("the warehouse file was not written afresh (the next job does it): %s",
                                 guard.open_text(exc))
    done.published = published


def _for_the_record(live, checkpointed: bool, warehouse_path: Path):
    """The working file's connection for the job's final record: the job's own when its checkpoint
    worked (kept open through publishing: opening the file again cost a 1%-new night 0.03-0.1 s),
    else the file opened again (a new database: its log replayed). live.close() closes it."""
    if not checkpointed:
        live.reopen(lambda: connect(warehouse_path))
    return live.con


def _afresh(con) -> list[str]:
    """Why this publish must write the copy afresh (ops.publish_afresh); when that cannot be read
    (the database invalidated: publishing then fails anyway), afresh, the safe side."""
    try:
        return afresh_reasons(con)
    except Exception:  # noqa: BLE001 - a byte copy could hand analysts a restricted pilot's freed bytes
        return ["unknown"]


def _report_waiting(con, earlier: Earlier, book: Book) -> str | None:
    """The latest unfinished earlier job that read files and waits for its validation report; else,
    when only jobs that read none wait for it, the run of the last report written here
    (_last_report_run), written again: such a job moved a pilot to the restricted store and its
    rewrite of that report failed, or it was killed after its commit (reviewer RV5: the report kept
    naming the moved pilot's files), and writing the same run's report again harms nothing."""
    waiting = [r for r, failed in earlier.known().items() if "validation_report" in failed]
    if not waiting:
        return None
    found = con.execute("SELECT run_id FROM ops.runs WHERE list_contains(?, run_id) AND files_seen > 0 "
                        "ORDER BY started_at DESC LIMIT 1", [waiting]).fetchone()
    return found[0] if found else _last_report_run(con, book)


def _last_report_run(con, book: Book) -> str | None:
    """The run whose validation report is the last one written here (the summaries link to it),
    if it read files and is still in ops.runs; when a rewrite that failed left no record of it
    (the step forgets its entry before it writes), the latest run that read files."""
    run = book.entry("validation_report").get("run_id")
    if isinstance(run, str):
        found = con.execute("SELECT run_id FROM ops.runs WHERE run_id = ? AND files_seen > 0", [run]).fetchone()
    else:
        found = con.execute("SELECT run_id FROM ops.runs WHERE files_seen > 0 ORDER BY started_at DESC LIMIT 1").fetchone()
    return found[0] if found else None


def _stamp(entry: dict) -> Stamp:
    try:
        return Stamp(int(entry["size"]), int(entry["mtime_ns"]), int(entry["crc32"]))
    except (KeyError, TypeError, ValueError):
        return Stamp(-1, -1, -1)


def _by_status(con) -> dict[str, int] | None:
    """Pilots by status of their latest due period, as the summary model counts them, for the
    run's printed line when the summaries were skipped; None (no line) when it cannot be read."""
    try:
        return _counted_by_status(con)
    except Exception:  # noqa: BLE001 - only the printed line's counts: the failed steps say why
        return None


def _counted_by_status(con) -> dict[str, int]:
    return dict(con.execute("""
        SELECT coalesce(s.status, 'no_data'), count(*) FROM registry.pilots p
        LEFT JOIN (SELECT * FROM marts.pilot_scores
                   QUALIFY row_number() OVER (PARTITION BY pilot_id ORDER BY period DESC) = 1) s USING (pilot_id)
        GROUP BY ALL""").fetchall())
