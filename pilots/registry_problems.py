"""A broken registry's problems as the open side may say them: the web (web/app.py `registry_broken`,
the 503 page; web/decisions.py, a decision's journal) and every job (`pilotkpi run`, `serve`,
`rebuild`, `reprocess`, `close-quarter`, ...: their CLI output, the flow run's Failed message in
Prefect's database, the served night's line, Prefect's task and flow logs).

A problem (pilots/registry.py RegistryProblem) names its file, its subject (`<pilot> / <KPI code>`)
and the rule, and a rule may quote the value it refused (`got {value!r}`, `they add up to …`): a
restricted pilot's problem therefore carries its KPI codes, names and thresholds, which the open
side never shows, logs or keeps (spec warehouse.md, "Messages stay on their side"). Such a problem
is said as its file and a neutral sentence, one line a file; the operator reads it whole with
`pilotkpi check FILE --registry DIR` (the one command that prints every problem as it is).

Which files are a restricted pilot's (`restricted_files`): a pilot file is when
- its own text says `classification: restricted` (read leniently: the file is broken), or
- the published copy's registry.pilots holds that pilot (the file's name, or the pilot_id it
  holds) as restricted: the copy the open side reads (the web too). A job reads that copy, not the
  working warehouse, which another job may hold open for writing; or
- neither says `open` alone: a file whose classification cannot be read (bad YAML, no key) and
  whose pilot the published copy does not hold (a new pilot, or no copy yet) counts as restricted.
A problem in another file (agencies.yaml, strategies.yaml, secretariat.yaml) is open, unless its
subject is a pilot the published copy holds as restricted.

A job's refusal never reaches ops.runs: the registry is read before the job's run row is started.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pilots.registry import Registry, RegistryError, RegistryProblem, load_registry
from pilots.registry_rules import part
from warehouse.personal import printable

SENTENCE = part("restricted_file")  # the neutral sentence, in the registry's catalogue (registry_rules.yaml)
NEUTRAL = {"th": "{file}: " + SENTENCE.th, "en": "{file}: " + SENTENCE.en}  # the web's, one language a line
BOTH = "{file}: " + SENTENCE.en + " / " + SENTENCE.th  # a job's line (CLI, Prefect, logs)
_CLASSIFICATION = re.compile(r"""^\s*["']?classification["']?\s*:\s*["']?([A-Za-z]+)""", re.M)
_PILOT_ID = re.compile(r"""^["']?pilot_id["']?\s*:\s*["']?([A-Za-z0-9_-]+)""", re.M)


def published_classes_in(published: Path) -> dict[str, str] | None:
    """pilot_id -> classification in a published copy's registry.pilots (read-only), None when it
    cannot be read (no copy yet, a damaged file): the files then decide, else restricted."""
    if not Path(published).is_file():
        return None
    try:
        import duckdb

        with duckdb.connect(str(published), read_only=True) as con:
            rows = con.execute("SELECT pilot_id, classification FROM registry.pilots").fetchall()
    except Exception:  # noqa: BLE001 - unreadable: the files decide, else restricted
        return None
    return {str(pid): str(c) for pid, c in rows}


def _file_says(path: Path) -> tuple[set[str], set[str]]:
    """(classifications, pilot ids) a pilot file's text gives, read leniently (the file is broken:
    a key twice, bad YAML): every `classification:` line counts, whatever its indent."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set(), set()
    return ({m.lower() for m in _CLASSIFICATION.findall(text)}, set(_PILOT_ID.findall(text)))


def restricted_files(problems, registry_dir: Path, published: dict[str, str] | None) -> set[str]:
    """The files (RegistryProblem.file) among `problems` whose problems are a restricted pilot's."""
    published = published or {}
    restricted = {pid for pid, c in published.items() if c != "open"}
    found: set[str] = set()
    for rel in {p.file for p in problems}:
        if not rel.startswith("pilots/") or rel == "pilots/":
            continue
        stem = Path(rel).stem
        classes, ids = _file_says(Path(registry_dir) / rel)
        said_ = classes | {published[i] for i in {stem, *ids} if i in published}
        if "restricted" in said_ or ({stem, *ids} & restricted) or said_ != {"open"}:
            found.add(rel)  # restricted by either, or by neither read (nothing, or not "open" alone)
    for p in problems:  # another file's problem about a restricted pilot
        if p.subject.split(" / ")[0].strip() in restricted:
            found.add(p.file)
    return found


@dataclass(frozen=True)
class MaskedProblem(RegistryProblem):
    """A restricted pilot's file's problems, all of them, as the open side says them: the file and
    the neutral sentence, in English and Thai on one line. It holds nothing of the problems."""

    def __str__(self) -> str:
        return BOTH.format(file=printable(self.file))

    def said(self, lang: str) -> str:  # the CLI's refusal says each language on its own lines
        return NEUTRAL[lang].format(file=printable(self.file))


def said(problems, hidden: set[str], lang: str) -> list[str]:
    """The problems' lines for one reader: whole, except those of `hidden` files, which are one
    neutral line a file (where its first problem was)."""
    lines, done = [], set()
    for p in problems:
        if p.file in hidden or isinstance(p, MaskedProblem):
            if p.file not in done:
                done.add(p.file)
                lines.append(NEUTRAL[lang].format(file=printable(p.file)))
        else:
            lines.append(printable(p.said(lang)))  # the rule in the reader's language
    return lines


def masked(exc: RegistryError, registry_dir: Path, published: dict[str, str] | None) -> RegistryError:
    """The broken registry as the open side may keep it: a new RegistryError whose restricted
    pilots' problems are one MaskedProblem a file (where its first problem was); `exc` itself when
    none is. The new one holds no text of theirs (nor `exc`, as its cause or context)."""
    hidden = restricted_files(exc.problems, registry_dir, published)
    if not hidden:
        return exc
    problems, done = [], set()
    for p in exc.problems:
        if p.file not in hidden:
            problems.append(p)
        elif p.file not in done:
            done.add(p.file)
            problems.append(MaskedProblem(p.file, "", ""))
    return RegistryError(problems)


def load_for_job(registry_dir: str | Path, published: Path | None) -> Registry:
    """load_registry for a job on the open side: a broken registry raises RegistryError masked
    (`masked`), the restricted pilots told from the published copy at `published` and the files."""
    try:
        return load_registry(registry_dir)
    except RegistryError as exc:
        broken = exc
    # Raised outside the except: the masked error carries no context of the whole one. Nor does
    # this frame, which is in its traceback: a handler printing frames' locals (rich, Sentry)
    # would show `broken` whole, so it is dropped before the raise.
    refusal = masked(broken, Path(registry_dir), None if published is None else published_classes_in(published))
    del broken
    raise refusal
