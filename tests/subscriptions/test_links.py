"""The links emailed to subscribers: confirm (once, before it expires), manage, unsubscribe.

A GET only shows (mail scanners follow links); every change is a POST. Links that are expired,
tampered with, used, replaced or meant for another purpose get a clear 4xx.
"""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from werkzeug.test import TestResponse

from registry.extensions import db
from registry.notifications import outbox
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus
from tests.conftest import NOW, csrf_token
from tests.subscriptions.conftest import (
    add_subscriber,
    confirm_form,
    confirm_path,
    events,
    fresh_token,
    manage_token,
    notifications,
    post_subscribe,
    state,
    unsubscribe_token,
)

ADA = "ada@example.com"


def _confirm(client: FlaskClient, path: str) -> TestResponse:
    return client.post(path, data=confirm_form(client, path))


# --- confirm -----------------------------------------------------------------------------------


def test_subscribe_then_confirm(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    assert post_subscribe(client, ADA, ["sub-processors", "subcontractors"], "weekly").status_code == 200
    path = confirm_path(app, ADA)

    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Sub-processors" in text and "Subcontractors" in text and "Weekly digest" in text
    assert "Confirm subscription" in text
    pending = state(app, ADA)
    assert pending is not None and pending.status == "pending"

    response = _confirm(client, path)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "You are subscribed" in text
    confirmed = state(app, ADA)
    assert confirmed is not None
    assert confirmed.status == "confirmed" and confirmed.confirmed_at is not None
    assert confirmed.confirmations == 1
    assert confirmed.subscriptions == {"sub-processors": "weekly", "subcontractors": "weekly"}

    # The page links to the manage page, whose link works.
    manage = f"/subscription/{manage_token(app, ADA)}"
    assert f'href="{manage}"' in text
    assert client.get(manage).status_code == 200

    [event] = events(app, "subscriber.confirm")
    assert (event.target_type, event.target_id) == ("subscriber", str(confirmed.id))
    assert event.after == {
        "status": "confirmed",
        "lists": {"sub-processors": "weekly", "subcontractors": "weekly"},
    }


def test_opening_a_confirmation_link_changes_nothing(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    post_subscribe(client, ADA)
    path = confirm_path(app, ADA)
    before = state(app, ADA)
    for _ in range(3):  # a mail scanner, a preview, the person
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200
    assert state(app, ADA) == before
    assert events(app) == []
    # Still works afterwards.
    assert _confirm(client, path).status_code == 200


def test_confirming_needs_the_forms_token(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    post_subscribe(client, ADA)
    path = confirm_path(app, ADA)
    assert client.post(path).status_code == 400
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 400
    after = state(app, ADA)
    assert after is not None and after.status == "pending"


def test_a_confirmation_link_works_once(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    post_subscribe(client, ADA)
    path = confirm_path(app, ADA)
    assert _confirm(client, path).status_code == 200
    # Again: it says so (not an error), and nothing more happens.
    for response in (client.get(path), _confirm(client, path)):
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "already confirmed" in response.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.confirmations == 1
    assert len(events(app, "subscriber.confirm")) == 1


def _signed_at(app: Flask, seconds_ago: int) -> str:
    """A confirmation link signed by the real token code, with a clock ``seconds_ago`` behind."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds_ago)
        return confirm_path(app, ADA)


def test_an_expired_confirmation_link_is_refused(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    post_subscribe(client, ADA)
    max_age = app.config["CONFIRMATION_MAX_AGE_SECONDS"]
    expired = _signed_at(app, max_age + 60)
    for response in (
        client.get(expired),
        client.post(expired, data={"csrf_token": csrf_token(client, "/subscribe")}),
    ):
        assert response.status_code == 400
        text = response.get_data(as_text=True)
        assert "This link has expired" in text and 'href="/subscribe"' in text
    after = state(app, ADA)
    assert after is not None and after.status == "pending"

    # The same link a minute younger than the limit still works.
    assert _confirm(client, _signed_at(app, max_age - 60)).status_code == 200


def test_a_tampered_link_is_refused(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    add_subscriber(app, "grace@example.com", SubscriberStatus.PENDING)
    post_subscribe(client, ADA)
    token = confirm_path(app, ADA).rsplit("/", 1)[1]
    grace = confirm_path(app, "grace@example.com").rsplit("/", 1)[1]
    payload, stamp, signature = token.rsplit(".", 2)
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    for forged in (
        f"{payload}.{stamp}.{flipped}",
        f"{grace.rsplit('.', 2)[0]}.{stamp}.{signature}",  # someone else's payload, this signature
        token[:-3],
        "not-a-token",
        "x" * 2000,
    ):
        response = client.get(f"/subscribe/confirm/{forged}")
        assert response.status_code == 400, forged
        assert "This link is not valid" in response.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "pending"


def test_links_work_only_for_their_purpose(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    add_subscriber(app, ADA, SubscriberStatus.PENDING)
    manage = manage_token(app, ADA)
    confirm = confirm_path(app, ADA).rsplit("/", 1)[1]
    assert client.get(f"/subscribe/confirm/{manage}").status_code == 400
    assert (
        client.post(
            f"/subscribe/confirm/{manage}", data={"csrf_token": csrf_token(client, "/subscribe")}
        ).status_code
        == 400
    )
    assert client.get(f"/subscription/{confirm}").status_code == 400
    assert client.get(f"/unsubscribe/{confirm}").status_code == 400
    assert client.post(f"/unsubscribe/{confirm}").status_code == 400
    after = state(app, ADA)
    assert after is not None and after.status == "pending"


def test_confirming_again_keeps_other_lists_and_clears_a_bounce(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(
        app,
        ADA,
        SubscriberStatus.BOUNCING,
        {"sub-processors": Frequency.EACH, "subcontractors": Frequency.EACH},
    )
    post_subscribe(client, ADA, ["subcontractors"], "weekly")
    assert _confirm(client, confirm_path(app, ADA)).status_code == 200
    after = state(app, ADA)
    assert after is not None
    assert after.status == "confirmed" and after.bounced_at is None and after.confirmations == 2
    assert after.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}


# --- manage ------------------------------------------------------------------------------------


def test_the_manage_page_shows_the_subscription(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"subcontractors": Frequency.WEEKLY})
    page = client.get(f"/subscription/{manage_token(app, ADA)}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ADA in text and "Subcontractors" in text and "Weekly digest" in text
    assert 'name="lists" value="subcontractors" id="lists-subcontractors" checked' in text
    assert 'name="frequency" value="weekly" id="frequency-weekly" checked' in text
    assert "Unsubscribe from everything" in text


def test_changing_lists_and_frequency(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    path = f"/subscription/{manage_token(app, ADA)}"
    data = {"csrf_token": csrf_token(client, path), "lists": ["subcontractors"], "frequency": "weekly"}
    response = client.post(path, data=data)
    assert response.status_code == 303 and response.location == path
    assert "Your choices are saved." in client.get(path).get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None
    assert after.status == "confirmed" and after.subscriptions == {"subcontractors": "weekly"}
    [event] = events(app, "subscriber.update")
    assert event.target_id == str(after.id)
    assert event.before == {"lists": {"sub-processors": "each"}}
    assert event.after == {"lists": {"subcontractors": "weekly"}}
    assert notifications(app) == []  # a confirmed address needs no new confirmation

    # Saving the same choices again changes nothing and records nothing.
    client.post(path, data=data)
    assert len(events(app, "subscriber.update")) == 1


def test_changing_to_no_lists_unsubscribes(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    path = f"/subscription/{manage_token(app, ADA)}"
    response = client.post(path, data={"csrf_token": csrf_token(client, path), "frequency": "each"})
    assert response.status_code == 303
    assert "You are unsubscribed from every list and document." in client.get(path).get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed" and after.subscriptions == {}
    assert len(events(app, "subscriber.unsubscribe")) == 1


def test_an_unsubscribed_address_resubscribes_through_a_new_confirmation(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(app, ADA, SubscriberStatus.UNSUBSCRIBED)
    path = f"/subscription/{manage_token(app, ADA)}"
    assert "You are unsubscribed" in client.get(path).get_data(as_text=True)
    response = client.post(
        path,
        data={"csrf_token": csrf_token(client, path), "lists": ["subcontractors"], "frequency": "weekly"},
    )
    assert response.status_code == 303
    assert "We sent you an email with a link to confirm" in client.get(path).get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed" and after.subscriptions == {}
    [owed] = notifications(app)
    assert owed.kind == "confirmation" and owed.subscriber_id == after.id
    assert owed.context == {"lists": ["subcontractors"], "frequency": "weekly"}

    assert _confirm(client, confirm_path(app, ADA)).status_code == 200
    confirmed = state(app, ADA)
    assert confirmed is not None and confirmed.status == "confirmed"
    assert confirmed.subscriptions == {"subcontractors": "weekly"}


def test_manage_refuses_bad_input_and_missing_tokens(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    path = f"/subscription/{manage_token(app, ADA)}"
    before = state(app, ADA)
    response = client.post(path, data={"lists": ["subcontractors"], "frequency": "each"})
    assert response.status_code == 400
    token = csrf_token(client, path)
    for data, message in (
        ({"lists": ["nowhere"], "frequency": "each"}, "There is no list called"),
        ({"lists": ["subcontractors"], "frequency": "monthly"}, "Choose how often"),
    ):
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert state(app, ADA) == before
    for bad in ("nonsense", manage_token(app, ADA)[:-4]):
        response = client.get(f"/subscription/{bad}")
        assert response.status_code == 400
        assert "This link is not valid" in response.get_data(as_text=True)


# --- unsubscribe -------------------------------------------------------------------------------


def _owe_something(app: Flask, email: str) -> None:
    """One notification still queued and one already sent to ``email``."""
    with app.app_context():
        subscriber = db.session.query(Subscriber).filter_by(email=email).one()
        outbox.queue(db.session, NotificationKind.MANAGE_LINK, now=NOW, subscriber=subscriber)
        sent = outbox.queue(db.session, NotificationKind.CONFIRMATION, now=NOW, subscriber=subscriber)
        sent.status = NotificationStatus.SENT
        db.session.commit()


def test_opening_the_unsubscribe_link_changes_nothing(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    _owe_something(app, ADA)
    before, owed = state(app, ADA), notifications(app)
    path = f"/unsubscribe/{unsubscribe_token(app, ADA)}"
    response = client.get(path)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Unsubscribe from everything" in text and 'name="List-Unsubscribe" value="One-Click"' in text
    assert state(app, ADA) == before and notifications(app) == owed


def test_one_click_unsubscribe_without_cookies_or_token(app: Flask, lists: list[str]) -> None:
    add_subscriber(
        app, ADA, subscriptions={"sub-processors": Frequency.EACH, "subcontractors": Frequency.WEEKLY}
    )
    _owe_something(app, ADA)
    mail_client = app.test_client(use_cookies=False)
    path = f"/unsubscribe/{unsubscribe_token(app, ADA)}"
    response = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    after = state(app, ADA)
    assert after is not None
    assert after.status == "unsubscribed" and after.unsubscribed_at is not None and after.subscriptions == {}
    statuses = {n.kind: n.status for n in notifications(app)}
    assert statuses == {"manage_link": "cancelled", "confirmation": "sent"}
    with app.app_context():
        cancelled = db.session.query(Notification).filter_by(kind=NotificationKind.MANAGE_LINK).one()
        assert cancelled.last_error == "unsubscribed"

    # Again (mail clients retry): the same answer, nothing more recorded.
    again = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "You are unsubscribed" in again.get_data(as_text=True)
    [event] = events(app, "subscriber.unsubscribe")
    assert event.before == {
        "status": "confirmed",
        "lists": {"sub-processors": "each", "subcontractors": "weekly"},
    }
    # The link still leads to a page saying so; the manage link still opens the manage page,
    # to subscribe again.
    assert "already unsubscribed" in mail_client.get(path).get_data(as_text=True)
    assert mail_client.get(f"/subscription/{manage_token(app, ADA)}").status_code == 200


def test_unsubscribing_with_a_bad_link_is_refused(app: Flask, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    mail_client = app.test_client(use_cookies=False)
    token = unsubscribe_token(app, ADA)
    for bad in (token[:-2], "nonsense", manage_token(app, ADA), fresh_token(app, ADA)):
        assert (
            mail_client.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"}).status_code == 400
        )
    after = state(app, ADA)
    assert after is not None and after.status == "confirmed"


def test_audit_events_never_hold_the_address(client: FlaskClient, app: Flask, lists: list[str]) -> None:
    post_subscribe(client, ADA)
    _confirm(client, confirm_path(app, ADA))
    path = f"/subscription/{manage_token(app, ADA)}"
    client.post(
        path, data={"csrf_token": csrf_token(client, path), "lists": ["subcontractors"], "frequency": "each"}
    )
    client.post(f"/unsubscribe/{unsubscribe_token(app, ADA)}")
    found = events(app)
    assert {e.action for e in found} == {"subscriber.confirm", "subscriber.update", "subscriber.unsubscribe"}
    for event in found:
        text = repr((event.actor, event.ip, event.summary, event.before, event.after, event.target_id))
        assert "@" not in text and "ada" not in text.lower()
        assert event.target_type == "subscriber"
