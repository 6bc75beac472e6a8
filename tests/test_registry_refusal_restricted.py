"""A broken registry's refusal keeps a restricted pilot's text off the open side (warehouse.md,
"Messages stay on their side"; verifier VN F1).

On a copy of the demo (PLT-2548-006 restricted, PLT-2548-003 open; run once, so the published copy
holds registry.pilots): 006's KPI S1 gets a name holding a bidi character and a marker, and its S2 a
weight of 49.9999 (the weights add up to 99.9999); 003's K1 weight goes from 40 to 30 (they add up
to 90). Each job refuses (exit 4) and nothing is written; whatever the open side keeps (the CLI's
output; the served night's line and the flow run's Failed message, in Prefect's database) names
006's file with the neutral sentence in English and Thai, and quotes none of its values; 003's
problem is said whole. `pilotkpi check` is where the operator reads 006's problems whole.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots.demo import AS_OF

MARK = "Q7ZK-hidden-kpi"  # the restricted KPI name's marker
SECRETS = (MARK.encode(), b"99.9999", b"PLT-2548-006 / S")  # its name, its weights' total, its KPI codes
R_FILE, O_FILE = "pilots/PLT-2548-006.yaml", "pilots/PLT-2548-003.yaml"
# Worked from web.md's neutral sentences (web/registry_problems.py): English then Thai on one line
# where one line holds both (the flow's Failed message), each on its language's line in the CLI's
# refusal, which gives the problems in English, then in Thai (pilots/registry_rules.yaml).
NEUTRAL_EN = f"{R_FILE}: a restricted pilot's file breaks a rule; the operator sees it with pilotkpi check"
NEUTRAL_TH = f"{R_FILE}: ไฟล์ของโครงการชั้นความลับผิดกฎของทะเบียน ผู้ดูแลระบบดูรายละเอียดได้ด้วยคำสั่ง pilotkpi check"
NEUTRAL = NEUTRAL_EN + " / " + NEUTRAL_TH.removeprefix(f"{R_FILE}: ")
OPEN = f"{O_FILE}: PLT-2548-003: KPI weights must add up to 100 (they add up to 90)"
OPEN_TH = f"{O_FILE}: PLT-2548-003: weight ของตัวชี้วัดรวมกันต้องเท่ากับ 100 (รวมได้ 90)"
REFUSAL = (f"pilotkpi: broken registry (2 problems), nothing was written:\n  - {OPEN}\n  - {NEUTRAL_EN}\n"
           f"pilotkpi: ทะเบียนโครงการไม่ถูกต้อง (2 ข้อ) จึงไม่ได้บันทึกข้อมูลใด ๆ:\n  - {OPEN_TH}\n  - {NEUTRAL_TH}\n")


def _break(registry: Path, classification: str = "restricted") -> None:
    path = registry / R_FILE
    text = path.read_text(encoding="utf-8")
    head, s2 = text.split("  - code: S2", 1)
    text = head.replace("name_en: Security agencies linked", f'name_en: "{MARK} linked \\u200e"') \
        + "  - code: S2" + s2.replace("weight: 50", "weight: 49.9999")
    path.write_text(text.replace("classification: restricted", f"classification: {classification}"),
                    encoding="utf-8")
    path = registry / O_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("weight: 40", "weight: 30"), encoding="utf-8")


@pytest.fixture
def demo(demo_run, tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(demo_run[0], folder)
    (folder / "inbox2").mkdir()
    return folder


def _found(data: bytes) -> list[bytes]:
    return [s for s in SECRETS if s in data]


def _stores(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("warehouse.duckdb", "warehouse.published.duckdb", "warehouse.restricted.duckdb"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _job(command: str, folder: Path) -> list[str]:
    common = ["--registry", str(folder / "registry"), "--warehouse", str(folder / "warehouse.duckdb"),
              "--out", str(folder / "out"), "--as-of", AS_OF.isoformat()]
    return {"run": ["run", "--inbox", str(folder / "inbox2"), *common],
            "close-quarter": ["close-quarter", "2549-Q3", "--by", "Somchai", *common],
            "rebuild": ["rebuild", *common]}[command]


@pytest.mark.parametrize("command", ["run", "close-quarter", "rebuild"])
def test_a_job_names_the_restricted_file_and_a_neutral_line_and_the_open_problem_whole(demo, command):
    _break(demo / "registry")
    before = _stores(demo)
    done = CliRunner().invoke(main, _job(command, demo))
    assert done.exit_code == 4, done.output
    assert done.output == REFUSAL
    assert _found(done.output.encode()) == []
    assert _stores(demo) == before  # nothing was written


def test_check_says_the_restricted_problems_whole_to_the_operator(demo):
    _break(demo / "registry")
    clean = Path(__file__).parent / "data" / "defects" / "CLEAN.csv"
    done = CliRunner().invoke(main, ["check", str(clean), "--registry", str(demo / "registry")])
    assert done.exit_code == 4, done.output
    assert f"{R_FILE}: PLT-2548-006 / S1: name_en must not hold control, bidi or line-separator characters " \
           f"(got '{MARK} linked \\u200e')" in done.output
    assert f"{R_FILE}: PLT-2548-006: KPI weights must add up to 100 (they add up to 99.9999)" in done.output
    assert OPEN in done.output and "restricted pilot's file breaks a rule" not in done.output


def test_a_file_set_open_is_masked_while_the_published_copy_holds_the_pilot_restricted(demo):
    """The registry moves 006 to open, but no job has committed that: the open side has none of its
    values yet, so its problems are still masked (the published copy says restricted)."""
    _break(demo / "registry", classification="open")
    done = CliRunner().invoke(main, _job("run", demo))
    assert (done.exit_code, done.output) == (4, REFUSAL)


def test_the_served_night_keeps_no_restricted_text_in_prefect(demo, prefect_harness, monkeypatch, capsys):
    """The `nightly` flow as `pilotkpi serve` runs it (no CLI check before it; told it is deployed,
    so it prints the served line): its Failed state's message in Prefect's database is the masked
    refusal, and no file of Prefect's database holds a byte of the restricted text."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    from flows.nightly import nightly

    monkeypatch.setattr("flows.nightly._deployed", lambda: True)
    _break(demo / "registry")
    before = _stores(demo)
    state = nightly(registry_dir=demo / "registry", inbox=demo / "inbox2", warehouse_path=demo / "warehouse.duckdb",
                    out_dir=demo / "out", as_of=AS_OF, settle_seconds=0, return_state=True)
    APILogHandler().flush()
    expected = f"broken registry:\n  - {OPEN}\n  - {NEUTRAL}"
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).state
    assert (stored.type.value, stored.message) == ("FAILED", expected)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("pilotkpi: scheduled run")] == [
        "pilotkpi: scheduled run did not start: RegistryError: " + expected.replace("\n", "\\n")]
    assert _found(out.encode()) == []
    assert _stores(demo) == before
    prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]).parent
    files = [p for p in sorted(prefect_db.rglob("*")) if p.is_file()]
    assert files
    assert {str(p): _found(p.read_bytes()) for p in files if _found(p.read_bytes())} == {}
