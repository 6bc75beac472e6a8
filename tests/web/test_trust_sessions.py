"""Sessions made by requests without a cookie (anyone who reaches the site makes one per request)
stay bounded, and signed-in sessions are never dropped to make room (web/auth.py)."""
from __future__ import annotations

import re

from tests.web.conftest import Client, make_app
from web import auth
from web.auth import IDLE_SECONDS, Sessions


def test_a_flood_of_requests_without_a_cookie_keeps_the_session_table_bounded(site_dir, passwords, monkeypatch):
    # Main kept one server-side session per cookieless request until 8 hours idle: 40,000
    # requests held 17.7 MB, and each new one walked the whole table under the lock (2.3 ms each).
    monkeypatch.setattr(auth, "MAX_ANONYMOUS", 50, raising=False)  # (raising: main had no cap)
    app = make_app(site_dir)
    table = app.state.site.sessions._table
    member = Client(app)
    assert member.sign_in("demo-committee", passwords["demo-committee"]).status_code == 303
    early = Client(app)
    early_form = early.get("/signin").text  # a visitor who opened the form before the flood

    flood = Client(app)
    for _ in range(300):
        flood.http.cookies.clear()
        assert flood.get("/signin").status_code == 200
    assert len(table) <= 50 + 1  # the anonymous cap, and the one signed-in session

    # The signed-in account keeps its session through the flood.
    home = member.get("/")
    assert home.status_code == 200 and 'data-account="demo-committee"' in home.text
    # The form opened before the flood expired (its session was the least recently seen): refused,
    # nothing done; a reload signs in.
    token = re.search(r'name="csrf" value="([^"]+)"', early_form).group(1)
    stale = early.post("/signin", data={"csrf": token, "name": "demo-agency", "password": passwords["demo-agency"]})
    assert stale.status_code == 403
    # said on the site's page, in its default language (Thai), not as a bare English text
    assert "แบบฟอร์มหมดอายุ กรุณากลับไปหน้าเดิมแล้วลองใหม่" in stale.text
    assert early.sign_in("demo-agency", passwords["demo-agency"]).status_code == 303
    for c in (member, early, flood):
        c.close()


def test_a_visitor_seen_again_is_kept_before_one_not_seen_since():
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0], max_anonymous=3)
    first, second, third = (sessions.new() for _ in range(3))
    now[0] += 1
    assert sessions.from_cookie(sessions.cookie(first)) is first  # seen again: now the most recent
    fourth = sessions.new()
    assert sessions.from_cookie(sessions.cookie(second)) is None  # the least recently seen went
    for kept in (first, third, fourth):
        assert sessions.from_cookie(sessions.cookie(kept)) is kept
    signed_in = sessions.renew(third, "demo-agency")  # renew ends the anonymous one it replaces
    for _ in range(10):
        sessions.new()
    assert sessions.from_cookie(sessions.cookie(signed_in)) is signed_in  # never dropped for room
    assert len(sessions._table) == 3 + 1


def test_idle_sessions_are_still_removed_within_a_minute_of_their_8_hours():
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0])
    old = sessions.renew(None, "demo-agency")
    now[0] = IDLE_SECONDS + 1
    sessions.new()  # a new session looks for idle ones (at most once every auth.PRUNE_SECONDS, 60 s)
    assert old.id not in sessions._table
    stale = sessions.new()  # last seen at IDLE_SECONDS + 1
    now[0] = 2 * IDLE_SECONDS - 9
    sessions.new()  # a look: `stale` is not idle yet
    now[0] = 2 * IDLE_SECONDS + 2
    sessions.new()  # `stale` is idle, but the last look was 11 s ago: it waits for the next one
    assert sessions.from_cookie(sessions.cookie(stale)) is None  # refused all the same
    stale2 = sessions.new()
    now[0] = 3 * IDLE_SECONDS + 3
    assert stale2.id in sessions._table
    sessions.new()
    assert stale2.id not in sessions._table
