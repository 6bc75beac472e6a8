"""Fixtures of the web tests: a private copy of the README's demo (its warehouse, published copy,
restricted store, inbox and the demo accounts) and a client that signs in and sends forms."""
from __future__ import annotations

import html
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, child_env

AS_OF = date(2006, 8, 15)  # the demo's day
HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"


def report(period: str = "2549-Q3", submitted_on: str = "2006-08-10", disbursed: str = "5000000.00",
           agency: str = "10004", note: str = "ฐานข้อมูลนิติบุคคล") -> bytes:
    """A budget report of the Department of Business Development (10004, secondary agency of
    PLT-2548-004), which the demo has not received for 2549-Q3."""
    line = f"PLT-2548-004,{agency},{period},{submitted_on},budget,ACT-L3-03,3,,16130000.00,{disbursed},own,{note}"
    return f"{HEADER}\n{line}\n".encode("utf-8")


@pytest.fixture
def site_dir(demo_run, tmp_path) -> Path:
    """A copy of the demo folder for one test (the shared demo is never changed)."""
    folder, _ = demo_run
    target = tmp_path / "demo"
    shutil.copytree(folder, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def held_story_site(demo_run, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """tests/web/held_story.py's five held files on a copy of the demo, made once per worker and
    never changed: (folder, submission ids). tests/web/test_web_held.py and
    test_web_held_browser.py each read a copy."""
    from tests.web.held_story import make_held_story

    target = tmp_path_factory.mktemp("held-story") / "demo"
    return target, make_held_story(demo_run[0], target)


@pytest.fixture(scope="session")
def held_site(demo_run, tmp_path_factory) -> Path:
    """The demo with 2549-Q3 closed and two corrections held (committee guide section 4), made once
    per worker and never changed: tests/web/test_web_decisions.py and test_web_decisions_browser.py
    each decide on a copy (`_copy`)."""
    from tests.web.test_web_decisions import make_held_site

    folder = tmp_path_factory.mktemp("held") / "demo"
    make_held_site(demo_run[0], folder)
    return folder


@pytest.fixture(scope="session")
def reading_server(demo_run, tmp_path_factory):
    """`pilotkpi web` (as `server` starts it) on a copy of the demo, once per worker, for the browser
    tests that only read pages (sign-ins and language switches are all they write): (base URL,
    site folder, passwords). test_web_drill_browser.py and test_web_pilots_browser.py share it
    instead of starting a web each."""
    from prefect.settings import PREFECT_API_URL

    folder = tmp_path_factory.mktemp("reading") / "demo"
    shutil.copytree(demo_run[0], folder, symlinks=True)
    base, proc = start_server(folder, child_env(PREFECT_API_URL=PREFECT_API_URL.value()))
    yield base, folder, passwords_of(folder)
    proc.terminate()
    proc.wait(timeout=30)


def passwords_of(folder: Path) -> dict[str, str]:
    """The demo accounts' passwords, by name (demo-passwords.txt: tab-separated, the fourth field)."""
    lines = (folder / "demo-passwords.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[3] for line in lines}


@pytest.fixture
def passwords(site_dir) -> dict[str, str]:
    return passwords_of(site_dir)


def make_app(site_dir: Path):
    from web.app import SiteConfig, create_app

    return create_app(SiteConfig(site_dir / "registry", site_dir / "inbox", site_dir / "warehouse.duckdb", as_of=AS_OF))


class Client:
    """A TestClient that keeps its session cookie and reads each page's CSRF token."""

    def __init__(self, app):
        from starlette.testclient import TestClient

        # Not entered as a context: that would run the app's shutdown when one of several
        # clients of the same app is closed.
        self.http = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def csrf(self, path: str = "/signin") -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def sign_in(self, name: str, password: str):
        return self.http.post("/signin", data={"csrf": self.csrf("/signin"), "name": name, "password": password})

    def upload(self, file_name: str, data: bytes):
        return self.http.post(f"/upload?csrf={self.csrf('/upload')}", files={"file": (file_name, data, "text/csv")})

    def send(self, checked_page: str):
        token = re.search(r'name="token" value="([^"]+)"', checked_page).group(1)
        csrf = re.search(r'name="csrf" value="([^"]+)"', checked_page).group(1)
        return self.http.post("/send", data={"csrf": csrf, "token": token})

    def post(self, path: str, **kw):
        return self.http.post(path, **kw)


@pytest.fixture
def client_for(site_dir, passwords):
    """client_for(name): a signed-in client of one app (shared by the test's clients)."""
    app = make_app(site_dir)
    clients = []

    def make(name: str | None = None) -> Client:
        client = Client(app)
        clients.append(client)
        if name:
            assert client.sign_in(name, passwords[name]).status_code == 303
        return client

    make.app = app
    yield make
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def signed_in(app, passwords):
    """signed_in(name): a client of the module's app signed in as `name`, one per name for the
    whole module. For a module that reads one site: it gives `app` and `passwords`, module-scoped."""
    clients = {}

    def make(name: str) -> Client:
        if name not in clients:
            clients[name] = Client(app)
            assert clients[name].sign_in(name, passwords[name]).status_code == 303
        return clients[name]

    yield make
    for c in clients.values():
        c.close()


def verdict(page: str) -> str | None:
    found = re.search(r'data-verdict="([a-z]+)"', page)
    return found.group(1) if found else None


def text_of(page: str) -> str:
    """The text a reader sees (tags dropped, entities decoded, spaces collapsed)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_args(site_dir, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "web", "--registry", str(site_dir / "registry"),
            "--inbox", str(site_dir / "inbox"), "--warehouse", str(site_dir / "warehouse.duckdb"),
            "--as-of", AS_OF.isoformat(), *extra]


def start_server(site_dir, env: dict[str, str]):
    """`pilotkpi web` on the copy, started as the README says, once it answers: (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen(web_args(site_dir, "--port", str(port)), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/signin", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"pilotkpi web did not start: {proc.stdout.read().decode()}")
    return f"http://127.0.0.1:{port}", proc


@pytest.fixture
def server(site_dir):
    """`pilotkpi web` on the copy: (base URL, process). Its decisions' flows would run on the
    tests' Prefect server (PREFECT_API_URL, as tests/web/test_web_decisions.py starts it): with no
    server named, `pilotkpi web` starts a temporary one at start (its warm decisions engine), seconds
    of CPU beside the browser for tests that decide nothing. tests/web/test_web_server.py keeps the
    README's start, no server named."""
    from prefect.settings import PREFECT_API_URL

    base, proc = start_server(site_dir, child_env(PREFECT_API_URL=PREFECT_API_URL.value()))
    yield base, proc
    proc.terminate()
    proc.wait(timeout=30)
