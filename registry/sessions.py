"""The signed cookie session, at no cost to a reader who has none.

Flask builds a signing serializer for every request, cookie or not, and computes every cookie
attribute on the way out even when there is nothing to send. Most requests are readers of the
public pages who never signed in: for them there is nothing to verify and nothing to sign. So a
request without the cookie gets an empty session straight away, and an empty, unchanged session
is saved by only saying ``Vary: Cookie`` (when it was looked at, as Flask does). With a cookie,
and for any session that changes, Flask's own code runs, with its serializer built once per key.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, skipping the signing work where there is nothing signed."""

    def __init__(self) -> None:
        # The serializer of the current keys: keys are settings, so they rarely change (tests).
        self._signing: tuple[object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        signing = self._signing
        if signing is None or signing[0] != keys:
            signing = self._signing = (keys, super().get_signing_serializer(app))
        return signing[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:
            if session.accessed:
                vary_on_cookie(response)
            return
        super().save_session(app, session, response)


def vary_on_cookie(response: Response) -> None:
    """Add ``Cookie`` to ``Vary`` as ``response.vary.add`` would, without parsing the header into
    a set and writing it back (the most a reader without a cookie costs here)."""
    headers = response.headers
    vary = headers.get("Vary")
    if not vary:
        headers["Vary"] = "Cookie"
    elif "cookie" not in {item.strip().lower() for item in vary.split(",")}:
        headers["Vary"] = f"{vary}, Cookie"
