"""The optional second factor: enrolment, sign-in with a code, no replay, recovery codes, and
admins requiring it."""

from __future__ import annotations

import re
import time

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from registry.accounts import services
from registry.audit.services import SYSTEM
from registry.extensions import db
from tests.conftest import NOW, Users, csrf_token, sign_in


def _enrol(client: FlaskClient) -> tuple[pyotp.TOTP, list[str]]:
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)  # type: ignore[union-attr]
    otp = pyotp.TOTP(secret)
    wrong = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf_token(client, "/account/two-factor"), "code": "000000"},
    )
    assert wrong.status_code == 400
    response = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf_token(client, "/account/two-factor"), "code": otp.now()},
    )
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", response.get_data(as_text=True))
    assert len(codes) == 10
    return otp, codes


def _code_step(client: FlaskClient, code: str) -> int:
    return client.post(
        "/sign-in/code", data={"csrf_token": csrf_token(client, "/sign-in/code"), "code": code}
    ).status_code


def test_enrol_then_sign_in_with_a_code(app: Flask, users: Users) -> None:
    users.create("ed@example.com")
    client = app.test_client()
    sign_in(client, "ed@example.com")
    otp, _ = _enrol(client)

    fresh = app.test_client()
    response = sign_in(fresh, "ed@example.com")
    assert response.status_code == 302 and response.location == "/sign-in/code"
    assert fresh.get("/admin/").status_code == 302  # the password alone is not enough
    assert _code_step(fresh, "123456") == 401
    # The code used to enrol is spent; the next step's code is accepted, once.
    next_code = otp.at(time.time() + 30)
    assert _code_step(fresh, next_code) == 302
    assert fresh.get("/admin/").status_code == 200

    again = app.test_client()
    sign_in(again, "ed@example.com")
    assert _code_step(again, next_code) == 401  # replayed


def test_recovery_codes_work_once(app: Flask, users: Users) -> None:
    users.create("ed@example.com")
    client = app.test_client()
    sign_in(client, "ed@example.com")
    _, codes = _enrol(client)
    for expected in (302, 401):
        other = app.test_client()
        sign_in(other, "ed@example.com")
        assert _code_step(other, codes[0]) == expected


def test_the_code_step_needs_the_password_step(client: FlaskClient) -> None:
    response = client.get("/sign-in/code")
    assert response.status_code == 302 and response.location == "/sign-in"


def test_an_admin_can_require_it(app: Flask, users: Users) -> None:
    users.create("ed@example.com")
    with app.app_context():
        user = services.find_user(db.session, "ed@example.com")
        services.set_second_factor_required(db.session, user, True, actor=SYSTEM, now=NOW)  # type: ignore[arg-type]
        db.session.commit()
    client = app.test_client()
    assert sign_in(client, "ed@example.com").location == "/account/two-factor"
    assert client.get("/admin/").location == "/account/two-factor"
    _enrol(client)
    assert client.get("/admin/").status_code == 200
    # Required: the user cannot turn it off.
    otp = pyotp.TOTP(_secret(app))
    response = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf_token(client, "/account/two-factor"), "code": otp.at(time.time() + 30)},
    )
    assert response.status_code == 400
    assert "requires a second factor" in response.get_data(as_text=True)


def _secret(app: Flask) -> str:
    with app.app_context():
        user = services.find_user(db.session, "ed@example.com")
        assert user is not None and user.totp_secret
        return user.totp_secret


def test_guessing_a_code_to_turn_the_second_factor_off_is_rate_limited(app: Flask, users: Users) -> None:
    """Turning it off asks for a current code, so a signed-in session alone is not enough: that
    check may not be guessed without end, any more than the sign-in's code step."""
    users.create("ed@example.com")
    client = app.test_client()
    sign_in(client, "ed@example.com")
    otp, _ = _enrol(client)

    def turn_off(code: str) -> int:
        data = {"csrf_token": csrf_token(client, "/account/two-factor"), "code": code}
        return client.post("/account/two-factor", data=data).status_code

    wrong = "000000" if otp.now() != "000000" else "111111"
    assert [turn_off(wrong) for _ in range(6)] == [400] * 5 + [429]
    assert turn_off(otp.at(time.time() + 30)) == 429
    with app.app_context():
        assert services.find_user(db.session, "ed@example.com").totp_secret  # type: ignore[union-attr]
