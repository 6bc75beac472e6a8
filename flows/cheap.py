"""Cheap nights (issue 12): the steps after the commit that a nightly run may skip, because what
they show has not changed since they were last done.

The job's state (ops.runs.state_sha256, kpis/fingerprint.py) covers every data row and the as-of
date. A nightly run skips a step only when:
- no unfinished earlier job waits for that step (completing it stays the next run's duty);
- for the files it writes (validation report, summaries, letters): OUT/.pilotkpi-outputs.json says
  they were written from this very state (and, for the summaries, with the same link and code),
  and every one of them is still there with the bytes then written;
- for the artifact: the summaries were skipped (it shows their figures);
- for publishing: the published copy exists and its own latest committed job has this very state,
  and this job completed no earlier unfinished run (the copy's ops.runs would go on calling that
  run unfinished).
A skipped step is done: it is listed in ops.runs.skipped_steps, never in failed_steps.

Reading chosen: ops.* alone is not "the warehouse changed". A night that changed nothing does not
republish, so the copy's ops.runs / ops.run_history (what `pilotkpi sql` reads) end at the last
job that changed data; the working file has every run. Republishing for a run row would copy the
whole file (seconds at national scale) every quiet night.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kpis import fingerprint
from warehouse.publish import published_path

OUTPUTS_FILE = ".pilotkpi-outputs.json"  # in OUT: which state each output step last wrote from
SKIPPABLE = ("validation_report", "summaries", "artifact", "letters", "publish")


def _file_sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class Plan:
    """What this job may skip; state None means nothing (not a nightly run, or no state)."""
    out_dir: Path
    state: str | None
    waiting: set[str] = field(default_factory=set)  # steps unfinished earlier jobs wait for
    skipped: list[str] = field(default_factory=list)

    def _book(self) -> dict:
        try:
            return json.loads((self.out_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def key(self, step: str, extra: str = "") -> str:
        return fingerprint.sha(step, self.state, extra)

    def unchanged(self, step: str, extra: str = "") -> list[Path] | None:
        """The files of `step` if they were written from this state and are intact, else None."""
        if self.state is None or step in self.waiting:
            return None
        entry = self._book().get(step)
        if not isinstance(entry, dict) or entry.get("key") != self.key(step, extra) or not entry.get("files"):
            return None
        paths = [self.out_dir / name for name in entry["files"]]
        if any(_file_sha(p) != sha for p, sha in zip(paths, entry["files"].values())):
            return None
        return paths

    def skip(self, step: str) -> None:
        self.skipped.append(step)

    def forget(self, step: str) -> None:
        """Before a step writes: its files are about to change, whatever happens next."""
        self._save(step, None)

    def wrote(self, step: str, files: list[Path], extra: str = "") -> None:
        if self.state is None:
            return self.forget(step)
        self._save(step, {"key": self.key(step, extra), "files": {
            str(Path(p).relative_to(self.out_dir)): _file_sha(Path(p)) for p in files}})

    def _save(self, step: str, entry: dict | None) -> None:
        book = self._book()
        if entry is None and step not in book:
            return
        if entry is None:
            book.pop(step)
        else:
            book[step] = entry
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.out_dir / f"{OUTPUTS_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(book, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.out_dir / OUTPUTS_FILE)

    def publish_unchanged(self, con: duckdb.DuckDBPyConnection, run_id: str, warehouse_path: Path) -> bool:
        """The copy itself says it holds this state: its latest committed job's state_sha256. (The
        working file cannot tell: a job records its outcome before publishing, so one killed while
        publishing looks finished there.) An unreadable or older copy is published again."""
        path = published_path(warehouse_path)
        if self.state is None or "publish" in self.waiting or not path.exists():
            return False
        try:
            copy = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            return False
        try:
            last = copy.execute(
                "SELECT state_sha256 FROM ops.runs WHERE status IN ('succeeded', 'committed_with_errors') "
                "ORDER BY started_at DESC LIMIT 1").fetchone()
        except duckdb.Error:  # a copy made before migration 0011
            return False
        finally:
            copy.close()
        return last is not None and last[0] == self.state


def plan(con: duckdb.DuckDBPyConnection, kind: str, state: str, out_dir: Path, waiting: set[str]) -> Plan:
    """Only a nightly run skips: rebuild is asked for to redo everything, and the other jobs
    change data by definition."""
    return Plan(Path(out_dir), state if kind == "run" else None, waiting)
