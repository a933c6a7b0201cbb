"""The calendars: two all-day events per announced change, stable UIDs, cancelled on withdrawal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar

from registry.extensions import db
from registry.lists import calendars, services, views, workflow
from registry.lists.models import Notice
from registry.publishing.calendars import PAST_DAYS
from tests.conftest import NOW, Registry, entry

EFFECTIVE = NOW + timedelta(days=45)  # 2027-02-24 12:00 UTC; objections close a day before
CALENDARS = ["/processors/calendar.ics", "/lists/sub-processors/calendar.ics", "/calendar.ics"]


class Today:
    """The clock the calendar views read (their module's ``utcnow``), set by the test."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> Today:
    """Pinned to NOW, so what falls in a calendar's window never depends on when the tests run."""
    clock = Today()
    monkeypatch.setattr(views, "utcnow", clock)
    return clock


@pytest.fixture
def published(registry: Registry) -> Registry:
    """The default list at version 1 with one announced addition."""
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe", locations=["US"], transfer_mechanisms=["dpf"]))],
        effective_at=EFFECTIVE,
        reason="Card payments.",
    )
    return registry


def _calendar(client: FlaskClient, url: str = "/processors/calendar.ics") -> Calendar:
    response = client.get(url)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.data)


def _events(calendar: Calendar) -> dict[str, Any]:
    """The events by UID."""
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def _by_kind(calendar: Calendar) -> dict[str, Any]:
    return {str(event["uid"]).split("@")[0].rsplit(".", 1)[1]: event for event in calendar.walk("VEVENT")}


def _withdraw(registry: Registry, notice_id: int, now: datetime) -> None:
    with registry.app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        workflow.withdraw(db.session, notice, reason="We chose another provider.", now=now)
        db.session.commit()


def _notice_id(app: Flask) -> int:
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        [notice] = services.announced_notices(db.session, register_list)
        return notice.id


@pytest.mark.parametrize("url", CALENDARS)
def test_an_announcement_is_two_all_day_events(client: FlaskClient, published: Registry, url: str) -> None:
    calendar = _calendar(client, url)
    assert calendar["version"] == "2.0"
    assert "announced changes · Example Cloud Ltd" in str(calendar["x-wr-calname"])
    events = _by_kind(calendar)
    assert set(events) == {"effective", "deadline"}

    effective, deadline = events["effective"], events["deadline"]
    assert effective.decoded("dtstart") == date(2027, 2, 24)
    assert effective.decoded("dtend") == date(2027, 2, 25)
    assert str(effective["summary"]) == "New sub-processor: Stripe (United States) (takes effect)"
    # Objections close at 2027-02-23 12:00 UTC, so the 23rd is the last day to object.
    assert deadline.decoded("dtstart") == date(2027, 2, 23)
    assert str(deadline["summary"]) == "Last day to object: New sub-processor: Stripe (United States)"
    for event in (effective, deadline):
        assert isinstance(event.decoded("dtstart"), date) and not isinstance(
            event.decoded("dtstart"), datetime
        )
        assert str(event["status"]) == "CONFIRMED"
        assert int(event["sequence"]) == 0
        assert event.decoded("dtstamp") == NOW
        assert event.decoded("last-modified") == NOW
        assert str(event["url"]) == "https://registry.example/processors/changes#upcoming-heading"
        description = str(event["description"])
        # The feed's and the email's wording, with its deadline in words.
        assert "Takes effect: 24 February 2027, 12:00 UTC." in description
        assert "Object by: 23 February 2027, 12:00 UTC." in description
        assert "Reason: Card payments." in description
        assert "Transfer mechanism: EU-US Data Privacy Framework." in description
    assert "To object: https://registry.example/notices/" in str(deadline["description"])


def test_uids_name_the_host_the_list_the_notice_and_the_kind(
    client: FlaskClient, published: Registry
) -> None:
    notice_id = _notice_id(published.app)
    first = _calendar(client)
    assert set(_events(first)) == {
        f"notice-{notice_id}.sub-processors.effective@registry.example",
        f"notice-{notice_id}.sub-processors.deadline@registry.example",
    }
    # Asked again, unconditionally and after the list changed: the same UIDs.
    assert client.get("/processors/calendar.ics").data == client.get("/processors/calendar.ics").data
    published.publish("sub-processors", entry("Other"), now=NOW + timedelta(days=1))
    assert set(_events(_calendar(client))) == set(_events(first))
    assert set(_events(_calendar(client, "/calendar.ics"))) == set(_events(first))


def test_a_deadline_at_midnight_is_on_the_day_before(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe"))],
        effective_at=datetime(2027, 3, 1, tzinfo=UTC),
    )
    events = _by_kind(_calendar(client))
    assert events["effective"].decoded("dtstart") == date(2027, 3, 1)
    # 2027-02-28 00:00 UTC reads "27 February 2027, end of day UTC": the event is on the 27th.
    assert "Object by: 27 February 2027, end of day UTC." in str(events["deadline"]["description"])
    assert events["deadline"].decoded("dtstart") == date(2027, 2, 27)


