"""Notice emails, over real SMTP, link to the list's calendar, and the link serves that calendar."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from icalendar import Calendar

from registry.extensions import db
from registry.lists import views, workflow
from registry.lists.models import Notice
from registry.notifications.jobs import bundle_digests, deliver_outbox
from registry.subscriptions.models import Frequency
from tests.conftest import NOW, Registry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer

CALENDAR = "https://registry.example/processors/calendar.ics"


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The calendar view's clock pinned to NOW: its window never depends on when tests run."""
    monkeypatch.setattr(views, "utcnow", lambda: NOW)


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


def test_a_notice_email_links_to_the_calendar(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "dpo@example.org")
    announce_acme(published)
    with app.app_context():
        deliver_outbox(clock=Clock())
    [message] = smtp.mailbox.to("dpo@example.org")
    text, html = _bodies(message)
    assert f"Add the deadline to your calendar: {CALENDAR}" in text
    assert f'<a href="{CALENDAR}">Add the deadline to your calendar</a>' in html

    # The link is the list's calendar, with this notice's deadline in it.
    response = app.test_client().get(CALENDAR.removeprefix("https://registry.example"))
    assert response.status_code == 200
    summaries = [str(e["summary"]) for e in Calendar.from_ical(response.data).walk("VEVENT")]
    assert "Last day to object: New sub-processor: Acme Analytics (United States)" in summaries


def test_a_withdrawal_email_has_no_calendar_link(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "dpo@example.org")
    notice_id = announce_acme(published)
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        workflow.withdraw(db.session, notice, reason="Not needed.", now=NOW + timedelta(hours=1))
        db.session.commit()
        deliver_outbox(clock=Clock(NOW + timedelta(hours=2)))
    [withdrawal] = [m for m in smtp.mailbox.to("dpo@example.org") if m["Subject"].startswith("Withdrawn")]
    assert all("calendar" not in body for body in _bodies(withdrawal))


def test_a_digest_links_to_the_calendar(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "dpo@example.org", frequency=Frequency.WEEKLY)
    announce_acme(published)
    digest_day = Clock(NOW + timedelta(days=7))  # NOW is a Sunday; digests go out on Monday
    with app.app_context():
        assert bundle_digests(clock=digest_day) == 1
        deliver_outbox(clock=digest_day)
    [digest] = smtp.mailbox.to("dpo@example.org")
    text, html = _bodies(digest)
    assert f"Add the deadline to your calendar: {CALENDAR}" in text
    assert f'<a href="{CALENDAR}">Add the deadline to your calendar</a>' in html
