"""Helpers for the subscription tests: two lists, a document, subscribers in any state, links as
emailed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.documents import services as documents
from registry.documents import workflow as document_workflow
from registry.extensions import db, limiter
from registry.lists.services import get_list
from registry.notifications.models import Notification, NotificationKind
from registry.subscriptions import tokens
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from tests.conftest import NOW, Registry, csrf_token

# What a browser adds to a form posted from a page of the same site.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def lists(registry: Registry) -> list[str]:
    """Two lists; the first is the default list (DEFAULT_LIST)."""
    registry.create_list("sub-processors", "Sub-processors")
    registry.create_list("subcontractors", "Subcontractors")
    return ["sub-processors", "subcontractors"]


@pytest.fixture
def policy(app: Flask) -> str:
    """A public document (the privacy policy at revision 1); returns its slug."""
    with app.app_context():
        document = documents.create_document(
            db.session, slug="privacy-policy", title="Privacy policy", now=NOW
        )
        draft = document_workflow.draft_revision(
            db.session,
            document,
            body="# Privacy policy\n\nWe keep your address.\n",
            summary="First.",
            now=NOW,
        )
        document_workflow.correct(db.session, draft, now=NOW)
        db.session.commit()
    return "privacy-policy"


def add_subscriber(
    app: Flask,
    email: str,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
    subscriptions: dict[str, Frequency] | None = None,
    *,
    requested_at: datetime = NOW,
    documents: dict[str, Frequency] | None = None,
) -> int:
    """A subscriber as the pages would have left it, written directly."""
    with app.app_context():
        subscriber = Subscriber(
            email=email, status=status, created_at=requested_at, requested_at=requested_at
        )
        if status is not SubscriberStatus.PENDING:
            subscriber.confirmed_at = requested_at
            subscriber.confirmations = 1
        if status is SubscriberStatus.BOUNCING:
            subscriber.bounced_at = requested_at
            subscriber.bounce_reason = "550 no such user"
        if status is SubscriberStatus.UNSUBSCRIBED:
            subscriber.unsubscribed_at = requested_at
        for slug, frequency in (subscriptions or {}).items():
            register_list = get_list(db.session, slug)
            assert register_list is not None
            subscriber.subscriptions.append(
                Subscription(register_list=register_list, frequency=frequency, created_at=requested_at)
            )
        for slug, frequency in (documents or {}).items():
            document = _document(slug)
            subscriber.subscriptions.append(
                Subscription(document=document, frequency=frequency, created_at=requested_at)
            )
        db.session.add(subscriber)
        db.session.commit()
        return subscriber.id


def _document(slug: str) -> Any:
    document = documents.get_document(db.session, slug)
    assert document is not None
    return document


@dataclass
class State:
    """What the database holds about one address, read outside any request."""

    id: int
    status: str
    confirmations: int
    requested_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    bounced_at: datetime | None
    subscriptions: dict[str, str]
    documents: dict[str, str]


def state(app: Flask, email: str) -> State | None:
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if subscriber is None:
            return None
        return State(
            subscriber.id,
            subscriber.status.value,
            subscriber.confirmations,
            subscriber.requested_at,
            subscriber.confirmed_at,
            subscriber.unsubscribed_at,
            subscriber.bounced_at,
            {s.slug: s.frequency.value for s in subscriber.list_subscriptions},
            {s.slug: s.frequency.value for s in subscriber.document_subscriptions},
        )


@dataclass
class Sent:
    id: int
    kind: str
    status: str
    subscriber_id: int | None
    context: dict[str, Any] | None


def notifications(app: Flask, kind: NotificationKind | None = None) -> list[Sent]:
    with app.app_context():
        query = select(Notification).order_by(Notification.id)
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return [
            Sent(n.id, n.kind.value, n.status.value, n.subscriber_id, n.context)
            for n in db.session.scalars(query)
        ]


def events(app: Flask, prefix: str = "subscriber.") -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix))))
        db.session.expunge_all()
        return found


def confirm_path(app: Flask, email: str) -> str:
    """The link a confirmation email carries, as the sender would sign it now."""
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert subscriber is not None
        token = tokens.confirmation_token(subscriber)
        return f"/subscribe/confirm/{token}"


def confirm_form(client: FlaskClient, path: str) -> dict[str, Any]:
    """What a browser posts when the button on the confirmation page at ``path`` is pressed: the
    CSRF token, the requests shown and those ticked (all of them, as the page comes). A page
    without the button (a used link) gives a post as from a page of this site opened earlier."""
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    return {
        "csrf_token": token.group(1) if token else csrf_token(client, "/subscribe"),
        "shown": re.findall(r'name="shown" value="(\d+)"', page),
        "pending": re.findall(r'name="pending" value="(\d+)"[^>]*checked', page),
    }


def _token(app: Flask, email: str, make: Callable[[Subscriber], str]) -> str:
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert subscriber is not None
        return make(subscriber)


def manage_token(app: Flask, email: str) -> str:
    """The token of the manage link in an email's body."""
    return _token(app, email, tokens.manage_token)


def fresh_token(app: Flask, email: str) -> str:
    """The token of a fresh link, as emailed on request: it also opens the data."""
    return _token(app, email, tokens.fresh_token)


def unsubscribe_token(app: Flask, email: str) -> str:
    """The token of ``List-Unsubscribe``."""
    return _token(app, email, tokens.unsubscribe_token)


def post_subscribe(
    client: FlaskClient,
    email: str,
    lists: tuple[str, ...] | list[str] = ("sub-processors",),
    frequency: str = "each",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """Post the sign-up form as a browser on this site would (no token, same-origin)."""
    data = {"email": email, "lists": list(lists), "frequency": frequency, **extra}
    return client.post("/subscribe", data=data, headers=SAME_ORIGIN if headers is None else headers)


def limiter_keys() -> set[str]:
    """Every key in the rate limiter's storage (memory:// in tests), whatever the strategy."""
    storage: Any = limiter.storage
    return {str(key) for key in (*storage.storage, *storage.events, *storage.expirations)}
