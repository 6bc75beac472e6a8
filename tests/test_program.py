"""`pilotkpi run` ends its process without Python's teardown of the interpreter, once its work
and every exit handler are done (flows/program.py); only the program's own command line does,
never a command invoked in-process. The temporary server's output reaches the job's stderr
through the pipe the job reads (flows/ephemeral.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flows import ephemeral
from tests.support import ROOT, child_env

# An object whose finaliser writes a file: only the interpreter's teardown would run it (it stays
# referenced by this module's namespace), after an exit handler registered after flows.cli's.
PROGRAM = """
import atexit, sys
marker = sys.argv.pop(1)
from flows.cli import main
class Torn:
    def __init__(self, path, write=open):
        self.path, self.write = path, write
    def __del__(self):
        with self.write(self.path, "w") as fh:
            fh.write("torn down")
torn = Torn(marker)
atexit.register(lambda: open(marker + ".atexit", "w").write("handler ran"))
{call}
"""

def _broken_registry(tmp_path: Path) -> Path:
    registry = tmp_path / "registry"
    (registry / "pilots").mkdir(parents=True)
    (registry / "agencies.yaml").write_text("- {code: [unclosed\n", encoding="utf-8")
    return registry


def _run(tmp_path: Path, call: str) -> tuple[subprocess.CompletedProcess, Path]:
    marker = tmp_path / "marker"
    inbox = tmp_path / "inbox"  # its own folder: the warehouse inside the inbox is refused (one file, one role)
    inbox.mkdir()
    args = ["run", "--registry", str(_broken_registry(tmp_path)), "--inbox", str(inbox),
            "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(call=call), str(marker), *args], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    return done, marker


def test_the_program_exits_with_its_code_and_output_after_every_handler_without_the_teardown(tmp_path):
    done, marker = _run(tmp_path, "main()")
    assert done.returncode == 4, done.stderr  # a broken registry: EXIT_REGISTRY
    assert done.stderr.startswith("pilotkpi: broken registry (2 problems), nothing was written:\n")
    assert done.stderr.endswith("โฟลเดอร์ pilots/ ต้องมีไฟล์ <pilot_id>.yaml อย่างน้อยหนึ่งไฟล์\n")  # all of it (Thai last)
    assert (tmp_path / "marker.atexit").read_text() == "handler ran"  # every exit handler ran
    assert not marker.exists()  # the teardown did not


def test_a_command_invoked_in_process_leaves_its_process_to_end_as_it_would(tmp_path):
    done, marker = _run(tmp_path, "main.main(sys.argv[1:], standalone_mode=False)")
    assert "broken registry" in done.stderr
    assert (tmp_path / "marker.atexit").read_text() == "handler ran"
    assert marker.read_text() == "torn down"


def test_the_temporary_servers_output_reaches_this_processs_stderr(capfd):
    child = subprocess.Popen([sys.executable, "-c", "import sys; print('out ก'); print('err ข', file=sys.stderr)"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ephemeral._forward(child.stdout)  # returns at the pipe's end
    child.wait()
    assert sorted(capfd.readouterr().err.splitlines()) == ["err ข", "out ก"]
    assert child.stdout.closed


KEPT = """
import gc, json, sys
from flows import program
if sys.argv[1] == "program":
    program.started()
before = gc.get_freeze_count()
with program.imports_kept():
    during = gc.isenabled()
    import flows.nightly
print(json.dumps([during, gc.isenabled(), before, gc.get_freeze_count() > 10_000]))
"""


def test_the_programs_imports_run_without_collections_and_are_frozen_out_of_them_and_only_the_programs():
    def kept(who: str) -> list:
        done = subprocess.run([sys.executable, "-c", KEPT, who], cwd=ROOT, env=child_env(), capture_output=True,
                              text=True, timeout=120, check=True)
        return json.loads(done.stdout.splitlines()[-1])

    assert kept("program") == [False, True, 0, True]  # off while importing, on again, Prefect's objects frozen
    assert kept("in-process") == [True, True, 0, False]
