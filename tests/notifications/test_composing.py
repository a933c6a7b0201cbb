"""A notice, reminder or revision email is rendered and encoded once per batch, with stand-ins
for each subscriber's own links: every message built so must be, byte for byte, the message
rendered for that subscriber alone and encoded whole (headers, text and HTML parts)."""

from __future__ import annotations

import binascii
import email
import email.policy
import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from registry.documents.models import DocumentRevision
from registry.extensions import db
from registry.links import external_url
from registry.lists import services
from registry.lists.models import Notice
from registry.notifications import sending
from registry.notifications.emails import (
    Composer,
    notice_context,
    render_email,
    revision_context,
    revision_list_id,
)
from registry.notifications.models import Notification, NotificationKind
from registry.smtp import EncodedText, OutgoingMessage, quoted_printable
from registry.subscriptions import tokens
from registry.subscriptions.models import Subscriber
from tests.conftest import NOW, Registry, Users, entry
from tests.notifications.conftest import add_subscriber, announce_acme
from tests.notifications.test_documents import _editor, add_document_subscriber, policy  # noqa: F401

PLACEHOLDER = "registry-manage-url-placeholder"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no stand-in at all\n",
        f"{PLACEHOLDER}",
        f"Manage: {PLACEHOLDER}\n",
        f"first line\n  indented {PLACEHOLDER} and more words after it {PLACEHOLDER}\nlast",
        f"trailing space \n.leading dot\n{PLACEHOLDER} \n" + "x" * 200 + "\n\n",
        f"Grüße, “quoted” {PLACEHOLDER}=equals\ttab \n" * 3,
        f"carriage\r\nreturn {PLACEHOLDER}\r\n",
        f'<a href="{PLACEHOLDER}">Manage</a>' + " word" * 40 + "\n",
    ],
)
def test_encoded_once_is_encoded_whole(text: str) -> None:
    long_link = "https://registry.example/subscription/manage/" + "Ab-_9." * 20
    for link in ("https://r.example/m/x", long_link):
        filled = text.replace(PLACEHOLDER, link)
        assert EncodedText(text, [PLACEHOLDER]).fill({PLACEHOLDER: link}) == (
            filled,
            quoted_printable(filled),
        )
    # The encoding itself: the standard library's, with CRLF line ends.
    assert binascii.a2b_qp(quoted_printable(text)) == text.replace("\n", "\r\n").encode("utf-8")


