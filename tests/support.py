"""Helpers that keep tests independent of where and how pytest was started."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The checkout under test, wherever pytest runs from (never os.getcwd(): from another checkout's
# folder a child process would import that checkout's code).
ROOT = Path(__file__).resolve().parent.parent

# Tests that start their own Prefect server or child processes, or measure time (SERIAL), and the
# served-schedule tests, which mostly wait for their cron minute (SERVER): their files start first
# (tests/conftest.py), the SERVER ones before the SERIAL ones, so the last files to run are short ones.
SERIAL_GROUP = "serial"
SERIAL = pytest.mark.xdist_group(SERIAL_GROUP)
SERVER_GROUP = "server"
SERVER = pytest.mark.xdist_group(SERVER_GROUP)
LONG_GROUPS = (SERVER_GROUP, SERIAL_GROUP)  # started first, in this order
# Whether the SERIAL (SERVER) tests run one after another on one worker, never beside each other.
# They never did until 2026-12-05 (pytest 9.2 ignored xdist's groups: tests/conftest.py), and every
# measured suite time so far is of them beside each other: they are about half the suite's time,
# so on one worker they alone would set the wall (more than 15 min on the slow machine). With False
# each stays with its file's tests (its module fixtures built once), on either worker.
LONG_GROUPS_APART = False


def rows(path: Path, sql: str, params=None) -> list[tuple]:
    """A query's rows from a DuckDB file (a warehouse, its published copy or restricted store),
    opened read-only and closed again."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child Python that must import this checkout's code:
    ROOT first on its path, and not the current directory (PYTHONSAFEPATH, Python 3.11)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra)
    return env


def migrated_prefect_home(path: Path) -> Path:
    """A new PREFECT_HOME at `path` whose Prefect database is already migrated, for a child
    `pilotkpi run` (or `serve`) whose subject is not a first start. On a fresh home the temporary
    server migrates its database first: 11-14 s of CPU against 4.5-4.8 s on a migrated one
    (measured 2026-12-06 on the small scenario, process tree). The migrated database is made once
    per worker (`prefect server database upgrade`) and copied. The tests of a first start keep a
    fresh home (tests/test_refused_run_server.py, tests/test_temporary_server.py). A home that is
    there already (an earlier child's) is kept as it is."""
    if not Path(path).exists():
        shutil.copytree(_migrated_template(), path)
    return Path(path)


def _migrated_template() -> Path:
    import prefect

    # Beside the worker's own PREFECT_HOME (tests/conftest.py), named by Prefect's version: a
    # database migrated by another version is never copied.
    template = Path(os.environ["PREFECT_HOME"]).with_name(
        f"migrated-{prefect.__version__}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    if not (template / "prefect.db").exists():
        building = Path(tempfile.mkdtemp(prefix="building-", dir=template.parent))
        env = {k: v for k, v in child_env(PREFECT_HOME=str(building)).items() if not k.startswith("PREFECT_API")}
        subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        shutil.rmtree(template, ignore_errors=True)
        building.rename(template)  # whole, or not there
    return template


def session_api_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """child_env for a child `pilotkpi run` (or `serve`) that needs a Prefect API but whose subject
    is not the temporary server (a SIGKILLed job, a umask, a served night): the session's test
    server (tests/conftest.py prefect_harness, which the test must request), so the child starts
    no server of its own. A temporary server on a migrated home cost 4.5-4.8 CPU s and its boot's
    wait per child (measured 2026-12-06). The tests of the temporary server itself
    (tests/test_temporary_server.py, test_refused_run_server.py, test_server_cleanup.py, the
    Dask nights that start while it boots) keep theirs. `prefect_home` holds the child's own
    Prefect settings and files."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "session_api_env needs the prefect_harness fixture"
    env = {k: v for k, v in child_env(**extra).items() if not k.startswith(("PREFECT_API", "PREFECT_PROFILE"))}
    env.update(PREFECT_API_URL=url, PREFECT_HOME=str(prefect_home))
    return env


def refused_in_memory(name: str, data: bytes):
    """(read_report's ReadFailure for the file `name` holding `data`, the peak bytes Python allocated
    while reading it): a hostile file must be refused, and in little memory."""
    import tracemalloc

    from pilots.readers import ReadFailure, read_report

    tracemalloc.start()
    try:
        with pytest.raises(ReadFailure) as info:
            read_report(name, data)
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def with_custom_property(workbook: bytes, name: str) -> bytes:
    """The workbook with a custom document property named `name` of a type openpyxl does not know
    (a blob), so that reading it warns "Unknown type for <name>": a library warning that quotes
    the agency's own text (tests/test_trust_*library*)."""
    import io
    import zipfile

    custom = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
              'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
              f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="2" name="{name}">'
              '<vt:blob>AAAA</vt:blob></property></Properties>')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                body = body.replace(b"</Types>", b'<Override PartName="/docProps/custom.xml" ContentType='
                                    b'"application/vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>')
            if item.filename == "_rels/.rels":
                body = body.replace(b"</Relationships>", b'<Relationship Id="rIdC" Type="http://schemas.openxmlformats'
                                    b'.org/officeDocument/2006/relationships/custom-properties" '
                                    b'Target="docProps/custom.xml"/></Relationships>')
            z.writestr(item, body)
        z.writestr("docProps/custom.xml", custom.encode("utf-8"))
    return out.getvalue()
