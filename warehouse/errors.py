"""The exceptions of the warehouse, and how an error's text reaches the open side.

Messages stay on their side (../shared/spec/warehouse.md): what the open side keeps about a job
(`ops.runs.error` and `failed_steps`, logs, Prefect's database, the CLI's output) names no
restricted file and quotes no restricted value. In a job that has a restricted store, every
error passes through one MessageGuard on its way out of the code that raised it (the job's tasks,
its body, each step after the commit), and only one of these leaves:
- a Refusal (pilotkpi's own one-line "no": its text holds ids, periods and file names, never a
  figure) or an OSError (errno, the system's words and a path), with every restricted file name
  in it replaced by open_side.HIDDEN_NAME;
- for any other error (a DuckDB error quoting a summed budget, a value in a parse error, ...): a
  MaskedError naming only the error's type and where the whole message is kept: the restricted
  store's error log, `<restricted store>.errors.log` (0600, the operator's alone).
A job without a restricted store has nothing to hide, and its errors pass unchanged.
"""
from __future__ import annotations

import os
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


class WarehouseRefused(Exception):
    """Refused before anything is written: the CLI prints `pilotkpi: <path>: <reason>` and exits 1.

    Holds only text (no DuckDB object), so the exception keeps no connection alive.
    """

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class Refusal(Exception):
    """pilotkpi's own refusal of a request (one line for the operator). Its text may name a file,
    never quote a figure: the open side sees it with restricted file names hidden."""


class Refused(Refusal, ValueError):
    """A refusal of what was asked (not due, not held, already done)."""


class NotFound(Refusal, LookupError):
    """A refusal: what was named does not exist."""


class MaskedError(Exception):
    """What the open side sees of an error whose text may quote restricted data."""


class CommitUnknown(Exception):
    """The job's COMMIT raised and the warehouse could not be opened again to see whether it holds
    the job (flows/nightly.py `_committed_after_all`): the CLI must not say "unchanged". The next
    job's open decides (its log replayed or not; warehouse/restricted.py `recover`). Holds only the
    open side's text of the COMMIT's error."""

    def __init__(self, commit_error: str):
        super().__init__(commit_error)  # args: what pickling gives back to __init__
        self.commit_error = commit_error

    def __str__(self) -> str:
        return (f"the COMMIT raised ({self.commit_error}) and the warehouse could not be opened again and read to "
                "see whether it holds this run: the next run finishes it if the commit was kept, else the "
                "warehouse is as it was before it")


ERROR_LOG_SUFFIX = ".errors.log"  # beside the restricted store: `<store>.errors.log`
LOG_MODE = 0o600


def error_log_of(store: str | Path) -> Path:
    path = Path(store)
    return path.with_name(path.name + ERROR_LOG_SUFFIX)


class MessageGuard:
    """The one place where a job with a restricted store turns an error into open text.

    `log`: the restricted store's error log; `hidden_names()`: the restricted files' names (called
    only when an error passes, so it sees the job's own rows); `job`: a label for the log.
    """

    def __init__(self, log: Path, hidden_names: Callable[[], Iterable[str]], job: str):
        self.log, self._hidden_names, self.job = Path(log), hidden_names, job

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """fn(*args, **kwargs); an error leaving it is open: redacted, or replaced by a MaskedError."""
        try:
            return fn(*args, **kwargs)
        except MaskedError:
            raise
        except Exception as exc:  # noqa: BLE001 - every error passes here, none is swallowed
            replacement = self.open_error(exc)
        # Raised here, outside the except block, so it carries no context: Prefect and the CLI
        # print an exception's chain, and the original's text is what must not leave. (A `with`
        # block could not do this: an exception raised in __exit__ has the original as context.)
        raise replacement

    def open_error(self, exc: Exception) -> Exception:
        """The exception the open side may keep: exc itself, redacted in place, or a MaskedError."""
        if isinstance(exc, (MaskedError, CommitUnknown)):
            return exc  # the open side's text already, made by a guard nearer to where it was raised
        if isinstance(exc, (Refusal, OSError, WarehouseRefused)):
            names = self._names()
            if names is not None:
                redact_exception(exc, names)
                return exc
        entry = self.keep(exc)
        return MaskedError(f"{type(exc).__name__} in a job that reads restricted pilots' data: its message may "
                           f"quote them, so it is kept in the restricted store's error log {self.log} "
                           f"(entry {entry})")

    def open_text(self, exc: Exception) -> str:
        """`Type: message` for ops.runs and the logs, as open_error leaves it."""
        shown = self.open_error(exc)
        return str(shown) if isinstance(shown, MaskedError) else f"{type(shown).__name__}: {shown}"

    def keep(self, exc: BaseException) -> str:
        """Append the whole error (its chain and traceback) to the restricted error log; returns
        the entry's reference (its UTC time). If the log cannot be written, the error is masked
        all the same, and the entry says so."""
        return self.keep_text("".join(traceback.format_exception(exc)))

    def keep_text(self, text: str) -> str:
        """Append `text` to the restricted error log as one entry; returns its reference."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_MODE)
            try:
                os.fchmod(fd, LOG_MODE)  # whatever the umask
                os.write(fd, f"=== {stamp} {self.job}\n{text}\n".encode("utf-8", "backslashreplace"))
            finally:
                os.close(fd)
        except OSError:
            return f"{stamp}, NOT written: the log could not be opened"
        return stamp

    def _names(self) -> set[str] | None:
        try:
            return {n for n in self._hidden_names() if n}
        except Exception:  # noqa: BLE001 - names unknown: the caller masks the whole message
            return None


def redact_exception(exc: Exception, names: set[str]) -> None:
    """exc's texts (and an OSError's file names) with every restricted name hidden; its chain
    dropped, since the errors it was raised from may name the files too."""
    from warehouse.open_side import redact

    if names:
        exc.args = tuple(redact(a, names) if isinstance(a, str) else a for a in exc.args)
        if isinstance(exc, OSError):
            for attr in ("filename", "filename2"):
                if getattr(exc, attr) is not None:
                    setattr(exc, attr, redact(str(getattr(exc, attr)), names))
        if isinstance(exc, WarehouseRefused):
            exc.path, exc.reason = redact(exc.path, names), redact(exc.reason, names)
    exc.__cause__ = exc.__context__ = None
    exc.__suppress_context__ = True


def stored_file_names(live_con, files: Iterable[Path]) -> set[str]:
    """The file names a restricted store records: through the job's own connection while it is
    open (its uncommitted rows included; an error there, such as an aborted transaction, raises,
    and the guard then masks the whole message), else from the first of `files` that exists (the
    job's committed working copy, then the store)."""
    from warehouse.on_disk import read_as_on_disk  # the file as on disk, though a web holds it open

    sql = "SELECT file_name FROM ingest.submissions"
    if live_con is not None:
        return {r[0] for r in live_con.execute(sql).fetchall()}
    for path in files:
        if Path(path).exists():
            con = read_as_on_disk(path)
            try:
                return {r[0] for r in con.execute(sql).fetchall()}
            finally:
                con.close()
    return set()


def unguarded(fn: Callable[..., T], *args, **kwargs) -> T:
    """The guard of a job without a restricted store: nothing to hide."""
    return fn(*args, **kwargs)
