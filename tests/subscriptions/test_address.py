"""Correcting the address: asked for on the manage page, confirmed by double opt-in from the NEW
address (a signed link that expires and works once), merged with a subscriber who already has
that address, and every earlier link revoked."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.test import TestResponse

from registry.extensions import db
from registry.notifications.emails import Composer
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.subscriptions import tokens
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus
from tests.conftest import NOW, Registry, csrf_token, entry
from tests.subscriptions.conftest import (
    add_subscriber,
    events,
    fresh_token,
    manage_token,
    notifications,
    state,
    unsubscribe_token,
)

ADA = "ada@example.com"
NEW = "ada.lovelace@example.org"


def _ask(client: FlaskClient, token: str, email: str) -> TestResponse:
    manage = f"/subscription/{token}"
    return client.post(f"{manage}/address", data={"csrf_token": csrf_token(client, manage), "email": email})


def _address_path(app: Flask, email: str, new: str) -> str:
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert subscriber is not None
        return f"/subscription/address/{tokens.address_token(subscriber, new)}"


def _confirm(client: FlaskClient, path: str) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client, "/subscription")})


def test_the_new_address_confirms_the_change(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    old_token, old_manage, old_unsubscribe = (
        fresh_token(app, ADA),
        manage_token(app, ADA),
        unsubscribe_token(app, ADA),
    )
    response = _ask(client, old_token, "  Ada.Lovelace@EXAMPLE.org ")
    assert response.status_code == 303
    assert "sent an email to the new address" in client.get(response.location).get_data(as_text=True)
    # Nothing changed yet: a confirmation is owed to the new address, and only to it.
    assert state(app, ADA) is not None and state(app, NEW) is None
    [owed] = notifications(app, NotificationKind.CONFIRMATION)
    assert owed.context == {"purpose": "address_change", "address": NEW}
    with app.app_context():
        notification = db.session.get(Notification, owed.id)
        assert notification is not None
        composer = Composer(db.session)
        assert composer.recipient(notification) == NEW
        message = composer.compose(notification, NEW)
        assert "/subscription/address/" in message.body and NEW in message.body

    path = _address_path(app, ADA, NEW)
    page = client.get(path)  # a mail scanner opening the link changes nothing
    assert page.status_code == 200 and NEW in page.get_data(as_text=True)
    assert state(app, ADA) is not None

    done = _confirm(client, path)
    assert done.status_code == 200 and "Your address is changed" in done.get_data(as_text=True)
    assert state(app, ADA) is None
    moved = state(app, NEW)
    assert moved is not None and moved.status == "confirmed"
    assert moved.subscriptions == {"sub-processors": "each"}
    # Every earlier link is revoked: the fresh, manage and unsubscribe links, and this one.
    assert client.get(f"/subscription/{old_token}").status_code == 400
    assert client.get(f"/subscription/{old_manage}").status_code == 400
    assert client.post(f"/unsubscribe/{old_unsubscribe}").status_code == 400
    again = _confirm(client, path)
    assert again.status_code == 400 and "already been used" in again.get_data(as_text=True)
    assert client.get(f"/subscription/{manage_token(app, NEW)}").status_code == 200
    [event] = events(app, "subscriber.change_address")
    assert ADA not in str(event.after) + event.summary and NEW not in str(event.after) + event.summary


def test_merging_with_the_subscriber_who_has_the_new_address(
    app: Flask, client: FlaskClient, lists: list[str], registry: Registry
) -> None:
    ada = add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    other = add_subscriber(
        app, NEW, subscriptions={"sub-processors": Frequency.WEEKLY, "subcontractors": Frequency.WEEKLY}
    )
    registry.announce("sub-processors", [("add", None, entry("Acme"))], effective_at=NOW.replace(year=2028))
    # Both were owed the notice: Ada's copy queued, the other one's held for its digest.
    assert sorted(n.subscriber_id for n in notifications(app, NotificationKind.NOTICE)) == sorted(
        [ada, other]
    )
    with app.app_context():
        db.session.add(
            Notification(
                kind=NotificationKind.MANAGE_LINK, subscriber_id=other, status=NotificationStatus.SENT
            )
        )
        db.session.commit()

    path = _address_path(app, ADA, NEW)
    assert _confirm(client, path).status_code == 200

    merged = state(app, NEW)
    assert merged is not None and merged.id == ada
    assert merged.status == "confirmed"
    # The union of both: Ada's own frequency where both had the list.
    assert merged.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}
    with app.app_context():
        assert db.session.get(Subscriber, other) is None
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        by_kind = {(str(n.kind), n.subscriber_id, str(n.status)) for n in rows}
    # The notice is counted twice still: Ada's copy stays hers, the other's is cancelled, unlinked.
    assert ("notice", ada, "queued") in by_kind and ("notice", None, "cancelled") in by_kind
    assert ("manage_link", ada, "sent") in by_kind  # what the other was sent is now Ada's history
    assert [e.after["merged_from"] for e in events(app, "subscriber.change_address")] == [other]


def test_the_answer_does_not_tell_whether_the_new_address_is_taken(
    app: Flask, client: FlaskClient, lists: list[str]
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    add_subscriber(app, NEW)
    token = fresh_token(app, ADA)
    answers = []
    for email in (NEW, "free@example.org"):
        response = _ask(client, token, email)
        page = client.get(response.location).get_data(as_text=True)
        flashed = re.findall(r'<p class="flash[^"]*" role="status">(.*?)</p>', page)
        answers.append((response.status_code, response.location, flashed))
    assert answers[0] == answers[1]
    assert answers[0][0] == 303 and len(answers[0][2]) == 1
    # Both are owed the same confirmation; the taken one is not told apart.
    assert [n.context for n in notifications(app, NotificationKind.CONFIRMATION)] == [
        {"purpose": "address_change", "address": NEW},
        {"purpose": "address_change", "address": "free@example.org"},
    ]


def test_a_bad_new_address_is_refused(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    token = fresh_token(app, ADA)
    for email, message in (
        ("nope", "must have an @-sign"),
        (ADA.upper(), "already your address"),
        ("jörg@example.com", "letters (such as ä, é or ж) before the @"),  # our sender has no SMTPUTF8
    ):
        response = _ask(client, token, email)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert notifications(app, NotificationKind.CONFIRMATION) == []


def test_an_address_link_expires(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    path = _address_path(app, ADA, NEW)
    app.config["CONFIRMATION_MAX_AGE_SECONDS"] = -1
    response = client.get(path)
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert state(app, NEW) is None


def test_an_address_link_is_bound_to_its_purpose(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    for other in (manage_token(app, ADA), fresh_token(app, ADA), unsubscribe_token(app, ADA)):
        assert client.get(f"/subscription/address/{other}").status_code == 400
    address = _address_path(app, ADA, NEW).rsplit("/", 1)[1]
    assert client.get(f"/subscription/{address}").status_code == 400
    assert client.post(f"/unsubscribe/{address}").status_code == 400


def test_an_unsubscribed_address_stays_unsubscribed(
    app: Flask, client: FlaskClient, lists: list[str]
) -> None:
    add_subscriber(app, ADA, SubscriberStatus.UNSUBSCRIBED)
    assert _confirm(client, _address_path(app, ADA, NEW)).status_code == 200
    moved = state(app, NEW)
    assert moved is not None and moved.status == "unsubscribed" and moved.subscriptions == {}


def test_an_address_link_sent_before_links_lost_the_id_still_works(
    app: Flask, client: FlaskClient, lists: list[str]
) -> None:
    """Address links of emails already sent named the subscriber by id too; they carry the key,
    which is what finds the subscriber now, so they work until they expire."""
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="registry.subscriber.address")
        token = serializer.dumps({"s": subscriber.id, "k": subscriber.token_key, "e": NEW})
    assert _confirm(client, f"/subscription/address/{token}").status_code == 200
    moved = state(app, NEW)
    assert moved is not None and moved.subscriptions == {"sub-processors": "each"}
