"""A subscriber of a document: the export shows the subscription and the revisions notified, and
erasure leaves no trace of the address while the revision's notifications still add up."""

from __future__ import annotations

import json
from collections import Counter

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.notifications.models import Notification
from tests.conftest import NOW, csrf_token
from tests.documents.conftest import SLUG, Documents
from tests.notifications.conftest import Clock
from tests.privacy.conftest import ADA, History, cells_containing, counts, deliver
from tests.smtp import SmtpServer

SUBJECT = "Privacy policy: new revision 2, effective 2027-02-19"


def _revision_counts(app: Flask) -> Counter[tuple[int | None, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Notification.revision_id, Notification.kind, Notification.status).where(
                Notification.revision_id.is_not(None)
            )
        ).all()
        return Counter((revision_id, str(kind), str(status)) for revision_id, kind, status in rows)


def _subscribe_to_the_policy(app: Flask, client: FlaskClient, history: History, smtp: SmtpServer) -> int:
    """Ada adds the privacy policy on her manage page; revision 2 is announced and delivered."""
    documents = Documents(app)
    documents.create()
    documents.publish()
    path = f"/subscription/{history.fresh_token}"
    data = {
        "csrf_token": csrf_token(client, path),
        "lists": ["sub-processors"],
        "documents": [SLUG],
        "frequency": "each",
    }
    assert client.post(path, data=data).status_code == 303
    revision_id = documents.announce()
    assert deliver(app, Clock(NOW)).startswith("sent 1,")
    assert [m["Subject"] for m in smtp.mailbox.to(ADA)][-1] == SUBJECT
    return revision_id


def test_the_export_shows_document_subscriptions_and_revisions(
    app: Flask, client: FlaskClient, history: History, smtp: SmtpServer
) -> None:
    revision_id = _subscribe_to_the_policy(app, client, history, smtp)
    download = client.get(f"/subscription/{history.fresh_token}/data.json")
    data = json.loads(download.get_data(as_text=True))
    assert [(s.get("list"), s.get("document"), s["slug"]) for s in data["subscriptions"]] == [
        ("Sub-processors", None, "sub-processors"),
        (None, "Privacy policy", SLUG),
    ]
    [revision] = [n for n in data["notifications"] if n["kind"] == "revision"]
    assert revision["status"] == "sent" and revision["notice"] is None
    assert revision["revision"]["title"] == SUBJECT
    assert revision["revision"]["document"] == "Privacy policy" and revision["revision"]["number"] == 2
    with app.app_context():
        notification = db.session.scalars(
            select(Notification).where(Notification.revision_id == revision_id)
        ).one()
        assert revision["id"] == notification.id

    page = client.get(f"/subscription/{history.fresh_token}").get_data(as_text=True)
    assert "Policy revision" in page and SUBJECT in page
    assert 'Privacy policy <span class="meta">policy</span>' in page


def test_erasure_leaves_no_trace_of_a_document_subscriber(
    app: Flask, client: FlaskClient, history: History, smtp: SmtpServer
) -> None:
    _subscribe_to_the_policy(app, client, history, smtp)
    before, revisions_before = counts(app), _revision_counts(app)
    path = f"/subscription/{history.fresh_token}/delete"
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200 and "Your data is deleted" in response.get_data(as_text=True)

    assert cells_containing(app, ADA) == []
    assert counts(app).notifications == before.notifications
    assert _revision_counts(app) == revisions_before  # the revision's email stays counted
    with app.app_context():
        unlinked = db.session.scalars(select(Notification).where(Notification.revision_id.is_not(None))).all()
        assert [n.subscriber_id for n in unlinked] == [None]
