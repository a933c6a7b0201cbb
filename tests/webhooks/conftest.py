"""Fixtures for webhooks: a real receiver on loopback, an app allowed to post to it, a published
list with an endpoint registered through the service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask

from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.timeutil import utcnow
from registry.webhooks import services
from tests.conftest import Registry, entry
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True, WEBHOOK_CONNECT_TIMEOUT=2, WEBHOOK_READ_TIMEOUT=2
    )


@pytest.fixture
def published(registry: Registry) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Azure"), entry("Mailer"), now=utcnow())
    return registry


def register(app: Flask, url: str, *lists: str, documents: tuple[str, ...] = ()) -> tuple[int, str]:
    """Register an endpoint through the service, as an admin would; returns its id and secret."""
    with app.app_context():
        endpoint, secret = services.register(
            db.session,
            services.Registration(
                url=url, lists=lists or (() if documents else ("sub-processors",)), documents=documents
            ),
            actor=SYSTEM,
            now=utcnow(),
        )
        db.session.commit()
        return endpoint.id, secret


def announce_acme(registry: Registry, *, now: datetime | None = None, name: str = "Acme Analytics") -> int:
    now = now or utcnow()
    return registry.announce(
        "sub-processors",
        [("add", None, entry(name, locations=["US"], transfer_mechanism="scc", purpose="Analytics."))],
        effective_at=now + timedelta(days=40),
        now=now,
        reason="We add product analytics.",
    )


class Clock:
    """The real time, moved ahead by hand (retries come due without sleeping)."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def advance(self, **delta: float) -> None:
        self.ahead += timedelta(**delta)
