"""The subscription services on their own: no HTTP, an explicit moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from registry.audit.models import AuditEvent
from registry.lists.services import create_list
from registry.notifications.models import Notification
from registry.subscriptions import services, tokens
from registry.subscriptions.models import SubscriberStatus
from registry.validation import ValidationError
from tests.conftest import NOW

DAY = timedelta(days=1)


@pytest.fixture
def lists(session: Any) -> None:
    create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    create_list(session, slug="subcontractors", title="Subcontractors", now=NOW)
    session.commit()


def test_subscribe_reports_every_problem(session: Any, lists: None) -> None:
    with pytest.raises(ValidationError) as caught:
        services.subscribe(session, "nope", ["sub-processors", "gone"], "daily", now=NOW)
    assert set(caught.value.errors) == {"email", "lists", "frequency"}
    assert "“gone”" in caught.value.errors["lists"]


def test_one_subscriber_per_address_however_it_is_typed(session: Any, lists: None) -> None:
    first = services.subscribe(session, "ada@example.com", ["sub-processors"], "each", now=NOW)
    second = services.subscribe(session, "ADA@example.com ", ["subcontractors"], "weekly", now=NOW)
    assert first is second
    assert first.status is SubscriberStatus.PENDING and first.requested_at == NOW
    contexts = [n.context for n in session.query(Notification).order_by(Notification.id)]
    assert contexts == [
        {"lists": ["sub-processors"], "frequency": "each"},
        {"lists": ["subcontractors"], "frequency": "weekly"},
    ]


def test_confirm_update_unsubscribe(session: Any, lists: None) -> None:
    subscriber = services.subscribe(session, "ada@example.com", ["sub-processors"], "each", now=NOW)
    claim = tokens.read(tokens.confirmation_token(subscriber), tokens.CONFIRM)
    [row] = subscriber.pending
    services.confirm(session, claim, NOW, max_age=DAY, shown=[row.id], chosen=[row.id])
    assert services.preferences(subscriber) == {"sub-processors": "each"}
    assert subscriber.pending == []
    # The link again: its request is confirmed, and it changes nothing more.
    again = services.confirm(session, claim, NOW, max_age=DAY, shown=[row.id], chosen=[row.id])
    assert again.already_confirmed and subscriber.confirmations == 1

    outcome = services.update(session, subscriber, ["sub-processors", "subcontractors"], "weekly", now=NOW)
    assert outcome is services.Outcome.UPDATED
    assert services.preferences(subscriber) == {"sub-processors": "weekly", "subcontractors": "weekly"}

    assert services.update(session, subscriber, [], None, now=NOW) is services.Outcome.UNSUBSCRIBED
    assert subscriber.status is SubscriberStatus.UNSUBSCRIBED and subscriber.subscriptions == []
    assert services.unsubscribe(session, subscriber, now=NOW) is False

    outcome = services.update(session, subscriber, ["subcontractors"], "each", now=NOW)
    assert outcome is services.Outcome.CONFIRMATION_SENT
    assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    session.commit()
    actions = [
        e.action
        for e in session.query(AuditEvent).order_by(AuditEvent.id)
        if e.action.startswith("subscriber.")
    ]
    assert actions == ["subscriber.confirm", "subscriber.update", "subscriber.unsubscribe"]
