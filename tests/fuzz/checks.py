"""What a nightly run must do with any inbox, however hostile (issue 13, item 4).

`fuzz_session` runs `pilotkpi run` twice on the same files (the second time they are put back
into the inbox) through click's CliRunner, and keeps what the checks need. Each `check_*`
returns a list of problems (empty when the check holds), so pytest can assert each on its own
and `python -m tests.fuzz.run` can print them all.
"""
from __future__ import annotations

import functools
import hashlib
import re
import shutil
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import html5lib
import yaml
from click.testing import CliRunner

from pilots import demo
from tests.fuzz.generator import AS_OF, FuzzFile

# What HTML forbids in a document, escaped or not: C0/C1 controls other than whitespace, lone
# surrogates and noncharacters (html5lib's "invalid codepoint").
INVALID_CODEPOINT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
HTML_PAGES = ("summary.th.html", "summary.en.html", "validation.html")
MARKDOWN_PAGES = ("summary.th.md", "summary.en.md")
MART_DOCS = Path(__file__).resolve().parents[2] / "kpis"  # kpis/<mart>.yml: grain, keys, columns


@dataclass
class RunRecord:
    """One `pilotkpi run`: its exit, output, and the state it left."""
    exit_code: int
    output: str
    crash: str | None                              # a traceback that escaped the CLI
    run_id: str | None = None
    submissions: list[tuple] = field(default_factory=list)   # (file_name, status, sha256) of this run
    marts: dict[str, list[str]] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)            # files left in the inbox itself
    filed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # folder -> [(name, sha256)]
    pages: dict[str, bytes] = field(default_factory=dict)
    trail: list[str] = field(default_factory=list)            # audit-trail problems (trail_problems)
    keys: list[str] = field(default_factory=list)             # mart key problems (mart_key_problems)


@dataclass
class FuzzSession:
    files: list[FuzzFile]
    first: RunRecord
    second: RunRecord | None


def write_registry(folder: Path) -> Path:
    folder = Path(folder)
    for rel, text in demo.registry_files().items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(text.encode("utf-8"))
    return folder


def run_cli(registry: Path, inbox: Path, root: Path) -> RunRecord:
    from flows.cli import main

    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of",
                                       AS_OF.isoformat(), "--settle-seconds", "0"])
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(*result.exc_info))
    return RunRecord(result.exit_code, result.output, crash)


def _observe(record: RunRecord, root: Path, inbox: Path) -> None:
    warehouse = root / "wh.duckdb"
    if warehouse.exists():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            last = con.execute("SELECT run_id FROM ops.runs WHERE kind = 'run' ORDER BY started_at DESC LIMIT 1").fetchone()
            record.run_id = last[0] if last else None
            record.submissions = con.execute("SELECT file_name, status, sha256 FROM ingest.submissions WHERE run_id = ? "
                                             "ORDER BY submission_id", [record.run_id]).fetchall()
            record.marts = marts_snapshot(con)
            record.trail = trail_problems(con)
            record.keys = mart_key_problems(con, "warehouse")
        finally:
            con.close()
        restricted = root / "wh.restricted.duckdb"  # the restricted pilot's files (warehouse/restricted.py)
        if restricted.exists():
            con = duckdb.connect(str(restricted), read_only=True)
            try:
                record.submissions += con.execute("SELECT file_name, status, sha256 FROM ingest.submissions "
                                                  "WHERE run_id = ? ORDER BY submission_id", [record.run_id]).fetchall()
                record.marts.update({f"restricted.{n}": r for n, r in marts_snapshot(con).items()})
                record.keys += mart_key_problems(con, "restricted store")
            finally:
                con.close()
    record.loose = sorted(p.name for p in inbox.iterdir() if not p.is_dir())
    record.filed = {d.name: sorted((p.name, _sha(p)) for p in d.iterdir()) for d in inbox.iterdir() if d.is_dir()}
    out = root / "out"
    for name in (*HTML_PAGES, *MARKDOWN_PAGES):
        if (out / name).exists():
            record.pages[name] = (out / name).read_bytes()


