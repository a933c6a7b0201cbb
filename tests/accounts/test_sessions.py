"""Sessions end when they should: at sign-out (even a copied cookie), when an admin ends them,
after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after signing in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.timeutil import utcnow
from tests.conftest import Users, csrf_token, sign_in


class Clock:
    """A clock the test moves; the app reads it through SESSION_CLOCK."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _copy(app: Flask, cookie: str) -> FlaskClient:
    """Another browser holding a copy of ``cookie`` (as someone who stole it would)."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def _actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    assert sign_in(client, "ed@example.com").status_code == 302
    thief = _copy(app, _cookie(client))
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lives
    assert client.post("/sign-out", data={"csrf_token": csrf_token(client, "/admin/")}).status_code == 302
    response = thief.get("/admin/")
    assert response.status_code == 302 and response.location.startswith("/sign-in")
    assert "user.sign_out" in _actions(app)
    # Signing in again works: a new session with the new epoch.
    assert sign_in(client, "ed@example.com").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_admin_ends_another_users_sessions(
    client: FlaskClient, admin: FlaskClient, users: Users, app: Flask
) -> None:
    ed = users.create("ed@example.com")
    assert sign_in(client, "ed@example.com").status_code == 302
    page = f"/admin/users/{ed}"
    assert "End sessions" in admin.get(page).get_data(as_text=True)
    # CSRF-protected: a post without the token ends nothing.
    assert admin.post(f"{page}/end-sessions").status_code == 400
    assert client.get("/admin/").status_code == 200
    response = admin.post(f"{page}/end-sessions", data={"csrf_token": csrf_token(admin, page)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302
    assert admin.get("/admin/").status_code == 200  # the admin's own session is untouched
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.end_sessions")).one()
        assert (event.actor, event.target_id) == ("admin@example.com", str(ed))


def test_only_admins_may_end_sessions(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com")
    other = users.create("eve@example.com")
    assert sign_in(client, "ed@example.com").status_code == 302
    token = csrf_token(client, "/admin/")
    assert client.post(f"/admin/users/{other}/end-sessions", data={"csrf_token": token}).status_code == 403


def test_an_admin_ending_their_own_sessions_stays_signed_in_here(admin: FlaskClient, app: Flask) -> None:
    with app.app_context():
        from registry.accounts.services import find_user

        me = find_user(db.session, "admin@example.com")
        assert me is not None
        my_id = me.id
    copy = _copy(app, _cookie(admin))
    page = f"/admin/users/{my_id}"
    assert admin.post(f"{page}/end-sessions", data={"csrf_token": csrf_token(admin, page)}).status_code == 302
    assert admin.get("/admin/").status_code == 200
    assert copy.get("/admin/").status_code == 302


def test_a_session_idle_too_long_is_refused(app_factory: Callable[..., Flask]) -> None:
    clock = Clock()
    app = app_factory(SESSION_CLOCK=clock, SESSION_IDLE_MINUTES=30)
    Users(app).create("ed@example.com")
    client = app.test_client()
    assert sign_in(client, "ed@example.com").status_code == 302
    for _ in range(4):  # active every 20 minutes: the session goes on past 30 minutes
        clock.advance(minutes=20)
        assert client.get("/admin/").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/admin/")
    assert response.status_code == 302 and response.location.startswith("/sign-in")
    # The session was cleared: it does not come back when the clock does.
    clock.advance(minutes=-31)
    assert client.get("/admin/").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(app_factory: Callable[..., Flask]) -> None:
    clock = Clock()
    app = app_factory(SESSION_CLOCK=clock)
    Users(app).create("ed@example.com")
    client = app.test_client()
    assert sign_in(client, "ed@example.com").status_code == 302
    client.get("/admin/")
    clock.advance(seconds=20)
    assert "Set-Cookie" not in client.get("/admin/").headers
    clock.advance(seconds=50)
    assert "Set-Cookie" in client.get("/admin/").headers


def test_a_session_ends_at_its_absolute_lifetime(app_factory: Callable[..., Flask]) -> None:
    clock = Clock()
    app = app_factory(SESSION_CLOCK=clock, SESSION_IDLE_MINUTES=30, SESSION_MAX_HOURS=12)
    Users(app).create("ed@example.com")
    client = app.test_client()
    assert sign_in(client, "ed@example.com").status_code == 302
    for _ in range(12 * 3):  # never idle, yet the session ends 12 hours after signing in
        clock.advance(minutes=20)
        assert client.get("/admin/").status_code == 200
    clock.advance(minutes=1)
    response = client.get("/admin/")
    assert response.status_code == 302 and response.location.startswith("/sign-in")