def test_a_withdrawal_cancels_both_events_under_the_same_uids(
    client: FlaskClient, published: Registry
) -> None:
    notice_id = _notice_id(published.app)
    before = _events(_calendar(client))
    _withdraw(published, notice_id, NOW + timedelta(days=2))
    # Rescheduled: announced again for a later day, a notice of its own.
    published.announce(
        "sub-processors",
        [("add", None, entry("Stripe", locations=["US"], transfer_mechanisms=["dpf"]))],
        effective_at=EFFECTIVE + timedelta(days=14),
        now=NOW + timedelta(days=2),
        reason="Card payments, later.",
    )
    after = _events(_calendar(client))
    assert set(before) < set(after) and len(after) == 4
    for uid in before:
        event = after[uid]
        assert str(event["status"]) == "CANCELLED"
        assert int(event["sequence"]) == 1
        assert event.decoded("dtstamp") == NOW + timedelta(days=2)
        assert event.decoded("last-modified") == NOW + timedelta(days=2)
        assert event.decoded("created") == NOW
        assert event.decoded("dtstart") == before[uid].decoded("dtstart")
        assert str(event["summary"]).startswith("Withdrawn: ")
        assert "Update: Withdrawn on 12 January 2027, 12:00 UTC: We chose another provider." in str(
            event["description"]
        )
        assert "To object" not in str(event["description"])
    new = {uid: event for uid, event in after.items() if uid not in before}
    assert sorted(e.decoded("dtstart") for e in new.values()) == [date(2027, 3, 9), date(2027, 3, 10)]
    assert all(str(e["status"]) == "CONFIRMED" for e in new.values())


def test_applied_changes_stay_a_year_and_cancelled_ones_until_their_day(
    app: Flask, published: Registry
) -> None:
    published.apply_due(EFFECTIVE)
    later = EFFECTIVE + timedelta(days=30)
    published.announce(
        "sub-processors", [("add", None, entry("Later"))], effective_at=later + timedelta(days=40), now=later
    )
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        [withdrawn] = services.announced_notices(db.session, register_list)
        workflow.withdraw(db.session, withdrawn, reason="Not needed.", now=later)
        db.session.commit()

        def days(today: date) -> list[tuple[date, bool]]:
            events = calendars.calendar_events(db.session, [register_list], today)
            return sorted((event.day, event.cancelled) for event in events)

        applied = [(date(2027, 2, 23), False), (date(2027, 2, 24), False)]
        cancelled = [(date(2027, 5, 4), True), (date(2027, 5, 5), True)]
        assert days(date(2027, 3, 1)) == applied + cancelled
        # A cancelled event is shown up to its own day, so every calendar sees it cancelled.
        assert days(date(2027, 5, 5)) == [*applied, cancelled[1]]
        assert days(date(2027, 5, 6)) == applied
        # What took effect stays for a year, then leaves the calendar.
        assert days(date(2027, 2, 23) + timedelta(days=PAST_DAYS)) == applied
        assert days(date(2027, 2, 24) + timedelta(days=PAST_DAYS)) == applied[1:]
        assert days(date(2027, 2, 25) + timedelta(days=PAST_DAYS)) == []


def test_an_applied_change_links_to_its_diff(client: FlaskClient, published: Registry) -> None:
    published.apply_due(EFFECTIVE)
    events = _by_kind(_calendar(client))
    assert str(events["effective"]["url"]) == "https://registry.example/processors/diff?from=1&to=2"
    assert "Update: In effect since 24 February 2027, 12:00 UTC as version 2." in str(
        events["effective"]["description"]
    )
    assert "To object" not in str(events["deadline"]["description"])
    assert int(events["effective"]["sequence"]) == 0


def test_short_notice_has_no_deadline_event(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe"))],
        effective_at=NOW + timedelta(days=1),
        short_notice_reason="The old payment provider closes tomorrow.",
    )
    assert set(_by_kind(_calendar(client))) == {"effective"}


