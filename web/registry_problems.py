"""A broken registry's problems as the web may say them (web/app.py `registry_broken`, the 503 page;
web/decisions.py, a decision whose job met a broken registry).

A problem (pilots/registry.py RegistryProblem) names its file, its subject (`<pilot> / <KPI code>`)
and the rule, and a rule may quote the value it refused (`got {value!r}`): a restricted pilot's
problem therefore carries its KPI codes, names and thresholds, which the open side never shows to
an account not cleared for it, nor logs (docs: warehouse.md, web.md "Restricted pilots"). Such a
problem is said as its file and a neutral sentence (`neutral`), one line a file; the operator reads
it whole with `pilotkpi check`.

A file is a restricted pilot's when the published copy's registry.pilots says that pilot (the
file's name, or the pilot_id it holds) is restricted, or the file's own `classification:` does; a
pilot file of which neither can be read counts as restricted. A problem in another file whose
subject is a pilot the published copy holds as restricted counts too. Other files (agencies.yaml,
strategies.yaml, secretariat.yaml) are open.
"""
from __future__ import annotations

import re
from pathlib import Path

from warehouse.personal import printable

NEUTRAL = {
    "th": "{file}: ไฟล์ของโครงการชั้นความลับผิดกฎของทะเบียน ผู้ดูแลระบบดูรายละเอียดได้ด้วยคำสั่ง pilotkpi check",
    "en": "{file}: a restricted pilot's file breaks a rule; the operator sees it with pilotkpi check",
}
_CLASSIFICATION = re.compile(r"""^\s*["']?classification["']?\s*:\s*["']?([A-Za-z]+)""", re.M)
_PILOT_ID = re.compile(r"""^["']?pilot_id["']?\s*:\s*["']?([A-Za-z0-9_-]+)""", re.M)


def published_classes(data) -> dict[str, str] | None:
    """pilot_id -> classification in the published copy's registry.pilots (web/agency.py
    AgencyData), None when it cannot be read."""
    try:
        return {str(r["pilot_id"]): str(r["classification"])
                for r in data.published.rows("SELECT pilot_id, classification FROM registry.pilots")}
    except Exception:  # noqa: BLE001 - unreadable: the files decide, else restricted
        return None


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
        said = classes | {published[i] for i in {stem, *ids} if i in published}
        if "restricted" in said or ({stem, *ids} & restricted) or said != {"open"}:
            found.add(rel)  # restricted by either, or by neither read (nothing, or not "open" alone)
    for p in problems:  # another file's problem about a restricted pilot
        if p.subject.split(" / ")[0].strip() in restricted:
            found.add(p.file)
    return found


def said(problems, hidden: set[str], lang: str) -> list[str]:
    """The problems' lines for one reader: whole, except those of `hidden` files, which are one
    neutral line a file (where its first problem was)."""
    lines, done = [], set()
    for p in problems:
        if p.file in hidden:
            if p.file not in done:
                done.add(p.file)
                lines.append(NEUTRAL[lang].format(file=printable(p.file)))
        else:
            lines.append(printable(str(p)))
    return lines
