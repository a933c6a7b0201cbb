"""Subscribing to documents the same way as to lists: the form (on /subscribe and on the
document's page), the confirmation link (old links without documents still work), the confirm
page, the manage page, and the audit trail."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from registry.documents.models import DocumentRevision
from registry.extensions import db
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.subscriptions.models import Frequency, Subscriber
from tests.conftest import NOW, Registry, csrf_token, entry
from tests.subscriptions.conftest import (
    add_subscriber,
    confirm_form,
    confirm_path,
    events,
    manage_token,
    notifications,
    post_subscribe,
    state,
    unsubscribe_token,
)

ADA = "ada@example.com"


def _checked(page: str, field: str) -> set[str]:
    return set(re.findall(rf'name="{field}" value="([^"]+)"[^>]*checked', page))


def _confirm(client: FlaskClient, path: str) -> object:
    return client.post(path, data=confirm_form(client, path))


def test_the_form_offers_documents_and_a_documents_page_chooses_its_own(
    client: FlaskClient, lists: list[str], policy: str
) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    assert "Privacy policy" in page and f'name="documents" value="{policy}"' in page
    assert _checked(page, "documents") == set() and _checked(page, "lists") == {"sub-processors"}
    chosen = client.get(f"/subscribe?document={policy}").get_data(as_text=True)
    assert _checked(chosen, "documents") == {policy} and _checked(chosen, "lists") == set()


def test_a_document_without_a_public_revision_is_not_offered(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    from registry.documents import services as documents
    from registry.extensions import db
    from tests.conftest import NOW

    with app.app_context():
        documents.create_document(db.session, slug="cookie-policy", title="Cookie policy", now=NOW)
        db.session.commit()
    assert "Cookie policy" not in client.get("/subscribe").get_data(as_text=True)
    response = post_subscribe(client, ADA, [], documents=["cookie-policy"])
    assert response.status_code == 400
    assert "There is no document called “cookie-policy”" in response.get_data(as_text=True)


def test_subscribe_to_a_document_and_confirm(
    client: FlaskClient, app: Flask, lists: list[str], policy: str
) -> None:
    response = post_subscribe(client, ADA, ["subcontractors"], "weekly", documents=[policy])
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    [owed] = notifications(app)
    assert owed.context == {"lists": ["subcontractors"], "frequency": "weekly", "documents": [policy]}

    path = confirm_path(app, ADA)
    page = client.get(path).get_data(as_text=True)
    assert "Subcontractors" in page and "Privacy policy" in page
    done = _confirm(client, path)
    assert done.status_code == 200  # type: ignore[attr-defined]
    after = state(app, ADA)
    assert after is not None and after.status == "confirmed"
    assert after.subscriptions == {"subcontractors": "weekly"}
    assert after.documents == {policy: "weekly"}
    [event] = events(app, "subscriber.confirm")
    assert event.after == {
        "status": "confirmed",
        "lists": {"subcontractors": "weekly"},
        "documents": {policy: "weekly"},
    }


def test_nothing_chosen_is_refused(client: FlaskClient, app: Flask, lists: list[str], policy: str) -> None:
    response = post_subscribe(client, ADA, [], documents=[])
    assert response.status_code == 400
    assert "Choose at least one list or document." in response.get_data(as_text=True)
    assert notifications(app) == []


def test_a_confirmation_link_signed_by_an_earlier_version_still_works(
    client: FlaskClient, app: Flask, lists: list[str], policy: str
) -> None:
    """Links signed before pending requests were kept carried what they asked for ("l", "f",
    and "d" only when there were documents): they confirm what is pending, like any link now."""
    post_subscribe(client, ADA, ["sub-processors"])
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == ADA))
        assert subscriber is not None
        serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="registry.subscriber.confirm")
        old = serializer.dumps(
            {"s": subscriber.id, "k": subscriber.token_key, "n": 0, "l": ["sub-processors"], "f": "each"}
        )
    # A link signed now names no list or document (kept in the database), nor the subscriber's id.
    new = confirm_path(app, ADA).rsplit("/", 1)[1]
    assert set(serializer.loads(new)) == {"k", "n"}
    path = f"/subscribe/confirm/{old}"
    assert _confirm(client, path).status_code == 200  # type: ignore[attr-defined]
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {"sub-processors": "each"} and after.documents == {}


def test_the_manage_page_changes_document_subscriptions(
    client: FlaskClient, app: Flask, lists: list[str], policy: str
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    path = f"/subscription/{manage_token(app, ADA)}"
    page = client.get(path).get_data(as_text=True)
    assert f'name="documents" value="{policy}"' in page and _checked(page, "documents") == set()

    # Add the document.
    data = {
        "csrf_token": csrf_token(client, path),
        "lists": ["sub-processors"],
        "documents": [policy],
        "frequency": "each",
    }
    assert client.post(path, data=data).status_code == 303
    after = state(app, ADA)
    assert after is not None and after.documents == {policy: "each"}
    page = client.get(path).get_data(as_text=True)
    assert _checked(page, "documents") == {policy}
    assert "Privacy policy" in page
    [event] = events(app, "subscriber.update")
    assert event.before == {"lists": {"sub-processors": "each"}}
    assert event.after == {"lists": {"sub-processors": "each"}, "documents": {policy: "each"}}

    # Keep only the document.
    data = {"csrf_token": csrf_token(client, path), "documents": [policy], "frequency": "weekly"}
    assert client.post(path, data=data).status_code == 303
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {} and after.documents == {policy: "weekly"}
    assert after.status == "confirmed"

    # Untick everything: unsubscribed.
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed" and after.documents == {}

    # An unknown document is refused with a message.
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "documents": ["nowhere"], "frequency": "each"}
    )
    assert response.status_code == 400
    assert "There is no document called “nowhere”" in response.get_data(as_text=True)


def test_one_click_unsubscribe_ends_document_subscriptions(
    client: FlaskClient, app: Flask, lists: list[str], policy: str
) -> None:
    add_subscriber(app, ADA, documents={policy: Frequency.EACH})
    response = client.post(
        f"/unsubscribe/{unsubscribe_token(app, ADA)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed" and after.documents == {}


def test_a_subscription_names_a_list_or_a_document_never_both(
    app: Flask, lists: list[str], policy: str
) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    from registry.documents.services import get_document
    from registry.extensions import db
    from registry.lists.services import get_list
    from registry.subscriptions.models import Subscription

    subscriber_id = add_subscriber(app, ADA, documents={policy: Frequency.EACH})
    with app.app_context():
        register_list, document = get_list(db.session, "sub-processors"), get_document(db.session, policy)
        assert register_list is not None and document is not None
        for values in (
            {"list_id": register_list.id, "document_id": document.id},
            {},
            {"document_id": document.id},
        ):
            db.session.add(Subscription(subscriber_id=subscriber_id, **values))
            with pytest.raises(IntegrityError):
                db.session.flush()
            db.session.rollback()


def test_leaving_a_list_or_document_cancels_what_was_still_owed_about_it(
    client: FlaskClient, app: Flask, registry: Registry, lists: list[str], policy: str
) -> None:
    weekly = Frequency.WEEKLY
    add_subscriber(
        app,
        ADA,
        subscriptions={"sub-processors": weekly, "subcontractors": weekly},
        documents={policy: weekly},
    )
    announced = {
        slug: registry.announce(slug, [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40))
        for slug in lists
    }
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == ADA))
        assert subscriber is not None
        revision = db.session.scalars(select(DocumentRevision)).one()
        # Held for the weekly digest: the two notices (written by the announcements), a revision.
        db.session.add(
            Notification(
                kind=NotificationKind.REVISION, subscriber_id=subscriber.id, revision_id=revision.id,
                status=NotificationStatus.HELD,
            )
        )  # fmt: skip
        # And a reminder already sent: history, not owed.
        db.session.add(
            Notification(
                kind=NotificationKind.REMINDER, subscriber_id=subscriber.id,
                notice_id=announced["sub-processors"], status=NotificationStatus.SENT,
            )
        )  # fmt: skip
        db.session.commit()

    def owed() -> dict[tuple[str, str], str]:
        """Each notification's status, by its kind and the slug of what it is about."""
        with app.app_context():
            found = {}
            for row in db.session.scalars(select(Notification)):
                about = row.revision.document if row.revision else row.notice.register_list  # type: ignore[union-attr]
                found[(row.kind.value, about.slug)] = row.status.value
            return found

    assert owed() == {
        ("notice", "sub-processors"): "held",
        ("notice", "subcontractors"): "held",
        ("revision", policy): "held",
        ("reminder", "sub-processors"): "sent",
    }
    path = f"/subscription/{manage_token(app, ADA)}"
    data = {"csrf_token": csrf_token(client, path), "lists": ["subcontractors"], "frequency": "weekly"}
    assert client.post(path, data=data).status_code == 303
    # Its next digest carries only what it still subscribes to.
    assert owed() == {
        ("notice", "sub-processors"): "cancelled",
        ("notice", "subcontractors"): "held",
        ("revision", policy): "cancelled",
        ("reminder", "sub-processors"): "sent",
    }
