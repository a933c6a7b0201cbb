"""Fixtures for delivery: a real SMTP server on loopback, an app that sends to it, subscribers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask

from registry.extensions import db
from registry.lists import services, workflow
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from tests.conftest import NOW, Registry, entry
from tests.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(app_factory: Callable[..., Flask], smtp: SmtpServer) -> Flask:
    return app_factory(**smtp.settings())


def add_subscriber(
    app: Flask,
    address: str,
    *slugs: str,
    frequency: Frequency = Frequency.EACH,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
) -> int:
    """A subscriber who has already confirmed (the double opt-in is tested with subscriptions)."""
    with app.app_context():
        subscriber = Subscriber(email=address, status=status, confirmed_at=NOW, requested_at=NOW)
        for slug in slugs or ("sub-processors",):
            register_list = services.get_list(db.session, slug)
            assert register_list is not None
            subscriber.subscriptions.append(Subscription(list_id=register_list.id, frequency=frequency))
        db.session.add(subscriber)
        db.session.commit()
        return subscriber.id


@pytest.fixture
def published(registry: Registry) -> Registry:
    """A default list with two entries, published."""
    registry.create_list()
    registry.publish("sub-processors", entry("Azure"), entry("Mailer"))
    return registry


def announce_acme(registry: Registry, *, now: datetime = NOW, name: str = "Acme Analytics") -> int:
    return registry.announce(
        "sub-processors",
        [
            (
                "add",
                None,
                entry(name, locations=["US"], transfer_mechanisms=["scc"], purpose="Product analytics."),
            )
        ],
        effective_at=now + timedelta(days=40),
        now=now,
        reason="We add product analytics.",
    )


def correct_a_link(app: Flask) -> None:
    """Publish a correction of the first entry's website, at once: the short correction email."""
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        current = services.latest_version(db.session, register_list).snapshot[0]  # type: ignore[union-attr]
        change = workflow.draft_change(
            db.session,
            register_list,
            "update",
            processor=current["id"],
            fields={**current, "website": "https://azure.example/privacy"},
            now=NOW,
        )
        workflow.correct(db.session, register_list, [change], reason="Link to the privacy page.", now=NOW)
        db.session.commit()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = NOW):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
