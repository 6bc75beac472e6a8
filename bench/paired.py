"""Two trees of the code measured side by side (bench/ingest_path.py, bench/read_path.py): a
revision's files taken out of git, and one measuring script run in a tree by a child process of
this Python, whose last line of output is its JSON result."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("pilots", "warehouse", "bench")  # what the measuring scripts import


def tree_at(rev: str, into: Path, folders: tuple[str, ...] = FOLDERS) -> Path:
    """The `folders` of `rev`, written under `into` (git archive, extracted with tar's data filter)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *folders], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_in(tree: Path, script: str, *args: object) -> dict:
    """Run `script` (python -c) with ARGS on `tree`'s code alone: its folder first on the path, no
    other environment (no site customisation of this shell, GE's analytics off)."""
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], check=True, capture_output=True,
                         text=True, cwd=tree, env={"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1",
                                                  "GX_ANALYTICS_ENABLED": "false", "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])
