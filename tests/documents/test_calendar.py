"""A document's calendar: one all-day event per announced revision, cancelled on withdrawal."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from icalendar import Calendar

from registry.documents import calendars, services, views, workflow
from registry.documents.models import DocumentRevision
from registry.extensions import db
from tests.conftest import NOW
from tests.documents.conftest import SLUG, Documents

URL = f"/documents/{SLUG}/calendar.ics"


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The view's clock pinned to NOW: the calendar's window never depends on when tests run."""
    monkeypatch.setattr(views, "utcnow", lambda: NOW)


def _events(client: FlaskClient) -> dict[str, Any]:
    response = client.get(URL)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return {str(event["uid"]): event for event in Calendar.from_ical(response.data).walk("VEVENT")}


def test_an_announced_revision_is_an_event_on_its_effective_date(
    client: FlaskClient, published: Documents
) -> None:
    # Revision 1 was published at once: never announced, so not in the calendar.
    assert _events(client) == {}
    published.announce()
    [(uid, event)] = _events(client).items()
    assert uid == f"revision-2.{SLUG}.documents.effective@registry.example"
    assert event.decoded("dtstart") == date(2027, 2, 19)
    assert str(event["summary"]) == "Privacy policy: revision 2 (takes effect)"
    assert "Takes effect: 19 February 2027, 12:00 UTC." in str(event["description"])
    assert "What changes: Names, and correction." in str(event["description"])
    assert str(event["url"]) == f"https://registry.example/documents/{SLUG}/revisions/2"
    assert str(event["status"]) == "CONFIRMED" and int(event["sequence"]) == 0
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert f'<a href="{URL}" type="text/calendar">Add to calendar' in page


def test_a_withdrawn_revision_is_cancelled_until_its_day(client: FlaskClient, published: Documents) -> None:
    revision_id = published.announce()
    before = _events(client)
    with published.app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.withdraw(db.session, revision, reason="Not yet.", now=NOW + timedelta(days=1))
        db.session.commit()
    after = _events(client)
    assert set(after) == set(before)
    [event] = after.values()
    assert str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 1
    assert str(event["summary"]).startswith("Withdrawn: ")
    assert event.decoded("last-modified") == NOW + timedelta(days=1)
    with published.app.app_context():
        document = services.get_document(db.session, SLUG)
        assert document is not None
        assert len(calendars.calendar_events(db.session, document, date(2027, 2, 19))) == 1
        assert calendars.calendar_events(db.session, document, date(2027, 2, 20)) == []
