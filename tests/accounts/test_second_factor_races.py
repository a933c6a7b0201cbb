"""One one-time code or recovery code signs in once, even when sent in several requests at the
same instant; and the code step is rate-limited per account, whatever address the guesses come from.

The races are real: N threads, each with its own test client (so its own app context, session and
database connection) against one app, released together at a barrier with the same valid code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.accounts import services, totp
from registry.audit.models import AuditEvent
from registry.extensions import db
from tests.conftest import Users, csrf_token, sign_in

PARALLEL = 8
EMAIL = "ed@example.com"
# High enough that the races below are decided by the database, not the limiter.
GENEROUS = {
    "SIGN_IN_LIMIT_PER_IP": "1000 per minute",
    "SIGN_IN_LIMIT_PER_ADDRESS": "1000 per minute",
    "SECOND_FACTOR_LIMIT_PER_ACCOUNT": "1000 per minute",
}


def _enrolled(app: Flask, users: Users) -> tuple[pyotp.TOTP, list[str]]:
    """A user with a second factor whose last accepted step is none yet, and its recovery codes."""
    user_id = users.create(EMAIL)
    secret = totp.new_secret()
    codes, hashes = totp.new_recovery_codes()
    with app.app_context():
        user = services.find_user(db.session, EMAIL)
        assert user is not None and user.id == user_id
        user.totp_secret, user.totp_last_step, user.recovery_codes = secret, None, hashes
        db.session.commit()
    return pyotp.TOTP(secret), codes


def _at_the_code_step(app: Flask, address: str = "127.0.0.1") -> tuple[FlaskClient, str]:
    """A client past the password step (each its own session), and the code form's CSRF token."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    response = sign_in(client, EMAIL)
    assert response.status_code == 302 and response.location == "/sign-in/code"
    return client, csrf_token(client, "/sign-in/code")


def _all_at_once(clients: list[tuple[FlaskClient, str]], code: Callable[[], str]) -> list[int]:
    """Every client posts the code at the same moment; their status codes."""
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt(client: FlaskClient, token: str) -> None:
        try:
            barrier.wait(timeout=30)
            response = client.post("/sign-in/code", data={"csrf_token": token, "code": code()})
            statuses.append(response.status_code)
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=attempt, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return statuses


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/admin/").status_code == 200


def test_one_code_sent_in_parallel_signs_in_once(app_factory: Callable[..., Flask], users: Users) -> None:
    app = app_factory(**GENEROUS)
    otp, _ = _enrolled(app, users)
    clients = [_at_the_code_step(app) for _ in range(PARALLEL)]
    statuses = _all_at_once(clients, otp.now)
    assert sorted(statuses) == [302] + [401] * (PARALLEL - 1), (
        f"{statuses.count(302)} of {PARALLEL} signed in"
    )
    assert sum(_signed_in(client) for client, _ in clients) == 1


def test_one_recovery_code_sent_in_parallel_signs_in_once(
    app_factory: Callable[..., Flask], users: Users
) -> None:
    app = app_factory(**GENEROUS)
    _, codes = _enrolled(app, users)
    clients = [_at_the_code_step(app) for _ in range(PARALLEL)]
    statuses = _all_at_once(clients, lambda: codes[0])
    assert sorted(statuses) == [302] + [401] * (PARALLEL - 1), (
        f"{statuses.count(302)} of {PARALLEL} signed in"
    )
    assert sum(_signed_in(client) for client, _ in clients) == 1
    with app.app_context():
        user = services.find_user(db.session, EMAIL)
        assert user is not None and len(user.recovery_codes) == len(codes) - 1


def test_two_recovery_codes_used_at_once_are_both_spent(
    app_factory: Callable[..., Flask], users: Users
) -> None:
    # A compare-and-set on the whole list: the loser of a race between two different codes must not
    # write back a list that still holds the winner's code.
    app = app_factory(**GENEROUS)
    _, codes = _enrolled(app, users)
    clients = [_at_the_code_step(app) for _ in range(2)]
    barrier = threading.Barrier(2)
    statuses: dict[int, int] = {}

    def attempt(index: int) -> None:
        client, token = clients[index]
        barrier.wait(timeout=30)
        statuses[index] = client.post(
            "/sign-in/code", data={"csrf_token": token, "code": codes[index]}
        ).status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        user = services.find_user(db.session, EMAIL)
        assert user is not None
        left = set(user.recovery_codes)
    winners = [i for i, status in statuses.items() if status == 302]
    assert winners  # at least one of two different codes gets in
    # Whoever got in spent their code; a loser may try again, its code is still good.
    for index in winners:
        assert totp._hash(codes[index]) not in left
    assert len(left) == len(codes) - len(winners)


def test_the_code_step_is_limited_per_account_whatever_the_address(
    app_factory: Callable[..., Flask], users: Users
) -> None:
    app = app_factory(
        SIGN_IN_LIMIT_PER_IP="1000 per minute",
        SIGN_IN_LIMIT_PER_ADDRESS="1000 per minute",
        SECOND_FACTOR_LIMIT_PER_ACCOUNT="3 per 15 minutes",
    )
    otp, _ = _enrolled(app, users)
    # Each guess from another address and another session: the per-IP limit never applies.
    for attempt in range(3):
        client, token = _at_the_code_step(app, f"10.0.0.{attempt + 1}")
        assert client.post("/sign-in/code", data={"csrf_token": token, "code": "000000"}).status_code == 401
    client, token = _at_the_code_step(app, "10.0.0.99")
    refused = client.post("/sign-in/code", data={"csrf_token": token, "code": otp.now()})
    assert refused.status_code == 429 and not _signed_in(client)
    # Another account is not held up by this one's guesses.
    users.create("other@example.com")
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.99"
    assert sign_in(other, "other@example.com").status_code == 302 and _signed_in(other)


@pytest.mark.parametrize("code", ["000000", "abcdef-123456"])
def test_wrong_codes_still_fail_and_are_audited(
    app_factory: Callable[..., Flask], users: Users, code: str
) -> None:
    app = app_factory(**GENEROUS)
    _enrolled(app, users)
    client, token = _at_the_code_step(app)
    assert client.post("/sign-in/code", data={"csrf_token": token, "code": code}).status_code == 401
    with app.app_context():
        failed = db.session.scalar(
            select(func.count()).where(AuditEvent.action == "user.second_factor_failed")
        )
        assert failed == 1
