"""Signing up: the form, one answer for every address, the confirmation owed, bad input, rate
limits, and CSRF (a token, or a browser's proof that the form was posted from this site)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from registry.notifications.models import NotificationKind
from registry.privacy.services import fingerprint
from registry.subscriptions.models import Frequency, SubscriberStatus
from tests.conftest import Registry, csrf_token
from tests.subscriptions.conftest import (
    SAME_ORIGIN,
    add_subscriber,
    limiter_keys,
    notifications,
    post_subscribe,
    state,
)

ANSWER = "Check your inbox"
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def _checked(page: str) -> set[str]:
    return set(re.findall(r'name="lists" value="([^"]+)"[^>]*checked', page))


def test_the_form_offers_every_list_with_the_default_list_chosen(
    client: FlaskClient, lists: list[str]
) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert "Sub-processors" in page and "Subcontractors" in page
    assert _checked(page) == {"sub-processors"}
    assert re.search(r'name="frequency" value="each"[^>]*checked', page)
    assert 'for="email"' in page and 'id="email"' in page

    assert _checked(client.get("/subscribe?list=subcontractors").get_data(as_text=True)) == {"subcontractors"}
    assert _checked(client.get("/subscribe?list=no-such-list").get_data(as_text=True)) == {"sub-processors"}


def test_every_state_of_an_address_gets_the_same_answer(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    for status in SubscriberStatus:
        add_subscriber(
            app,
            f"{status.value}@example.com",
            status,
            {"sub-processors": Frequency.WEEKLY},
            requested_at=PAST,
        )
    addresses = ["new@example.com", *(f"{status.value}@example.com" for status in SubscriberStatus)]
    before = {address: state(app, address) for address in addresses}

    responses = [post_subscribe(client, address, ["subcontractors"]) for address in addresses]
    answers = {(r.status_code, r.get_data(as_text=True), "Set-Cookie" in r.headers) for r in responses}
    assert len(answers) == 1
    [(status_code, body, _)] = answers
    assert status_code == 200 and ANSWER in body
    assert "@example.com" not in body

    # Each one is owed exactly one confirmation with what it asked for; nothing else changed yet.
    owed = notifications(app, NotificationKind.CONFIRMATION)
    assert len(owed) == len(addresses)
    for address in addresses:
        after = state(app, address)
        assert after is not None
        [mine] = [n for n in owed if n.subscriber_id == after.id]
        assert mine.context == {"lists": ["subcontractors"], "frequency": "each"}
        assert mine.status == "queued"
        old = before[address]
        if old is None:
            assert after.status == "pending" and after.subscriptions == {}
        else:
            assert (after.status, after.subscriptions, after.confirmations) == (
                old.status,
                old.subscriptions,
                old.confirmations,
            )
            assert after.requested_at > old.requested_at


def test_the_confirmation_carries_the_lists_and_frequency_asked_for(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    response = post_subscribe(client, "  Ada@Example.COM ", ["subcontractors", "sub-processors"], "weekly")
    assert response.status_code == 200
    subscriber = state(app, "ada@example.com")
    assert subscriber is not None and subscriber.status == "pending"
    [owed] = notifications(app)
    assert owed.kind == "confirmation" and owed.subscriber_id == subscriber.id
    # In the order the site shows the lists, whatever the order they were sent in.
    assert owed.context == {"lists": ["sub-processors", "subcontractors"], "frequency": "weekly"}


@pytest.mark.parametrize(
    ("email", "chosen", "frequency", "message"),
    [
        ("a@b.c\r\nBcc: x@y.z", ["sub-processors"], "each", "cannot contain line breaks"),
        ("a@example.com\nBcc: x@y.z", ["sub-processors"], "each", "cannot contain line breaks"),
        ("a@exa\tmple.com", ["sub-processors"], "each", "cannot contain line breaks"),
        ("a" * 288 + "@example.com", ["sub-processors"], "each", "too long"),
        ("", ["sub-processors"], "each", "Enter your email address"),
        ("not an address", ["sub-processors"], "each", "@-sign"),
        ("ada@example.com", ["no-such-list"], "each", "There is no list called “no-such-list”"),
        ("ada@example.com", [], "each", "Choose at least one list"),
        ("ada@example.com", ["sub-processors"], "hourly", "Choose how often"),
    ],
)
def test_bad_input_is_refused_with_the_form_and_a_message(
    client: FlaskClient,
    app: Flask,
    lists: list[str],
    email: str,
    chosen: list[str],
    frequency: str,
    message: str,
) -> None:
    response = post_subscribe(client, email, chosen, frequency)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'class="field-error"' in page and '<form class="stacked"' in page
    assert notifications(app) == []
    assert state(app, "ada@example.com") is None


def test_every_problem_is_reported_at_once(client: FlaskClient, lists: list[str]) -> None:
    page = post_subscribe(client, "nope", ["nowhere"], "daily").get_data(as_text=True)
    assert "@-sign" in page and "There is no list called" in page and "Choose how often" in page


def test_a_nul_character_is_refused_before_anything_runs(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    response = post_subscribe(client, "ada@example.com\x00")
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    assert notifications(app) == []


def test_odd_requests_are_never_a_server_error(client: FlaskClient, lists: list[str]) -> None:
    for data in (
        {},
        {"email": "ada@example.com"},
        {"email": "ada@example.com", "lists": ["x" * 5000] * 3},
        {"email": "ada@example.com", "lists": [f"l{i}" for i in range(500)]},
        {"email": "ada@example.com", "lists": "sub-processors", "frequency": "x" * 10_000},
    ):
        response = client.post("/subscribe", data=data, headers=SAME_ORIGIN)
        assert 400 <= response.status_code < 500, data
    for body in (b"email=ada%40%ED%B3%BFexample.com&lists=sub-processors", b"email=%FF%FE&lists=%FF"):
        response = client.post(
            "/subscribe", data=body, content_type="application/x-www-form-urlencoded", headers=SAME_ORIGIN
        )
        assert 400 <= response.status_code < 500, body
    # A field sent twice: the first value counts, as for every form.
    response = client.post(
        "/subscribe",
        data={"email": ["a@example.com", "b@example.com"], "lists": "sub-processors"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200


def test_a_missing_frequency_means_each_notice(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    response = client.post(
        "/subscribe", data={"email": "ada@example.com", "lists": "sub-processors"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 200
    [owed] = notifications(app)
    assert owed.context == {"lists": ["sub-processors"], "frequency": "each"}


# --- rate limits -------------------------------------------------------------------------------


def test_subscribing_is_rate_limited_per_address(client: FlaskClient, lists: list[str]) -> None:
    spellings = ["ada@example.com", "Ada@Example.com", " ADA@example.com", "ada@EXAMPLE.com"]
    statuses = [post_subscribe(client, address).status_code for address in spellings]
    assert statuses == [200, 200, 200, 429]
    response = post_subscribe(client, "ada@example.com")
    assert response.status_code == 429
    assert "Too many subscription requests" in response.get_data(as_text=True)
    # Another address from the same place is not held back by this one's limit.
    assert post_subscribe(client, "grace@example.com").status_code == 200


def test_the_limiter_keeps_no_address(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    # Its storage (Redis in production) is out of reach of an erasure: only keyed hashes go in.
    post_subscribe(client, "Ada@Example.com")
    client.post(
        "/subscription",
        data={"csrf_token": csrf_token(client, "/subscription"), "email": "grace@example.com"},
    )
    keys = limiter_keys()
    assert not any("example.com" in key.lower() for key in keys)
    with app.app_context():
        for address in ("ada@example.com", "grace@example.com"):
            assert any(fingerprint(address) in key for key in keys)


def test_an_address_our_sender_cannot_reach_is_refused_with_a_message(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    response = post_subscribe(client, "jörg@example.com")
    assert response.status_code == 400
    assert "accented or non-Latin letters (such as ä, é or ж) before the @" in response.get_data(as_text=True)
    assert notifications(app) == []
    # An internationalised domain is fine.
    assert post_subscribe(client, "joerg@bücher.example").status_code == 200
    assert state(app, "joerg@bücher.example") is not None


def test_subscribing_is_rate_limited_per_ip(
    app_factory: Callable[..., Flask], registry: Registry, lists: list[str]
) -> None:
    client = app_factory(SUBSCRIBE_LIMIT_PER_IP="3 per hour").test_client()
    statuses = [post_subscribe(client, f"user{i}@example.com").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = post_subscribe(client, "someone@example.com")
    assert response.status_code == 429
    assert "Please wait an hour" in response.get_data(as_text=True)
    assert client.get("/subscribe").status_code == 200  # reading the form is not limited


# --- CSRF --------------------------------------------------------------------------------------


def test_the_form_with_its_token_works_without_any_origin_header(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    token = csrf_token(client, "/subscribe")
    response = post_subscribe(client, "ada@example.com", headers={}, csrf_token=token)
    assert response.status_code == 200 and ANSWER in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "https://evil.example"},
        {"Origin": "https://registry.example.evil.example"},
        {"Origin": "https://registry.example:8443"},
        {"Origin": "http://registry.example"},
        {"Origin": "null"},
        # A browser that says cross-site is believed over an Origin that looks like ours.
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://registry.example"},
    ],
)
def test_a_cross_site_post_without_a_token_is_refused(
    client: FlaskClient, app: Flask, lists: list[str], headers: dict[str, str]
) -> None:
    response = post_subscribe(client, "ada@example.com", headers=headers)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert notifications(app) == []
    assert state(app, "ada@example.com") is None


def test_a_wrong_token_is_refused(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    csrf_token(client, "/subscribe")
    response = post_subscribe(client, "ada@example.com", headers={}, csrf_token="forged")
    assert response.status_code == 400
    assert notifications(app) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "https://registry.example"},  # PUBLIC_BASE_URL
        {"Origin": "http://localhost"},  # the host the request was made to
    ],
)
def test_a_same_origin_post_without_a_token_is_accepted(
    app: Flask, lists: list[str], headers: dict[str, str]
) -> None:
    client = app.test_client(use_cookies=False)  # as from a cached page: no session at all
    response = post_subscribe(client, "ada@example.com", headers=headers)
    assert response.status_code == 200 and ANSWER in response.get_data(as_text=True)
    assert len(notifications(app)) == 1


def test_the_embedded_form_carries_nothing_personal_and_works(
    app: Flask, registry: Registry, lists: list[str]
) -> None:
    register_list = registry.get_list("subcontractors")
    template = '{% from "subscriptions/_form.html" import subscribe_form %}{{ subscribe_form(l, compact=c) }}'
    with app.test_request_context("/lists/subcontractors"):
        compact = render_template_string(template, l=register_list, c=True)
        full = render_template_string(template, l=register_list, c=False)
    for html in (compact, full):
        assert 'action="/subscribe"' in html and 'method="post"' in html
        assert '<input type="hidden" name="lists" value="subcontractors">' in html
        assert 'name="frequency" value="each"' in html and 'name="frequency" value="weekly"' in html
        assert "csrf" not in html
        assert '<label for="subscribe-subcontractors-email">' in html
    assert "time to object" in full and "time to object" not in compact

    # What a browser would post from that form, on this site.
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', compact))
    response = post_subscribe(
        app.test_client(use_cookies=False),
        "ada@example.com",
        [fields["lists"]],
        headers={"Origin": "https://registry.example"},
    )
    assert response.status_code == 200
    [owed] = notifications(app)
    assert owed.context == {"lists": ["subcontractors"], "frequency": "each"}
