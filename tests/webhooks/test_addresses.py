"""No server-side request forgery: endpoints on internal addresses are refused at registration,
and again at delivery after resolution; redirects are not followed."""

from __future__ import annotations

import ipaddress

import pytest
from flask import Flask

from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.timeutil import utcnow
from registry.validation import ValidationError
from registry.webhooks import services
from registry.webhooks.addresses import is_public
from registry.webhooks.jobs import deliver_webhooks
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme, register
from tests.webhooks.receiver import Receiver

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fec0::1",  # site-local, deprecated but routable inside some networks
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.fixture
def strict(app_factory: object) -> Flask:
    """An app as in production: https only, public addresses only."""
    return app_factory(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)  # type: ignore[operator,no-any-return]


def _register(app: Flask, url: str) -> str:
    """The message refusing ``url``."""
    with app.app_context():
        with pytest.raises(ValidationError) as refused:
            services.register(
                db.session,
                services.Registration(url=url, lists=("sub-processors",)),
                actor=SYSTEM,
                now=utcnow(),
            )
        db.session.rollback()
    return refused.value.errors["url"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:9/hooks", "must start with https://"),
        ("https://127.0.0.1/hooks", "127.0.0.1, which is not a public internet address"),
        ("https://[::1]/hooks", "::1, which is not a public"),
        ("https://[::ffff:127.0.0.1]/hooks", "not a public internet address"),
        ("https://169.254.169.254/latest/meta-data", "not a public internet address"),
        ("https://10.0.0.8/", "not a public internet address"),
        # A name is refused for what it resolves to.
        ("https://localhost/hooks", "resolves to 127.0.0.1"),
        ("ftp://example.com/", "must start with https://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https:///nohost", "no host name"),
        ("https://example.com:99999/", "not valid"),
        ("https://exa mple.com/", "spaces"),
        ("", "Enter a URL"),
    ],
)
def test_registration_refuses_what_is_not_a_public_https_url(
    strict: Flask, published: Registry, url: str, says: str
) -> None:
    assert says in _register(strict, url)


def test_a_name_resolving_to_loopback_is_refused_at_delivery_and_nothing_is_posted(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    # Registered while allowed (development); delivered where it is not.
    _, receiver.secret = register(app, f"http://localhost:{receiver.port}/hooks")
    announce_acme(published)
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    with app.app_context():
        deliver_webhooks()
        (row,) = db.session.scalars(db.select(WebhookDelivery)).all()
        assert row.status is WebhookDeliveryStatus.RETRYING
        assert row.last_error is not None and row.last_error.startswith("refused:")
        assert "resolves to 127.0.0.1" in row.last_error or "must start with https" in row.last_error
    assert receiver.received == []


def test_a_loopback_name_is_refused_after_resolution_even_over_https(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    _, receiver.secret = register(app, f"https://localhost:{receiver.port}/hooks")
    announce_acme(published)
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    with app.app_context():
        deliver_webhooks()
        (row,) = db.session.scalars(db.select(WebhookDelivery)).all()
        assert row.last_error is not None and "resolves to 127.0.0.1" in row.last_error
    assert receiver.received == []


def test_a_redirect_to_a_private_address_is_not_followed(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    inside = Receiver().start()  # where the redirect points: must see nothing
    try:
        _, receiver.secret = register(app, receiver.url)
        receiver.plan = [("redirect", f"http://127.0.0.1:{inside.port}/admin")]
        announce_acme(published)
        with app.app_context():
            deliver_webhooks()
            (row,) = db.session.scalars(db.select(WebhookDelivery)).all()
            assert row.status is WebhookDeliveryStatus.RETRYING and row.last_status_code == 302
            assert (
                row.last_error
                == f"HTTP 302 Found: redirect to 'http://127.0.0.1:{inside.port}/admin' not followed"
            )
        assert len(receiver.received) == 1 and inside.received == []
    finally:
        inside.stop()


def test_the_connection_goes_to_the_address_that_was_checked(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    """The host name travels in the Host header; the socket goes to the resolved address."""
    _, receiver.secret = register(app, f"http://localhost:{receiver.port}/hooks?x=1")
    announce_acme(published)
    with app.app_context():
        deliver_webhooks()
    (got,) = receiver.received
    assert got.verified and got.headers["host"] == f"localhost:{receiver.port}"
