"""A subscriber's access to their own data: everything held about the address on the manage page
and as a JSON download, complete for someone who subscribed, received notices and objected; and
a fresh manage link by email that tells nobody who subscribes."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.lists.feeds import notice_title
from registry.lists.services import get_notice
from registry.notifications.models import Notification, NotificationKind
from registry.privacy import services
from registry.subscriptions.models import SubscriberStatus
from tests.conftest import NOW, csrf_token
from tests.privacy.conftest import ADA, History
from tests.subscriptions.conftest import add_subscriber, lists, notifications

__all__ = ["lists"]  # the fixture: two lists


def test_the_export_is_complete(app: Flask, history: History) -> None:
    with app.app_context():
        data = services.subject_data(db.session, ADA, now=NOW)
        titles = [notice_title(get_notice(db.session, i)) for i in history.notice_ids]  # type: ignore[arg-type]

    subscriber = data["subscriber"]
    assert subscriber["email"] == ADA
    assert subscriber["status"] == "confirmed"
    assert subscriber["confirmations"] == 1
    assert subscriber["confirmed_at"] is not None and subscriber["created_at"] is not None
    assert [(s["slug"], s["frequency"]) for s in data["subscriptions"]] == [("sub-processors", "each")]

    [confirmation] = data["confirmations"]
    assert confirmation["status"] == "sent" and confirmation["sent_at"] is not None
    assert confirmation["context"] == {"lists": ["sub-processors"], "frequency": "each"}
    assert [a["outcome"] for a in confirmation["attempts"]] == ["sent"]

    # Each notice sent: which notice, what kind, when, with what result.
    assert [(n["kind"], n["notice"]["title"], n["status"]) for n in data["notifications"]] == [
        ("notice", titles[0], "sent"),
        ("notice", titles[1], "sent"),
    ]
    assert all(n["sent_at"] == "2027-01-10T12:00:00Z" for n in data["notifications"])
    assert all(n["notice"]["list"] == "Sub-processors" for n in data["notifications"])

    # The objection, found although the address was typed in other letters (stored normalised).
    [objection] = data["objections"]
    assert objection["reference"] == history.objection_reference
    assert objection["email"] == ADA
    assert objection["contact_name"] == "Ada Lovelace"
    assert objection["organisation"] == "Lovelace Analytics GmbH"
    assert objection["notice"]["title"] == titles[0]
    assert objection["reason"].startswith("We do not agree")
    assert objection["status"] == "open"

    # Everything the database links to Ada is in it: every notification of hers is listed.
    with app.app_context():
        held = set(
            db.session.scalars(
                select(Notification.id).where(Notification.subscriber_id == history.subscriber_id)
            )
        )
    listed = {n["id"] for n in data["notifications"] + data["confirmations"]}
    assert listed == held


def test_the_manage_page_shows_the_data(client: FlaskClient, history: History) -> None:
    page = client.get(f"/subscription/{history.fresh_token}").get_data(as_text=True)
    assert "Your data" in page
    assert "Lovelace Analytics GmbH" in page
    assert "New sub-processor: Acme Analytics" in page
    assert "New sub-processor: Beta Mail" in page
    assert f"/subscription/{history.fresh_token}/data.json" in page


def test_the_download_is_the_same_data(app: Flask, client: FlaskClient, history: History) -> None:
    response = client.get(f"/subscription/{history.fresh_token}/data.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".json" in disposition
    assert response.headers["Cache-Control"] == "no-store"
    downloaded = json.loads(response.get_data(as_text=True))
    with app.app_context():
        expected = services.subject_data(db.session, ADA, now=NOW)
    downloaded.pop("generated_at"), expected.pop("generated_at")
    assert downloaded == expected


def test_a_bad_link_downloads_nothing(client: FlaskClient, history: History) -> None:
    response = client.get(f"/subscription/{history.fresh_token}x/data.json")
    assert response.status_code == 400
    assert "attachment" not in response.headers.get("Content-Disposition", "")


# --- a fresh manage link -----------------------------------------------------------------------


def _ask(client: FlaskClient, email: str) -> tuple[int, str]:
    response = client.post(
        "/subscription", data={"csrf_token": csrf_token(client, "/subscription"), "email": email}
    )
    return response.status_code, response.get_data(as_text=True)


def test_the_answer_is_the_same_for_every_address(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA, subscriptions={})
    add_subscriber(app, "gone@example.com", SubscriberStatus.UNSUBSCRIBED)
    answers = {email: _ask(client, email) for email in (ADA, "gone@example.com", "nobody@example.com")}
    assert len(set(answers.values())) == 1
    status, page = answers[ADA]
    assert status == 200 and "Check your inbox" in page
    # Every address makes one row (the same work); only the known ones link a subscriber, and
    # the unknown one's holds nothing of the address (the sender finds nobody to send it to).
    owed = notifications(app, NotificationKind.MANAGE_LINK)
    assert len(owed) == 3 and [n.subscriber_id is not None for n in owed] == [True, True, False]
    assert owed[2].context is None


def test_a_malformed_address_is_refused(client: FlaskClient, lists: list[str]) -> None:
    status, page = _ask(client, "not an address")
    assert status == 400
    assert 'aria-invalid="true"' in page


def test_asking_for_links_is_rate_limited(app: Flask, client: FlaskClient, lists: list[str]) -> None:
    add_subscriber(app, ADA)
    statuses = [_ask(client, ADA.upper())[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(notifications(app, NotificationKind.MANAGE_LINK)) == 3


def test_the_form_is_linked_from_the_subscription_pages(client: FlaskClient, lists: list[str]) -> None:
    assert client.get("/subscription").status_code == 200
    for path in ("/subscribe", "/subscription/not-a-token"):
        assert 'href="/subscription"' in client.get(path).get_data(as_text=True), path
