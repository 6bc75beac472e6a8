"""The errors the site answers itself are pages of the site (web.md Every page: "Thai by default,
with a switch to English ...; the account's name and role on every page"): an unknown address
(404), a method an address does not take (405) and a form the site refuses (403), each in the
site's frame, Thai first, English after the switch, its status kept, and nothing more said. A
signed-out visitor gets the sign-in link and no account or data."""
from __future__ import annotations

from tests.web.conftest import text_of

UNKNOWN = ("/no-such-page", "/pilots/PLT-2548-003/nothing/here", "/static/no-such.css", "/held/1/extra")
FRAME = ('<header class="site">', 'id="switch-language"', '<h1 id="message">')


def test_an_unknown_address_is_a_framed_404_in_thai_then_english(client_for):
    committee = client_for("demo-committee")
    for path in UNKNOWN:
        page = committee.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), path
        assert all(part in page.text for part in FRAME), path
        assert '<html lang="th">' in page.text and "ไม่พบหน้าที่ต้องการ" in text_of(page.text)
        assert 'data-account="demo-committee"' in page.text and "คณะกรรมการ" in text_of(page.text)  # name, role
        assert "404: not found" not in page.text
    committee.post("/language", data={"csrf": committee.csrf("/"), "lang": "en", "back": "/"})
    english = committee.get("/no-such-page")
    assert english.status_code == 404 and '<html lang="en">' in english.text
    assert "Page not found" in text_of(english.text) and "committee" in text_of(english.text)


def test_a_signed_out_visitor_gets_the_sign_in_link_and_nothing_else(client_for):
    visitor = client_for()
    page = visitor.get("/no-such-page")
    assert page.status_code == 404 and "ไม่พบหน้าที่ต้องการ" in text_of(page.text)
    assert 'href="/signin"' in page.text and 'data-account=' not in page.text and 'id="sign-out"' not in page.text
    assert 'href="/pilots"' not in page.text and 'href="/held"' not in page.text  # no signed-in navigation
    # Its language switch works, as on the sign-in page (the page gave it a session).
    visitor.post("/language", data={"csrf": visitor.csrf("/no-such-page"), "lang": "en", "back": "/no-such-page"})
    assert "Page not found" in text_of(visitor.get("/no-such-page").text)


def test_a_method_not_taken_is_a_framed_405_with_allow(client_for):
    analyst = client_for("demo-analyst")
    for method, path in (("PUT", "/pilots"), ("DELETE", "/"), ("POST", "/guide")):
        page = analyst.http.request(method, path)
        assert page.status_code == 405, (method, path)
        assert all(part in page.text for part in FRAME) and 'data-account="demo-analyst"' in page.text
        assert "หน้านี้ไม่รับคำขอแบบนี้" in text_of(page.text)
        assert "GET" in page.headers["allow"]


def test_a_refused_form_is_a_framed_403(client_for):
    """A form without its CSRF token, and one posted by a visitor who is not signed in: 403 in the
    site's words (the token's case says the form expired), never a bare text."""
    agency = client_for("demo-agency")
    refused = agency.post("/signout", data={"csrf": "wrong"})
    assert refused.status_code == 403 and 'data-account="demo-agency"' in refused.text
    assert "แบบฟอร์มหมดอายุ" in text_of(refused.text) and "CSRF token" not in refused.text
    visitor = client_for()
    posted = visitor.post("/decisions", data={"csrf": visitor.csrf("/signin")})
    assert posted.status_code == 403 and all(part in posted.text for part in FRAME)
    assert "กรุณาเข้าสู่ระบบก่อนใช้หน้านี้" in text_of(posted.text) and 'href="/signin"' in posted.text
