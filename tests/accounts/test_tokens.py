"""API tokens: only the token counts on the API (whatever cookies come with it, and never the
session cookie alone), and a token's last use is recorded at most once a minute, in a transaction
of its own that a busy database may skip without failing the request."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text, update

from registry.accounts.models import ApiToken
from registry.extensions import db
from registry.lists.models import Change
from registry.timeutil import utcnow
from tests.conftest import Users, csrf_token, sign_in


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def last_used(app: Flask) -> datetime | None:
    with app.app_context():
        return db.session.scalar(select(ApiToken.last_used_at))


def set_last_used(app: Flask, moment: datetime | None) -> None:
    with app.app_context():
        db.session.execute(update(ApiToken).values(last_used_at=moment))
        db.session.commit()


@contextmanager
def token_locked(db_url: str) -> Iterator[None]:
    """Another writer holding what recording a use needs: SQLite's write lock, or the token's row."""
    if db_url.startswith("sqlite:///"):
        other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.connect() as other:
            other.execute(text("SELECT id FROM api_tokens FOR UPDATE"))
            yield
            other.rollback()
    finally:
        engine.dispose()


@pytest.fixture
def token(users: Users) -> str:
    users.create("ed@example.com", "editor")
    return users.token("ed@example.com")


# --- only the token counts on the API -----------------------------------------------------------


def test_a_token_is_accepted_with_a_session_cookie_of_the_public_pages(
    client: FlaskClient, token: str
) -> None:
    csrf_token(client)  # the sign-in page keeps a CSRF token in the session
    assert client.get_cookie("session") is not None
    assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200
    response = client.post(
        "/api/v1/lists/sub-processors/drafts", json={"action": "retire", "target": "x"}, headers=bearer(token)
    )
    assert response.status_code == 404  # reached the view: there is no such list
    # The session was left alone: still there for the public pages.
    assert client.get_cookie("session") is not None


def test_the_token_decides_who_acts_not_the_signed_in_session(
    editor: FlaskClient, users: Users, token: str
) -> None:
    users.create("boss@example.com", "admin")
    admin_token = users.token("boss@example.com")
    assert editor.get("/api/v1/audit", headers=bearer(admin_token)).status_code == 200
    assert editor.get("/api/v1/audit", headers=bearer(token)).status_code == 403
    assert editor.get("/admin/").status_code == 200  # the editor's own session still works there


def test_a_session_cookie_never_signs_in_to_the_api(admin: FlaskClient, app: Flask) -> None:
    """A signed-in admin's cookie carries no CSRF token or second factor an API call is held to."""
    assert admin.get("/admin/").status_code == 200
    response = admin.get("/api/v1/lists")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    response = admin.post("/api/v1/lists/sub-processors/drafts", json={"action": "retire", "target": "x"})
    assert response.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Change)) == 0
    assert admin.get("/admin/").status_code == 200  # and the session is not ended by trying


def test_a_bad_token_with_a_valid_session_is_refused(admin: FlaskClient) -> None:
    assert admin.get("/api/v1/lists", headers=bearer("prt_not-a-token")).status_code == 401


def test_a_token_does_not_sign_in_to_the_admin_pages_even_with_a_session_cookie(
    client: FlaskClient, token: str
) -> None:
    sign_in(client, "nobody@example.com", "wrong password")  # a session, not signed in
    assert client.get("/admin/", headers=bearer(token)).status_code == 302


# --- the last use: at most once a minute, never at the request's cost ---------------------------


def test_the_last_use_is_recorded_at_most_once_a_minute(app: Flask, client: FlaskClient, token: str) -> None:
    assert last_used(app) is None
    before = utcnow()
    assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200
    first = last_used(app)
    assert first is not None and first >= before - timedelta(seconds=1)
    assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200
    assert last_used(app) == first  # within the minute: not written again
    set_last_used(app, utcnow() - timedelta(seconds=61))
    assert client.post("/api/v1/lists/nope/drafts", json={}, headers=bearer(token)).status_code == 404
    again = last_used(app)
    assert again is not None and again >= before - timedelta(seconds=1)


def test_a_read_within_the_minute_writes_nothing(
    app: Flask, client: FlaskClient, db_url: str, token: str
) -> None:
    """Nothing to record: the read neither waits for nor needs any lock a writer holds."""
    set_last_used(app, utcnow())
    with token_locked(db_url):
        started = time.monotonic()
        assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200
        assert time.monotonic() - started < 0.5


def test_a_busy_database_skips_recording_the_use_and_answers_anyway(
    app: Flask, client: FlaskClient, db_url: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    long_ago = utcnow() - timedelta(days=3)
    set_last_used(app, long_ago)
    with token_locked(db_url), caplog.at_level(logging.WARNING, "registry.accounts.auth"):
        started = time.monotonic()
        response = client.get("/api/v1/lists", headers=bearer(token))
        waited = time.monotonic() - started
    assert response.status_code == 200
    assert waited < 5  # about the second recording may wait, not the database's busy timeout
    assert "last use not recorded, database busy" in caplog.text
    assert last_used(app) == long_ago
    assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200
    recorded = last_used(app)
    assert recorded is not None and recorded > long_ago  # the next request records it