def trail_problems(con) -> list[str]:
    """ingest.status_changes against ingest.submissions (issue 14): every submission has a chain of
    changes, each status_before the previous status_after, the last one its current status."""
    problems = [f"submission {sid} has no status change" for (sid,) in con.execute(
        "SELECT submission_id FROM ingest.submissions ANTI JOIN ingest.status_changes USING (submission_id) "
        "ORDER BY 1").fetchall()]
    chained = ("SELECT *, lag(status_after) OVER w AS previous, row_number() OVER w = count(*) OVER "
               "(PARTITION BY submission_id) AS last FROM ingest.status_changes "
               "WINDOW w AS (PARTITION BY submission_id ORDER BY change_id)")
    problems += [f"submission {sid}: change {cid} starts from {before}, not {previous}" for sid, cid, before, previous
                 in con.execute(f"SELECT submission_id, change_id, status_before, previous FROM ({chained}) "
                                f"WHERE status_before IS DISTINCT FROM previous ORDER BY 2").fetchall()]
    problems += [f"submission {sid} is {status} but its last change says {after}" for sid, status, after
                 in con.execute(f"SELECT s.submission_id, s.status, c.status_after FROM ({chained}) c "
                                f"JOIN ingest.submissions s USING (submission_id) WHERE c.last "
                                f"AND c.status_after <> s.status ORDER BY 1").fetchall()]
    return problems


def check_trail(record: RunRecord | None) -> list[str]:
    return [] if record is None else record.trail


def declared_mart_keys() -> dict[str, list[str]]:
    """Each mart's key columns, as its kpis/<name>.yml declares them (`keys:`)."""
    return {name: list(keys) for name, keys in _declared_mart_keys()}


@functools.cache
def _declared_mart_keys() -> tuple[tuple[str, tuple[str, ...]], ...]:
    # Parsed once per process: every run of a fuzz session checks both stores against them
    # (0.1 s of CPU per parse, four parses a session).
    docs = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(MART_DOCS.glob("*.yml"))]
    return tuple((doc["name"], tuple(doc["keys"])) for doc in docs)


def mart_key_problems(con, store: str) -> list[str]:
    """Every marts.* relation in this store has declared keys, and no row repeats them or leaves
    one of them NULL."""
    declared = declared_mart_keys()
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' UNION "
                                       "SELECT view_name FROM duckdb_views() WHERE schema_name = 'marts' ORDER BY 1"
                                       ).fetchall()]
    problems = []
    for name in names:
        keys = declared.get(name)
        if not keys:
            problems.append(f"{store}: marts.{name} declares no keys (kpis/{name}.yml)")
            continue
        columns = ", ".join(f'"{k}"' for k in keys)
        nulls = con.execute(f'SELECT count(*) FROM marts."{name}" WHERE {" OR ".join(f"{c} IS NULL" for c in columns.split(", "))}'
                            ).fetchone()[0]
        if nulls:
            problems.append(f"{store}: marts.{name}: {nulls} row(s) with a NULL in its keys ({', '.join(keys)})")
        repeated = con.execute(f'SELECT {columns}, count(*) AS n FROM marts."{name}" GROUP BY ALL HAVING n > 1 '
                               f"ORDER BY n DESC, {columns} LIMIT 3").fetchall()
        if repeated:
            problems.append(f"{store}: marts.{name}: keys ({', '.join(keys)}) repeated, e.g. {repeated}")
    return problems


def check_mart_keys(record: RunRecord | None) -> list[str]:
    return [] if record is None else record.keys


def marts_snapshot(con) -> dict[str, list[str]]:
    """Every marts.* relation's rows, ordered, as text (so NaN equals NaN)."""
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' UNION "
                                       "SELECT view_name FROM duckdb_views() WHERE schema_name = 'marts' ORDER BY 1"
                                       ).fetchall()]
    return {n: [repr(r) for r in con.execute(f'SELECT * FROM marts."{n}" ORDER BY ALL').fetchall()] for n in names}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put_back(inbox: Path) -> None:
    """The agencies send the very same files again: everything filed away goes back into the inbox."""
    for folder in [p for p in inbox.iterdir() if p.is_dir()]:
        for path in folder.iterdir():
            path.rename(inbox / path.name)


