"""A reader without a session cookie costs no session work; with one, the session is Flask's."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from registry.sessions import CookieSessions
from tests.conftest import Users, sign_in


def test_a_reader_without_a_cookie_gets_none_and_nothing_is_signed(app: Flask) -> None:
    interface = app.session_interface
    assert isinstance(interface, CookieSessions)
    response = app.test_client().get("/documents")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.vary  # the session was looked at: who is signed in
    assert interface._signing is None  # no serializer was ever built: nothing signed or checked


def test_a_signed_in_reader_keeps_the_session(client: FlaskClient, users: Users) -> None:
    users.create("editor@example.com", "editor")
    assert sign_in(client, "editor@example.com").status_code == 302
    assert client.get("/admin/").status_code == 200
    # A forged cookie is no session at all: back to signing in.
    client.set_cookie("session", "forged.value.here")
    assert client.get("/admin/").status_code == 302


def test_a_session_begun_without_a_cookie_is_sent(client: FlaskClient) -> None:
    """The sign-in form, fetched without a cookie, keeps its CSRF token in a new session."""
    cookies = client.get("/sign-in").headers.getlist("Set-Cookie")
    assert any(cookie.startswith("session=") for cookie in cookies)
