"""`pilotkpi web` as a real uvicorn server: the binding rule, and a 2 GB upload stopped while it
streams, with the server's memory bounded."""
from __future__ import annotations

import re
import subprocess

import httpx
import psutil
import pytest

from tests.support import ROOT, SERIAL, child_env
from tests.web.conftest import start_server, web_args

CHUNK = b"\0" * (1024 * 1024)


@pytest.fixture
def server(site_dir):
    """conftest's server, started exactly as the README says (no Prefect server named: the web
    starts its own temporary one for its decisions), so that start stays under test here."""
    base, proc = start_server(site_dir, child_env())
    yield base, proc
    proc.terminate()
    proc.wait(timeout=30)


def test_another_address_needs_tls_or_a_proxy(site_dir):
    result = subprocess.run(web_args(site_dir, "--host", "0.0.0.0"), env=child_env(), cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "needs --tls-cert and --tls-key, or --behind-proxy" in result.stderr


def _signed_in(base: str, passwords) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=60)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    r = client.post("/signin", data={"csrf": csrf, "name": "demo-agency", "password": passwords["demo-agency"]})
    assert r.status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/upload").text).group(1)
    return client, csrf


@SERIAL
def test_two_gigabyte_upload_is_stopped_while_it_streams(server, passwords, site_dir):
    base, proc = server
    client, csrf = _signed_in(base, passwords)
    rss_before = psutil.Process(proc.pid).memory_info().rss
    boundary = "pilotkpiboundary"
    sent = [0]

    def body():  # 2 GiB of one reused 1 MiB chunk: the test allocates 1 MiB, not 2 GiB
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\n").encode()
        for _ in range(2048):
            sent[0] += len(CHUNK)
            yield CHUNK
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    try:
        r = client.post(f"/upload?csrf={csrf}", content=body(), headers=headers)
        status = r.status_code
    except httpx.TransportError:  # the server answered 413 and closed while we were still sending
        status = "closed"
    assert status in (413, "closed")
    assert sent[0] < 200 * 1024 * 1024, f"the server read {sent[0]:,} bytes before stopping"
    grown = psutil.Process(proc.pid).memory_info().rss - rss_before
    assert grown < 100 * 1024 * 1024, f"server RSS grew by {grown:,} bytes"
    # A declared 2 GiB body is refused before a byte of it is read.
    sent[0] = 0
    r = client.post(f"/upload?csrf={csrf}", content=body(), headers={**headers, "content-length": str(2 << 30)})
    assert r.status_code == 413 and sent[0] < 200 * 1024 * 1024
    assert not [p for p in (site_dir / "inbox").iterdir() if p.name.startswith("web-")]
    # The server is still well and serving.
    client2, _ = _signed_in(base, passwords)
    assert client2.get("/").status_code == 200


def test_an_accounts_file_others_may_read_is_refused_before_serving(site_dir):
    accounts = site_dir / "warehouse.accounts.json"
    accounts.chmod(0o644)
    result = subprocess.run(web_args(site_dir), env=child_env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"pilotkpi: {accounts}: group or others may read it (mode 644); run `chmod 600 {accounts}`"
