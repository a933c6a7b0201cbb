"""Public reads skip the limiter only where no limit applies; every declared limit still holds."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.globals import request_ctx
from flask.testing import FlaskClient

from registry.extensions import limiter
from registry.rate_limits import limited_endpoints, no_limit_applies

# Every endpoint with a limit of its own (as the limiter's registry names them).
LIMITED = {
    "accounts.account",
    "accounts.two_factor",
    "accounts.sign_in",
    "accounts.second_factor",
    "objections.object",
    "subscriptions.subscribe",
    "subscriptions.request_link",
    "subscriptions.change_address",
}


def test_the_limited_endpoints_are_those_declared(app: Flask) -> None:
    """The limiter's own registry still names each of them, and none of them is ever skipped."""
    assert limited_endpoints(app) == LIMITED
    skipped = app.extensions["rate_limit_free_endpoints"]
    assert not skipped & LIMITED
    assert skipped == set(app.view_functions) - LIMITED


def test_only_reads_of_unlimited_endpoints_skip_the_limiter(app: Flask) -> None:
    def skipped(method: str, path: str) -> bool:
        with app.test_request_context(path, method=method):
            return no_limit_applies()

    assert skipped("GET", "/processors") and skipped("HEAD", "/processors.json")
    assert not skipped("GET", "/sign-in")  # a limit of its own (on POST): the limiter decides
    assert not skipped("POST", "/subscribe")
    assert not skipped("GET", "/no-such-page")


def test_the_limiter_does_no_work_on_a_public_read(client: FlaskClient) -> None:
    """Its hooks keep their state on the request context: a skipped request has none."""
    with client:
        assert client.get("/documents").status_code == 200
        assert not hasattr(request_ctx._get_current_object(), "_limiter_request_context")
        client.get("/sign-in")
        assert hasattr(request_ctx._get_current_object(), "_limiter_request_context")


def test_a_limit_past_which_a_form_answers_429(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(SUBSCRIBE_LIMIT_PER_IP="2 per minute", WTF_CSRF_ENABLED=False).test_client()
    headers = {"Sec-Fetch-Site": "same-origin"}
    statuses = [
        client.post("/subscribe", data={"email": f"reader{n}@example.com"}, headers=headers).status_code
        for n in range(3)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:-1]


def test_default_limits_reach_the_public_pages(app_factory: Callable[..., Flask]) -> None:
    """A limit set for every endpoint by settings turns the skipping off: nothing escapes it."""
    try:
        app = app_factory(RATELIMIT_DEFAULT="2 per minute")
        client: FlaskClient = app.test_client()
        assert not app.extensions["rate_limit_free_endpoints"]
        assert [client.get("/documents").status_code for _ in range(3)][-1] == 429
    finally:
        # The limiter is shared by every app of this process: later apps must not inherit this.
        limiter.limit_manager.set_default_limits([])