def _expected(app: Flask, notification: Notification, subscriber: Subscriber) -> OutgoingMessage:
    """The message as rendered for this subscriber alone, with the serializers' own tokens."""
    links = {
        "manage_url": external_url("subscriptions.manage", token=tokens.manage_token(subscriber)),
        "unsubscribe_url": external_url(
            "subscriptions.unsubscribe", token=tokens.unsubscribe_token(subscriber)
        ),
    }
    if notification.revision is not None:
        revision = notification.revision
        withdrawal = notification.kind is NotificationKind.REVISION_WITHDRAWAL
        email = render_email("revision", **revision_context(revision, withdrawal=withdrawal), **links)
        list_id = revision_list_id(revision)
    else:
        assert notification.notice is not None
        name = "reminder" if notification.kind is NotificationKind.REMINDER else "notice"
        email = render_email(name, **notice_context(notification.notice), **links)
        list_id = notification.notice.register_list.slug
    mailto = app.config["UNSUBSCRIBE_MAILTO"]
    return OutgoingMessage(
        subject=email.subject,
        recipients=[subscriber.email],
        body=email.text,
        html=email.html,
        sender=app.config["MAIL_DEFAULT_SENDER"],
        message_id=f"<notification.{notification.id}.{notification.kind.value}@registry.example>",
        extra_headers={
            "List-Id": f"<{list_id}.registry.example>",
            "List-Unsubscribe": f"<{links['unsubscribe_url']}>, <mailto:{mailto}?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def test_the_wire_form_of_a_message() -> None:
    message = OutgoingMessage(
        subject="Grüße",
        recipients=["ada@example.org"],
        body="Hello.\n",
        html="<p>Hé</p>\n",
        sender="Example Cloud Ltd <privacy@example.com>",
        message_id="<notification.1.notice@registry.example>",
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    message.date = 0
    head, body = _wire(message).split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"From: Example Cloud Ltd <privacy@example.com>",
        b"To: ada@example.org",
        b"Subject: =?utf-8?b?R3LDvMOfZQ==?=",
        b"Date: Thu, 01 Jan 1970 00:00:00 GMT",
        b"Message-ID: <notification.1.notice@registry.example>",
        b"MIME-Version: 1.0",
        b"Auto-Submitted: auto-generated",
        b'Content-Type: multipart/alternative; boundary="BOUNDARY"',
    ]
    assert body == (
        b"--BOUNDARY\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Hello.\r\n\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<p>H=C3=A9</p>\r\n\r\n"
        b"--BOUNDARY--\r\n"
    )


def test_a_body_that_quotes_the_boundary_does_not_end_its_part() -> None:
    """The MIME boundary is the same in every message: quoted-printable keeps any body from
    holding it (its "=" becomes "=3D"), so a text that quotes it comes out whole."""
    quoted = "--=_registry-alternative--\n--=_registry-alternative\nStill the text.\n"
    message = OutgoingMessage(
        subject="Boundary",
        recipients=["ada@example.org"],
        body=quoted,
        html=f"<pre>{quoted}</pre>\n",
        sender="privacy@example.com",
        message_id="<notification.2.notice@registry.example>",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    parts = [part.get_content().replace("\r\n", "\n") for part in parsed.iter_parts()]
    assert parts == [quoted, f"<pre>{quoted}</pre>\n"]


def _wire(message: OutgoingMessage) -> bytes:
    """The message's bytes, with its date and MIME boundary fixed."""
    message.date = 0
    raw = message.as_bytes()
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    return raw.replace(boundary, b"BOUNDARY")


def _check_batch(app: Flask, kinds: set[NotificationKind]) -> int:
    """Build every notification of ``kinds`` both ways (the send loop's batch read, and the
    composer given the loaded notification) and compare each with the message rendered alone;
    returns how many were compared."""
    with app.app_context():
        notifications = db.session.scalars(
            select(Notification).where(Notification.kind.in_(kinds)).order_by(Notification.id)
        ).all()
        ids = [n.id for n in notifications]
        compared = 0
        for _ in range(3):  # the manage link carries the second it was signed in
            second = int(time.time())
            composer = Composer(db.session)
            items = sending._prepare(db.session, ids, composer)
            built = [composer.build(item.draft) for item in items if item.draft is not None]
            by_object = [composer.compose(n, n.subscriber.email) for n in notifications if n.subscriber]
            expected = [_expected(app, n, n.subscriber) for n in notifications if n.subscriber]
            if int(time.time()) == second:
                break
        assert len(built) == len(expected) == len(by_object) == len(ids)
        for ours, theirs, plain in zip(built, by_object, expected, strict=True):
            assert _wire(ours) == _wire(plain)
            assert _wire(theirs) == _wire(plain)
            assert (ours.body, ours.html) == (plain.body, plain.html)
            compared += 1
        return compared


ADDRESSES = ["ada@example.org", "grace.hopper@example.com", "müller@example.de"]


def test_notices_and_reminders_are_built_as_rendered_alone(app: Flask, published: Registry) -> None:
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        register_list.remind_on_effective = True
        db.session.commit()
    for address in ADDRESSES:
        add_subscriber(app, address)
    announce_acme(published)
    assert published.apply_due(NOW + timedelta(days=40)) == 1
    with app.app_context():
        assert db.session.scalars(select(Notice)).first() is not None
    kinds = {NotificationKind.NOTICE, NotificationKind.REMINDER}
    assert _check_batch(app, kinds) == 2 * len(ADDRESSES)


def test_revisions_are_built_as_rendered_alone(
    app: Flask,
    policy: object,  # noqa: F811
    users: Users,
) -> None:
    for address in ADDRESSES:
        add_document_subscriber(app, address)
    policy.announce(actor=_editor(users))  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalars(select(DocumentRevision)).first() is not None
    assert _check_batch(app, {NotificationKind.REVISION}) == len(ADDRESSES)


def test_a_notice_that_quotes_the_stand_ins_is_built_as_rendered_alone(
    app: Flask, published: Registry
) -> None:
    """Text an editor writes is the subscriber's text, whatever it says: a notice whose entry
    reads like the stand-ins for the links keeps those words, in every subscriber's message."""
    stand_ins = "registry-manage-url-placeholder registry-unsubscribe-url-placeholder"
    for address in ADDRESSES:
        add_subscriber(app, address)
    announce_acme(published, name=f"Acme {stand_ins}")
    assert _check_batch(app, {NotificationKind.NOTICE}) == len(ADDRESSES)


def test_a_notice_with_awkward_text_is_built_as_rendered_alone(app: Flask, published: Registry) -> None:
    """Whatever an editor's text holds (lines of a dot, carriage returns, long lines, other
    scripts) and whatever an address holds, a message built from the shared rendering is the one
    rendered alone."""
    for address in ["o'neil+lists$1\\g<0>@example.org", "ünïcode@exämple.de"]:
        add_subscriber(app, address)
    reason = ".\r\n.leading dot\r\nGrüße “quoted” =3D\t \n" + "long " * 60 + "\r\n\r\n. \n"
    published.announce(
        "sub-processors",
        [("add", None, entry("Acme. .Analytics ünï", locations=["US"], purpose="Café.\r\n."))],
        effective_at=NOW + timedelta(days=40),
        now=NOW,
        reason=reason,
    )
    assert _check_batch(app, {NotificationKind.NOTICE}) == 2
