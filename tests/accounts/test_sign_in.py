"""Signing in and out: one answer for every failure, rate limits, CSRF, safe redirects, cookies."""

from __future__ import annotations

import itertools

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.extensions import db
from tests.conftest import PASSWORD, Users, csrf_token, sign_in


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_sign_in_and_out(client: FlaskClient, users: Users, app: Flask) -> None:
    users.create("ed@example.com")
    response = sign_in(client, "Ed@Example.com")
    assert response.status_code == 302 and response.location == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert client.get("/admin/").status_code == 200
    [event] = _events(app, "user.sign_in")
    assert event.actor == "ed@example.com" and event.ip == "127.0.0.1"

    token = csrf_token(client, "/admin/")
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_unknown_address_and_wrong_password_get_the_same_answer(
    client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    wrong = sign_in(client, "ed@example.com", "not the password")
    unknown = sign_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    message = "That email address and password do not match an active account."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert {e.summary for e in _events(app, "user.sign_in_failed")} == {"wrong password", "unknown address"}


def test_a_deactivated_user_cannot_sign_in(client: FlaskClient, users: Users, app: Flask) -> None:
    from registry.accounts import services
    from registry.audit.services import SYSTEM
    from tests.conftest import NOW

    users.create("ed@example.com")
    with app.app_context():
        user = services.find_user(db.session, "ed@example.com")
        services.update_user(db.session, user, role="editor", active=False, actor=SYSTEM, now=NOW)
        db.session.commit()
    assert sign_in(client, "ed@example.com").status_code == 401


def test_sign_in_needs_the_csrf_token(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com")
    response = client.post("/sign-in", data={"email": "ed@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_next_goes_only_to_local_paths(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com")
    assert sign_in(client, "ed@example.com", next="/admin/?x=1").location == "/admin/?x=1"
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/admin/")})
        assert sign_in(client, "ed@example.com", next=evil).location == "/admin/", evil


def test_sign_in_is_rate_limited_per_address(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com")
    statuses = [sign_in(client, "ed@example.com", "wrong password!").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    response = sign_in(client, "ed@example.com")
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    # Another address from the same place is not blocked by this one's limit.
    users.create("other@example.com")
    assert sign_in(client, "other@example.com").status_code == 302


def test_sign_in_is_rate_limited_per_ip(app_factory, users: Users) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(SIGN_IN_LIMIT_PER_IP="3 per 15 minutes")
    client = app.test_client()
    statuses = [sign_in(client, f"user{i}@example.com", "wrong password!").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_a_password_change_ends_other_sessions(app: Flask, users: Users) -> None:
    users.create("ed@example.com")
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "ed@example.com")
    sign_in(phone, "ed@example.com")
    response = laptop.post(
        "/account",
        data={
            "csrf_token": csrf_token(laptop, "/account"),
            "current": PASSWORD,
            "new": "a much longer passphrase",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/admin/").status_code == 200
    assert phone.get("/admin/").status_code == 302


def test_a_short_new_password_is_refused(editor: FlaskClient) -> None:
    response = editor.post(
        "/account", data={"csrf_token": csrf_token(editor, "/account"), "current": PASSWORD, "new": "short"}
    )
    assert response.status_code == 400
    assert "at least 12 characters" in response.get_data(as_text=True)


def test_unstorable_form_text_is_refused_before_anything_runs(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com")
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_token(client), "email": "ed@example.com\x00", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert "NUL or an invalid character" in response.get_data(as_text=True)


def test_what_was_typed_in_a_failed_sign_in_is_never_recorded(
    client: FlaskClient, users: Users, app: Flask
) -> None:
    # People type their password into the address field; the trail is kept forever.
    ed = users.create("ed@example.com")
    typed = "hunter2-my-password"
    assert sign_in(client, typed, "whatever it was").status_code == 401
    assert sign_in(client, "ed@example.com", typed).status_code == 401
    events = _events(app, "user.sign_in_failed")
    assert len(events) == 2
    for event in events:
        recorded = [event.actor, event.summary, event.target_type, event.target_id, event.before, event.after]
        assert typed not in repr(recorded).lower(), recorded
    unknown, known = sorted(events, key=lambda event: event.id)
    with app.app_context():
        from registry.security import fingerprint

        # The fingerprint still tells repeated attempts with one address apart from others.
        assert unknown.actor == f"unknown address {fingerprint(typed)[:16]}" and unknown.actor_id is None
    assert (known.actor_id, known.target_id, known.summary) == (ed, str(ed), "wrong password")


def test_guessing_the_current_password_is_rate_limited(app: Flask, users: Users) -> None:
    """Whoever holds a signed-in session (a borrowed laptop, a stolen cookie) may not try
    passwords without end at the change form: it is the sign-in's check, with the sign-in's limit."""
    users.create("ed@example.com")
    client = app.test_client()
    sign_in(client, "ed@example.com")

    def change(current: str) -> int:
        data = {
            "csrf_token": csrf_token(client, "/account"),
            "current": current,
            "new": "a much longer passphrase",
        }
        return client.post("/account", data=data).status_code

    assert [change(f"guess number {n}") for n in range(6)] == [400] * 5 + [429]
    assert change(PASSWORD) == 429  # the right one too, until the window passes
    data = {
        "csrf_token": csrf_token(client, "/account"),
        "current": PASSWORD,
        "new": "a much longer passphrase",
    }
    assert "Too many wrong attempts" in client.post("/account", data=data).get_data(as_text=True)
    # Another account is not held back by this one's guesses.
    users.create("other@example.com")
    other = app.test_client()
    sign_in(other, "other@example.com")
    data = {
        "csrf_token": csrf_token(other, "/account"),
        "current": PASSWORD,
        "new": "a much longer passphrase",
    }
    assert other.post("/account", data=data).status_code == 302


def test_a_right_password_change_does_not_count_against_the_limit(app: Flask, users: Users) -> None:
    users.create("ed@example.com")
    client = app.test_client()
    sign_in(client, "ed@example.com")
    passwords = [PASSWORD] + [f"a much longer passphrase {n}" for n in range(7)]
    for current, new in itertools.pairwise(passwords):
        data = {"csrf_token": csrf_token(client, "/account"), "current": current, "new": new}
        assert client.post("/account", data=data).status_code == 302
