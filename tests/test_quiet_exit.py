"""Quiet, clean exits: DuckDB's bindings (nanobind) print "leaked instance" lines at exit when a
DuckDB object is still alive then. The CLI runs in a subprocess here, for failing jobs and a
succeeding one, and its stderr must not contain them (flows/nightly.py Live, cli_common.release)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_flow import AS_OF, make_scenario

REPO = Path(__file__).resolve().parents[1]
# A failure inside the warehouse transaction, after ingest and in a Prefect task (build-marts).
INJECT = ("import flows.nightly as n\n"
          "def boom(con, as_of, **kwargs):\n"
          "    con.execute('SELECT 42').fetchall()\n"
          "    raise RuntimeError('injected failure in the marts')\n"
          "n.build_marts = boom\n"
          "from flows.cli import main\n"
          "main()\n")


def cli(args: list[str], tmp_path: Path, api_url: str, inject: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "prefect-home"), PILOTKPI_SETTLE_SECONDS="0",
               PYTHONPATH=str(REPO))
    head = [sys.executable, "-c", INJECT] if inject else [sys.executable, "-m", "flows.cli"]
    return subprocess.run(head + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def api_url(prefect_harness):
    """The session's test server: the subprocesses use it instead of starting their own."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def run_args(registry, inbox, root, warehouse="wh.duckdb"):
    return ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse", str(root / warehouse),
            "--out", str(root / "out"), "--as-of", AS_OF]


def test_no_leak_lines_after_a_failure_inside_the_transaction_or_a_success(tmp_path, api_url):
    registry, inbox = make_scenario(tmp_path)
    failed = cli(run_args(registry, inbox, tmp_path), tmp_path, api_url, inject=True)
    assert failed.returncode == 1, failed.stderr
    assert "the run failed and the warehouse is unchanged: RuntimeError: injected failure in the marts" in failed.stderr
    assert "leaked" not in failed.stderr

    ok = cli(run_args(registry, inbox, tmp_path), tmp_path, api_url)
    assert ok.returncode == 0, ok.stderr
    assert "leaked" not in ok.stderr

    # A failing maintenance job: reprocess an id that does not exist (the flow opens the warehouse).
    missing = cli(["reprocess", "999", "--registry", str(registry), "--warehouse", str(tmp_path / "wh.duckdb"),
                   "--out", str(tmp_path / "out"), "--as-of", AS_OF], tmp_path, api_url)
    assert missing.returncode == 1 and "there is no submission 999" in missing.stderr, missing.stderr
    assert "leaked" not in missing.stderr


def test_no_leak_lines_after_a_broken_registry_or_a_corrupt_warehouse(tmp_path, api_url):
    registry, inbox = make_scenario(tmp_path)
    (tmp_path / "bad.duckdb").write_bytes(b"\x00not a database" * 300)
    corrupt = cli(run_args(registry, inbox, tmp_path, "bad.duckdb"), tmp_path, api_url)
    assert corrupt.returncode == 1 and corrupt.stderr.startswith(f"pilotkpi: {tmp_path / 'bad.duckdb'}: ")
    assert "leaked" not in corrupt.stderr

    (registry / "agencies.yaml").write_text("- {code: [unclosed\n", encoding="utf-8")
    broken = cli(run_args(registry, inbox, tmp_path), tmp_path, api_url)
    assert broken.returncode not in (0, 1) and "nothing was written" in broken.stderr, broken.stderr
    assert "leaked" not in broken.stderr