def fuzz_session(root: Path, files: list[FuzzFile]) -> FuzzSession:
    """Write the files into root/inbox and run twice (the second time on the same files again)."""
    registry = write_registry(root / "registry")
    inbox = root / "inbox"
    inbox.mkdir()
    for f in files:
        (inbox / f.name).write_bytes(f.data)
    first = run_cli(registry, inbox, root)
    _observe(first, root, inbox)
    if first.exit_code != 0 or first.loose:
        return FuzzSession(files, first, None)
    for name in (*HTML_PAGES, *MARKDOWN_PAGES):  # the second run must write its own
        (root / "out" / name).unlink(missing_ok=True)
    put_back(inbox)
    second = run_cli(registry, inbox, root)
    _observe(second, root, inbox)
    return FuzzSession(files, first, second)


# --- the checks ---------------------------------------------------------------------------------

def check_exit(record: RunRecord | None, which: str = "run") -> list[str]:
    if record is None:
        return [f"the {which} did not happen (the run before it failed)"]
    if record.exit_code == 0:
        return []
    return [f"the {which} exited {record.exit_code}: {record.output.strip()[-2000:]}" + (
        f"\n{record.crash}" if record.crash else "")]


def check_recorded_once(session: FuzzSession) -> list[str]:
    """Every file exactly once in this run's submissions; byte-identical files after the first are duplicates."""
    record = session.first
    problems = []
    seen = Counter(name for name, _, _ in record.submissions)
    for f in session.files:
        if seen[f.name] != 1:
            problems.append(f"file {f.index} {f.name!r} recorded {seen[f.name]} times")
    extra = set(seen) - {f.name for f in session.files}
    problems += [f"a submission for a file that was not sent: {name!r}" for name in sorted(extra)]
    by_sha: dict[str, list[str]] = defaultdict(list)
    for f in sorted(session.files, key=lambda f: f.name):  # order of receipt: code-point order of names
        by_sha[hashlib.sha256(f.data).hexdigest()].append(f.name)
    status = {name: s for name, s, _ in record.submissions}
    for names in by_sha.values():
        if names[0] in status and status[names[0]] == "duplicate":
            problems.append(f"{names[0]!r} is the first of its bytes but was recorded as a duplicate")
        problems += [f"{name!r} is a byte-identical copy of {names[0]!r} but was recorded as {status.get(name)}"
                     for name in names[1:] if status.get(name) != "duplicate"]
    return problems


def check_filed_away(session: FuzzSession, record: RunRecord | None = None) -> list[str]:
    """No loose file left; processed/ and quarantine/ hold every file once, with its bytes."""
    record = record or session.first
    problems = [f"left in the inbox: {name!r}" for name in record.loose]
    if set(record.filed) - {"processed", "quarantine"}:
        problems.append(f"unexpected folders in the inbox: {sorted(set(record.filed) - {'processed', 'quarantine'})}")
    filed = {name: (folder, sha) for folder, items in record.filed.items() for name, sha in items}
    status = {name: s for name, s, _ in record.submissions}
    for f in session.files:
        if f.name not in filed:
            problems.append(f"file {f.index} {f.name!r} is not in processed/ or quarantine/")
            continue
        folder, sha = filed[f.name]
        if sha != hashlib.sha256(f.data).hexdigest():
            problems.append(f"{f.name!r} in {folder}/ does not hold the bytes that were sent")
        want = "quarantine" if status.get(f.name) == "quarantined" else "processed"
        if folder != want:
            problems.append(f"{f.name!r} ({status.get(f.name)}) was filed in {folder}/, not {want}/")
    if sum(len(items) for items in record.filed.values()) != len(session.files):
        problems.append(f"{sum(len(i) for i in record.filed.values())} files filed away, {len(session.files)} sent")
    return problems


