"""tests/web/browser.py's waits, against a small local server that sends its pages the way a
loaded server does: the signed-in page's first bytes at once and the rest a second later, and a
page that asks to be reloaded every second (as a decision's page does until it is done).

The first test is CI's failure of test_web_decisions_browser.py made certain: a click returns when
the new page has *committed*, so reading it right away finds half a page with no CSRF token;
`sign_in` and `follow` return only when it has loaded.
"""
from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import SERIAL
from tests.web.browser import chromium, follow, needs_chromium, new_page, path_of, sign_in, without_refresh

pytestmark = needs_chromium

SIGNIN = ('<html lang="th"><body><form method="post" action="/signin"><input name="name"><input name="password">'
          '<button type="submit" id="sign-in">เข้าสู่ระบบ</button></form></body></html>').encode()
LATE = 1.0  # seconds between the home page's first bytes and the rest


class SlowSite(BaseHTTPRequestHandler):
    reloads = 0  # GETs of /reloading, counted for the Refresh test
    held: threading.Event | None = None  # when set by a test, the home page's rest waits for it, not LATE

    def log_message(self, *args) -> None:  # quiet
        pass

    def _page(self, body: bytes, **headers: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(303)
        self.send_header("location", "/")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/signin":
            return self._page(SIGNIN)
        if self.path == "/reloading":
            type(self).reloads += 1
            return self._page(b'<html lang="en"><body><p id="state">queued</p></body></html>', refresh="1")
        # The signed-in home page: its head and an empty paragraph now, the account and the forms later.
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b'<html lang="th"><body><p>' + b" " * 4096)
        self.wfile.flush()
        if self.held is not None:
            self.held.wait(timeout=60)
        else:
            time.sleep(LATE)
        self.wfile.write(b'</p><span class="account" data-account="demo-committee">demo-committee</span>'
                         b'<form><input type="hidden" name="csrf" value="TOKEN-1"></form></body></html>')
        self.close_connection = True


@pytest.fixture
def slow_site():
    SlowSite.reloads, SlowSite.held = 0, None
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _csrf(page) -> str | None:
    found = re.search(r'name="csrf" value="([^"]+)"', page.content())
    return found.group(1) if found else None


@SERIAL
def test_reading_right_after_a_click_finds_half_a_page_and_the_helpers_wait_for_all_of_it(slow_site, browser):
    page = new_page(browser)
    page.goto(slow_site + "/signin")
    SlowSite.held = threading.Event()  # the rest of the page only once the test has read it
    page.click("#sign-in")  # what the tests did: the new page has committed, not loaded
    assert path_of(page) == "/" and _csrf(page) is None
    SlowSite.held.set()
    SlowSite.held = None

    page = new_page(browser)
    sign_in(page, slow_site, "demo-committee", "any")
    assert path_of(page) == "/" and _csrf(page) == "TOKEN-1"

    page = new_page(browser)
    page.goto(slow_site + "/signin")
    follow(page, "#sign-in")
    assert _csrf(page) == "TOKEN-1"


@SERIAL
def test_a_page_with_a_refresh_header_stays_put_only_without_it(slow_site, browser):
    page = new_page(browser)
    with without_refresh(page, slow_site + "/reloading"):
        page.goto(slow_site + "/reloading")
        time.sleep(2.5)  # the header asks for a reload every second
        assert SlowSite.reloads == 1 and page.inner_text("#state") == "queued"
    shown = page.goto(slow_site + "/reloading")  # served as sent: it reloads itself
    assert shown.headers["refresh"] == "1"
    deadline = time.monotonic() + 30
    while SlowSite.reloads < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert SlowSite.reloads >= 3
