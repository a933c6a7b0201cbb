"""What a reader finds in our emails: who writes and what it is about at the top, the objection as a
button (its link spelled out in the plain text), a plain-text part laid out in blocks, the changes
already announced in a confirmation, and news that must be acted on before the next digest sent at
once to weekly subscribers.

Through the real outbox to a real SMTP server on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from html.parser import HTMLParser

from flask import Flask
from sqlalchemy import select

from registry.extensions import db
from registry.notifications.jobs import bundle_digests, deliver_outbox
from registry.notifications.models import Notification
from registry.subscriptions.models import Frequency
from tests.conftest import NOW, Registry, entry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer
from tests.subscriptions.conftest import post_subscribe

ADA = "ada@example.com"
COMPANY = "Example Cloud Ltd"
ACME = "New sub-processor: Acme Analytics (United States), effective 2027-02-19"


def _deliver(app: Flask, clock: Clock | None = None) -> None:
    with app.app_context():
        deliver_outbox(clock=clock or Clock())


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    # On the wire lines end in CRLF; compare them as lines.
    return text.get_content().replace("\r\n", "\n"), html.get_content()


class _Page(HTMLParser):
    """The first paragraph's text, the first h1's text, and every link with its text and style."""

    def __init__(self) -> None:
        super().__init__()
        self.first_paragraph: str | None = None
        self.headline: str | None = None
        self.links: list[tuple[str, str, str]] = []
        self._in: str | None = None
        self._text = ""
        self._link: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "h1", "a"):
            self._in, self._text = tag, ""
            if tag == "a":
                self._link = {name: value or "" for name, value in attrs}

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self.first_paragraph is None:
            self.first_paragraph = self._text.strip()
        if tag == "h1" and self.headline is None:
            self.headline = self._text.strip()
        if tag == "a":
            self.links.append((self._text.strip(), self._link.get("href", ""), self._link.get("style", "")))
        self._in = None


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_a_notice_says_who_writes_and_what_it_is_about_first(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, ADA)
    announce_acme(published)
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    text, html = _bodies(message)

    # The plain text opens with the company, then the headline underlined.
    assert text.splitlines()[:3] == [COMPANY, ACME, "=" * len(ACME)]
    page = _page(html)
    assert page.first_paragraph == COMPANY
    assert page.headline == ACME


def test_the_objection_is_a_button_and_its_link_is_spelled_out_in_the_text(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, ADA)
    announce_acme(published)
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    text, html = _bodies(message)

    [(label, href, style)] = [link for link in _page(html).links if "/object" in link[1]]
    assert label == "Object to this change"
    assert "display: inline-block" in style and "background" in style
    # The text part: a heading of its own, the deadline, then the link on a line by itself.
    block = text[text.index("OBJECT TO THIS CHANGE") :].splitlines()
    assert block[1] == "If you object, tell us by 18 February 2027, 12:00 UTC, with the form at:"
    assert block[2] == href


def test_the_plain_text_is_laid_out_in_blocks(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, ADA)
    announce_acme(published)
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    text, _ = _bodies(message)

    # Each part after a blank line: the facts, each change, the call to action, the links.
    assert "Reason: We add product analytics.\n\n* " + ACME.split(", effective")[0] + "\n" in text
    assert "\n    Processing locations: United States\n" in text
    assert "\n\nOBJECT TO THIS CHANGE\n" in text
    assert re.search(r"/object\n\nThe list: ", text)


def test_every_automatic_message_says_so(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, ADA)
    add_subscriber(app, "weekly@example.com", frequency=Frequency.WEEKLY)
    announce_acme(published)
    with app.test_client() as client:
        post_subscribe(client, "grace@example.com")
    digest_day = Clock(NOW + timedelta(days=1))
    with app.app_context():
        assert bundle_digests(clock=digest_day) == 1
    _deliver(app, digest_day)
    subjects = {str(m["Subject"]).split(" ")[0]: m["Auto-Submitted"] for m in smtp.mailbox.messages}
    # A notice, a confirmation and a digest: RFC 3834's header on each, so no responder answers.
    assert subjects == {"New": "auto-generated", "Confirm": "auto-generated", "This": "auto-generated"}


def test_a_confirmation_lists_the_changes_already_announced(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    with app.test_client() as client:
        post_subscribe(client, "before@example.com")
    _deliver(app)  # before anything was announced
    announce_acme(published)
    with app.test_client() as client:
        post_subscribe(client, ADA)
    _deliver(app)

    [earlier] = smtp.mailbox.to("before@example.com")
    text, html = _bodies(earlier)
    assert "ALREADY ANNOUNCED" not in text and "Already announced" not in html

    [confirmation] = smtp.mailbox.to(ADA)
    text, html = _bodies(confirmation)
    block = text[text.index("ALREADY ANNOUNCED") :]
    assert f"* {ACME}\n" in block
    assert "Takes effect: 19 February 2027, 12:00 UTC\n" in block
    assert "Object by: 18 February 2027, 12:00 UTC\n" in block
    assert "Details: https://registry.example/processors/changes" in block
    assert "Already announced" in html and ACME in html


def test_a_short_notice_change_due_before_the_next_digest_reaches_weekly_subscribers_at_once(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, ADA, frequency=Frequency.WEEKLY)
    tuesday = NOW + timedelta(days=2)  # NOW is a Sunday; the next digest is on Monday the 18th
    urgent = published.announce(
        "sub-processors",
        [("add", None, entry("Hotfix Hosting", locations=["DE"]))],
        effective_at=tuesday + timedelta(days=3),
        now=tuesday,
        reason="An urgent move.",
        short_notice_reason="The previous host closes on Friday.",
    )
    # A change with its full notice still waits for the digest.
    usual = published.announce(
        "sub-processors",
        [("add", None, entry("Calm Cloud", locations=["DE"]))],
        effective_at=tuesday + timedelta(days=40),
        now=tuesday,
    )
    with app.app_context():
        rows = db.session.execute(select(Notification.notice_id, Notification.status)).all()
        status = {notice_id: str(value) for notice_id, value in rows}
    assert status == {urgent: "queued", usual: "held"}

    _deliver(app, Clock(tuesday))
    [message] = smtp.mailbox.to(ADA)
    assert "Hotfix Hosting" in str(message["Subject"])


def test_a_digest_says_when_a_change_already_took_effect(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, ADA, frequency=Frequency.WEEKLY)
    announce_acme(published)
    # Bundled only after the change took effect (a digest run that was held up, say).
    late = Clock(NOW + timedelta(days=45))
    with app.app_context():
        assert bundle_digests(clock=late) == 1
    _deliver(app, late)
    [digest] = smtp.mailbox.to(ADA)
    text, html = _bodies(digest)
    assert "Already in effect: this change took effect on 19 February 2027, 12:00 UTC" in text
    assert "Object by" not in text
    assert "Already in effect" in html

    # Bundled on time, the same digest gives the date ahead and the deadline.
    smtp.mailbox.messages.clear()
    add_subscriber(app, "grace@example.com", frequency=Frequency.WEEKLY)
    announce_acme(published, name="Beta Metrics")
    on_time = Clock(NOW + timedelta(days=8))
    with app.app_context():
        assert bundle_digests(clock=on_time) == 2  # Ada's too, with Beta Metrics
    _deliver(app, on_time)
    [digest] = smtp.mailbox.to("grace@example.com")
    text, _ = _bodies(digest)
    assert "Already in effect" not in text
    assert "Object by: 18 February 2027, 12:00 UTC" in text