def test_text_is_escaped_by_the_library(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    name = "Evil, Inc; BEGIN:VEVENT\\"
    registry.announce(
        "sub-processors",
        [("add", None, entry(name))],
        effective_at=EFFECTIVE,
        reason="Line one.\nEND:VCALENDAR\nLine three, with a comma; and a semicolon.",
    )
    body = client.get("/processors/calendar.ics").data.decode()
    lines = body.split("\r\n")
    assert lines.count("BEGIN:VEVENT") == 2 and lines.count("END:VCALENDAR") == 1
    assert body.endswith("\r\nEND:VCALENDAR\r\n")
    events = _by_kind(Calendar.from_ical(body))
    assert str(events["effective"]["summary"]) == f"New sub-processor: {name} (Germany) (takes effect)"
    assert "Reason: Line one.\nEND:VCALENDAR\nLine three, with a comma; and a semicolon." in str(
        events["effective"]["description"]
    )


def test_the_all_lists_calendar_has_every_list(client: FlaskClient, published: Registry) -> None:
    published.create_list("website", "Website tools")
    published.publish("website", entry("Plausible"))
    with published.app.app_context():
        website = services.get_list(db.session, "website")
        assert website is not None
        [current] = services.latest_version(db.session, website).snapshot  # type: ignore[union-attr]
    published.announce(
        "website", [("retire", current["id"], None)], effective_at=EFFECTIVE + timedelta(days=1)
    )
    uids = set(_events(_calendar(client, "/calendar.ics")))
    assert {uid.split(".")[1] for uid in uids} == {"sub-processors", "website"}
    assert len(uids) == 4
    website_only = _by_kind(_calendar(client, "/lists/website/calendar.ics"))
    assert str(website_only["effective"]["summary"]) == "Removed sub-processor: Plausible (takes effect)"
    assert "Website tools" in str(_calendar(client, "/lists/website/calendar.ics")["x-wr-calname"])
    assert "All lists" in str(_calendar(client, "/calendar.ics")["x-wr-calname"])


@pytest.mark.parametrize("url", CALENDARS)
def test_conditional_get_and_cors(client: FlaskClient, published: Registry, url: str) -> None:
    first = client.get(url, headers={"Origin": "https://tools.customer.example"})
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    published.announce("sub-processors", [("add", None, entry("Later"))], effective_at=EFFECTIVE, now=NOW)
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert len(_events(Calendar.from_ical(again.data))) == 4


def test_an_unknown_list_has_no_calendar(client: FlaskClient, published: Registry) -> None:
    response = client.get("/lists/nothing-here/calendar.ics")
    assert response.status_code == 404
    assert "There is no list called “nothing-here”." in response.get_data(as_text=True)


def test_the_pages_link_to_the_calendars(client: FlaskClient, published: Registry) -> None:
    page = client.get("/processors").get_data(as_text=True)
    assert '<a href="/processors/calendar.ics" type="text/calendar">Add to calendar' in page
    assert '<link rel="alternate" type="text/calendar" href="/processors/calendar.ics"' in page
    home = client.get("/").get_data(as_text=True)
    assert '<a href="/calendar.ics" type="text/calendar">' in home


def test_a_notice_awaiting_approval_is_not_in_the_calendar(client: FlaskClient, registry: Registry) -> None:
    registry.create_list(requires_approval=True)
    registry.publish("sub-processors", entry("Microsoft Azure"))
    registry.announce("sub-processors", [("add", None, entry("Stripe"))], effective_at=EFFECTIVE)
    assert _events(_calendar(client)) == {}
    assert _events(_calendar(client, "/calendar.ics")) == {}


def test_the_calendar_names_itself_in_escaped_text(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(COMPANY_NAME="Evil, Inc; BEGIN:VEVENT\nX")
    registry = Registry(app)
    registry.create_list(title="Sub, processors")
    registry.publish("sub-processors", entry("Microsoft Azure"))
    body = app.test_client().get("/processors/calendar.ics").data.decode()
    lines = body.replace("\r\n ", "").split("\r\n")  # unfolded
    assert "BEGIN:VEVENT" not in lines and lines.count("END:VCALENDAR") == 1
    # TEXT as RFC 5545 escapes it (the parser hands these properties back as they are written).
    name = r"Sub\, processors: announced changes · Evil\, Inc\; BEGIN:VEVENT\nX"
    assert f"NAME:{name}" in lines and f"X-WR-CALNAME:{name}" in lines
    assert any(line.startswith("X-WR-CALDESC:") and r"Sub\, processors list" in line for line in lines)
    assert "X-PUBLISHED-TTL:PT6H" in lines and "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in lines


def test_the_window_moves_with_the_day(client: FlaskClient, published: Registry, today: Today) -> None:
    _withdraw(published, _notice_id(published.app), NOW + timedelta(days=1))
    first = client.get("/processors/calendar.ics")
    assert first.headers["Last-Modified"] == "Mon, 11 Jan 2027 12:00:00 GMT"  # the withdrawal
    assert len(_events(Calendar.from_ical(first.data))) == 2
    # The day after the effective date, the cancelled events have done their work and leave.
    today.now = datetime(2027, 2, 25, 9, 30, tzinfo=UTC)
    again = client.get("/processors/calendar.ics", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    assert again.headers["Last-Modified"] == "Thu, 25 Feb 2027 00:00:00 GMT"
    assert _events(Calendar.from_ical(again.data)) == {}
    modified = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert client.get("/processors/calendar.ics", headers=modified).status_code == 200
