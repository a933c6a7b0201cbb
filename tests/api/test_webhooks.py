"""Webhook endpoints through the API: admins register (the secret in that answer only), list
and delete them; editors may not; bad input is a 422 naming the field."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.webhooks.jobs import deliver_webhooks
from tests.api.conftest import Api, People
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme
from tests.webhooks.receiver import Receiver


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def admin_api(api: Api, people: People) -> Api:
    return api.as_(people["carol"])


def test_an_admin_registers_lists_and_deletes_an_endpoint(
    app: Flask, admin_api: Api, listed: Registry, receiver: Receiver
) -> None:
    response = admin_api.post("/webhooks", {"url": receiver.url, "lists": ["sub-processors"]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    webhook = body["webhook"]
    assert webhook["url"] == receiver.url and webhook["lists"] == ["sub-processors"] and webhook["enabled"]

    listed_now = admin_api.get("/webhooks")
    assert listed_now.get_json()["webhooks"] == [webhook]
    assert secret not in listed_now.get_data(as_text=True)  # shown once

    receiver.secret = secret
    announce_acme(listed)
    with app.app_context():
        deliver_webhooks()
    (got,) = receiver.received
    assert got.verified and got.payload["type"] == "notice.announced"

    deleted = admin_api.request("DELETE", f"/webhooks/{webhook['id']}")
    assert deleted.status_code == 200 and deleted.get_json()["webhook"]["id"] == webhook["id"]
    assert admin_api.get("/webhooks").get_json()["webhooks"] == []
    assert admin_api.request("DELETE", f"/webhooks/{webhook['id']}").status_code == 404
    with app.app_context():
        trail = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("webhook.")).order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in trail] == ["webhook.register", "webhook.delete"]
        assert trail[0].actor == "carol@example.com"
        assert all(secret not in repr((e.summary, e.before, e.after)) for e in trail)


def test_editors_may_not(api: Api, listed: Registry, receiver: Receiver) -> None:
    assert api.get("/webhooks").status_code == 403
    assert api.post("/webhooks", {"url": receiver.url, "lists": ["sub-processors"]}).status_code == 403
    assert api.request("DELETE", "/webhooks/1").status_code == 403


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"lists": ["sub-processors"]}, "url", "is required"),
        ({"url": 5, "lists": ["sub-processors"]}, "url", "must be text"),
        ({"url": "ftp://x.example/", "lists": ["sub-processors"]}, "url", "must start with http"),
        ({"url": "http://127.0.0.1/", "lists": "sub-processors"}, "lists", "must be a list"),
        ({"url": "http://127.0.0.1/", "lists": ["nope"]}, "lists", "There is no list 'nope'"),
        ({"url": "http://127.0.0.1/"}, "lists", "Choose at least one list"),
        ({"url": "http://127.0.0.1/", "lists": ["sub-processors"], "secret": "x"}, "secret", "not a field"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    admin_api: Api, listed: Registry, body: dict[str, object], field: str, says: str
) -> None:
    response = admin_api.post("/webhooks", body)
    assert response.status_code == 422, response.get_json()
    assert says in response.get_json()["error"]["fields"][field]


def test_internal_addresses_are_refused_where_they_are_not_allowed(
    app: Flask, admin_api: Api, listed: Registry
) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    for url, says in (
        ("http://127.0.0.1:8080/hooks", "must start with https://"),
        ("https://127.0.0.1:8080/hooks", "not a public internet address"),
        ("https://[::ffff:10.0.0.1]/hooks", "not a public internet address"),
        ("https://localhost/hooks", "resolves to 127.0.0.1"),
    ):
        response = admin_api.post("/webhooks", {"url": url, "lists": ["sub-processors"]})
        assert response.status_code == 422 and says in response.get_json()["error"]["fields"]["url"], url