def check_html(record: RunRecord | None) -> list[str]:
    """Both summaries and the validation report exist and parse as HTML in html5lib's strict mode."""
    if record is None:
        return ["no run to check"]
    problems = []
    for name in HTML_PAGES:
        if name not in record.pages:
            problems.append(f"{name} was not written")
            continue
        try:
            text = record.pages[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{name} is not UTF-8: {exc}")
            continue
        parser = html5lib.HTMLParser(strict=True)
        try:
            parser.parse(text)
        except html5lib.html5parser.ParseError as exc:
            bad = INVALID_CODEPOINT.search(text)
            if bad:  # html5lib locates these at the start of the stream: say where it is
                at = bad.start()
                problems.append(f"{name} holds the invalid code point U+{ord(bad.group()):04X}: "
                                f"{text[max(at - 80, 0): at + 40]!r}")
                continue
            line, col = parser.errors[-1][0] if parser.errors else (0, 0)
            lines = text.splitlines()
            context = lines[line - 1][max(col - 80, 0): col + 80] if 0 < line <= len(lines) else ""
            problems.append(f"{name} is not valid HTML at line {line}, column {col}: {exc}: {context!r}")
    return problems


def check_no_script(record: RunRecord | None) -> list[str]:
    """No raw `<script>` (nor an event-handler attribute) from hostile text in any page."""
    if record is None:
        return ["no run to check"]
    problems = []
    for name, data in record.pages.items():
        text = data.decode("utf-8", errors="replace")
        if "<script" in text.lower():
            at = text.lower().index("<script")
            problems.append(f"{name} holds a raw <script>: {text[max(at - 60, 0): at + 60]!r}")
        if name.endswith(".html"):
            tree = html5lib.parse(text, namespaceHTMLElements=False)
            for el in tree.iter():
                if el.tag in ("script", "img", "iframe", "object", "embed"):
                    problems.append(f"{name} holds a <{el.tag}> element")
                problems += [f"{name} holds an event handler {a}= on <{el.tag}>" for a in el.attrib
                             if a.lower().startswith("on")]
    return problems


def check_second_run(session: FuzzSession) -> list[str]:
    """The same files again: exit 0, each recorded once more as a duplicate, filed away, no mart changed."""
    second = session.second
    problems = check_exit(second, "second run")
    if problems:
        return problems
    names = Counter(name for name, _, _ in second.submissions)
    problems += [f"second run recorded {f.name!r} {names[f.name]} times" for f in session.files if names[f.name] != 1]
    problems += [f"second run recorded {name!r} as {status}, not duplicate"
                 for name, status, _ in second.submissions if status != "duplicate"]
    problems += check_filed_away(session, second)
    for table, rows in session.first.marts.items():
        if second.marts.get(table) != rows:
            problems.append(f"marts.{table} changed in the second run "
                            f"({len(rows)} rows before, {len(second.marts.get(table) or [])} after)")
    if set(second.marts) != set(session.first.marts):
        problems.append(f"the marts themselves changed: {sorted(session.first.marts)} -> {sorted(second.marts)}")
    return problems


def all_problems(session: FuzzSession) -> dict[str, list[str]]:
    checks = {
        "exit 0": check_exit(session.first),
        "recorded once": check_recorded_once(session) if session.first.exit_code == 0 else [],
        "filed away": check_filed_away(session) if session.first.exit_code == 0 else [],
        "HTML parses (strict)": check_html(session.first),
        "no raw script": check_no_script(session.first),
        "second run": check_second_run(session),
        "audit trail": check_trail(session.first) + check_trail(session.second),
        "mart keys unique, not null": check_mart_keys(session.first) + check_mart_keys(session.second),
    }
    if session.second is not None:
        checks["second run: HTML parses (strict)"] = check_html(session.second)
    return {name: found for name, found in checks.items() if found}
