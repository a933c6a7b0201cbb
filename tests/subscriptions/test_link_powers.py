"""Each link emailed to a subscriber can do what its place in the email needs, and no more.

The ``List-Unsubscribe`` header is handed to mailbox providers, travels with forwarded mail and
lands in access logs: its link only unsubscribes. The manage link in an email's body opens the
manage page (lists, frequency, unsubscribe) for MANAGE_LINK_MAX_AGE_DAYS; seeing and downloading
the data held, correcting the address and erasing it take a fresh link, emailed to the address on
request and working for FRESH_LINK_MAX_AGE_MINUTES. No link names a subscriber by its (sequential)
id. The emails go over a real SMTP server on loopback.
"""

from __future__ import annotations

import json
import re
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeSerializer
from itsdangerous.encoding import base64_decode
from sqlalchemy import event, select

from registry.extensions import db
from registry.notifications.jobs import deliver_outbox
from registry.subscriptions import tokens
from registry.subscriptions.models import Subscriber
from tests.conftest import NOW, Registry, csrf_token
from tests.notifications import conftest as delivery
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.privacy.conftest import cells_containing
from tests.smtp import SmtpServer
from tests.subscriptions.conftest import confirm_path, state

smtp = delivery.smtp
app = delivery.app
published = delivery.published

ADA = "ada@example.com"
MALLORY = "mallory@example.net"


def _deliver(app: Flask) -> None:
    with app.app_context():
        deliver_outbox(clock=Clock(NOW))


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _path(url: str) -> str:
    return urlsplit(url).path


def _header_path(message: EmailMessage) -> str:
    """The HTTPS link of ``List-Unsubscribe``, as a path."""
    match = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert match, message["List-Unsubscribe"]
    return _path(match.group(1))


def _body_link(message: EmailMessage, label: str) -> str:
    match = re.search(rf"{label}:?\s+(https://\S+)", _text(message))
    assert match, _text(message)
    return _path(match.group(1))


@pytest.fixture
def notice_email(app: Flask, published: Registry, smtp: SmtpServer) -> EmailMessage:
    """Ada, subscribed and confirmed, received a notice over SMTP."""
    add_subscriber(app, ADA)
    announce_acme(published)
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    return message


def _fresh_link(app: Flask, client: FlaskClient, smtp: SmtpServer) -> str:
    """Ask for a link at /subscription, as a person would, and follow the email that comes."""
    before = len(smtp.mailbox.to(ADA))
    response = client.post(
        "/subscription", data={"csrf_token": csrf_token(client, "/subscription"), "email": ADA}
    )
    assert response.status_code == 200
    _deliver(app)
    messages = smtp.mailbox.to(ADA)
    assert len(messages) == before + 1
    return _body_link(messages[-1], "")


def _attempts_with(client: FlaskClient, token_path: str) -> dict[str, int]:
    """What a stranger holding ``token_path``'s token gets from every page a token opens."""
    token = token_path.rsplit("/", 1)[1]
    form = {"csrf_token": csrf_token(client, "/subscription")}
    return {
        "manage": client.get(f"/subscription/{token}").status_code,
        "data": client.get(f"/subscription/{token}/data.json").status_code,
        "address": client.post(f"/subscription/{token}/address", data={**form, "email": MALLORY}).status_code,
        "delete page": client.get(f"/subscription/{token}/delete").status_code,
        "delete": client.post(f"/subscription/{token}/delete", data=form).status_code,
    }


# --- the header's link -------------------------------------------------------------------------


def test_the_list_unsubscribe_link_only_unsubscribes(app: Flask, notice_email: EmailMessage) -> None:
    """The attack of the issue: from the header alone, no download, no new address, no erasure."""
    stranger = app.test_client()
    attempts = _attempts_with(stranger, _header_path(notice_email))
    assert attempts == {"manage": 400, "data": 400, "address": 400, "delete page": 400, "delete": 400}
    ada = state(app, ADA)
    assert ada is not None and ada.status == "confirmed"
    with app.app_context():
        assert db.session.scalar(select(Subscriber.email)) == ADA

    # What it is for still works, one click and no cookie (RFC 8058).
    mail_client = app.test_client(use_cookies=False)
    response = mail_client.post(_header_path(notice_email), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You are unsubscribed" in response.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed"


def test_the_unsubscribe_page_does_not_show_the_address(app: Flask, notice_email: EmailMessage) -> None:
    page = app.test_client().get(_header_path(notice_email)).get_data(as_text=True)
    assert "Unsubscribe from everything" in page
    assert ADA not in page
    assert "/subscription/" not in page.replace('href="/subscription"', "")


def _payload(token: str) -> Any:
    return json.loads(base64_decode(token.split(".")[0]))


def test_no_link_names_the_subscriber_by_id(app: Flask, notice_email: EmailMessage) -> None:
    with app.app_context():
        subscriber_id = db.session.scalar(select(Subscriber.id))
    for path in (_header_path(notice_email), _body_link(notice_email, "Manage your subscription")):
        payload = _payload(path.rsplit("/", 1)[1])
        assert "s" not in payload and subscriber_id not in payload.values(), payload
    # A confirmation link carries the key and the confirmation count it was signed at, no id.
    confirmation = _payload(confirm_path(app, ADA).rsplit("/", 1)[1])
    assert set(confirmation) == {"k", "n"}, confirmation


# --- the body's manage link --------------------------------------------------------------------


def test_the_manage_link_opens_the_page_but_not_the_data(app: Flask, notice_email: EmailMessage) -> None:
    path = _body_link(notice_email, "Manage your subscription")
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Save choices" in text and "Unsubscribe from everything" in text
    assert "Download your data" not in text and "Acme Analytics" not in text
    assert "Email me a fresh link" in text

    attempts = _attempts_with(client, path)
    assert attempts == {"manage": 200, "data": 403, "address": 403, "delete page": 403, "delete": 403}
    refused = client.get(f"{path}/data.json").get_data(as_text=True)
    assert "fresh link" in refused and "Email me a fresh link" in refused
    ada = state(app, ADA)
    assert ada is not None and ada.status == "confirmed"


def test_every_email_carries_a_new_manage_link(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, ADA)
    announce_acme(published)
    _deliver(app)
    time.sleep(1.1)  # a signature's time has a resolution of one second
    announce_acme(published, name="Beta Mail")
    _deliver(app)
    first, second = smtp.mailbox.to(ADA)
    links = {_body_link(m, "Manage your subscription") for m in (first, second)}
    assert len(links) == 2
    # The header's link is the same in both: it never expires, so it need not change.
    assert _header_path(first) == _header_path(second)


def _signed_ago(seconds: int, sign: Any) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds)
        return str(sign())


def test_manage_links_expire(app: Flask, notice_email: EmailMessage) -> None:
    from registry.subscriptions import tokens

    max_age = app.config["MANAGE_LINK_MAX_AGE_DAYS"] * 86400
    client = app.test_client()
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        old = _signed_ago(max_age + 60, lambda: tokens.manage_token(subscriber))
        young = _signed_ago(max_age - 60, lambda: tokens.manage_token(subscriber))
    response = client.get(f"/subscription/{old}")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "expired" in text and 'href="/subscription"' in text
    assert client.get(f"/subscription/{young}").status_code == 200


# --- the fresh link ----------------------------------------------------------------------------


def test_a_fresh_link_from_the_inbox_opens_everything(
    app: Flask, client: FlaskClient, notice_email: EmailMessage, smtp: SmtpServer
) -> None:
    path = _fresh_link(app, client, smtp)
    page = client.get(path).get_data(as_text=True)
    assert "Download your data (JSON)" in page and "Acme Analytics" in page
    data = client.get(f"{path}/data.json")
    assert data.status_code == 200 and data.get_json()["subscriber"]["email"] == ADA
    assert client.get(f"{path}/delete").status_code == 200
    form = {"csrf_token": csrf_token(client, path)}
    assert client.post(f"{path}/address", data={**form, "email": "ada@new.example"}).status_code == 303
    assert client.post(f"{path}/delete", data=form).status_code == 200
    assert state(app, ADA) is None


def test_the_manage_page_sends_a_fresh_link_to_the_address(
    app: Flask, client: FlaskClient, notice_email: EmailMessage, smtp: SmtpServer
) -> None:
    path = _body_link(notice_email, "Manage your subscription")
    page = client.get(path).get_data(as_text=True)
    form = re.search(r'<form[^>]+action="/subscription"[^>]*>(.*?)</form>', page, re.S)
    assert form, page
    fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form.group(1)))
    assert fields["email"] == ADA
    assert client.post("/subscription", data=fields).status_code == 200
    _deliver(app)
    fresh = _body_link(smtp.mailbox.to(ADA)[-1], "")
    assert client.get(f"{fresh}/data.json").status_code == 200


def test_fresh_links_are_short_lived(
    app: Flask, client: FlaskClient, notice_email: EmailMessage, smtp: SmtpServer
) -> None:
    from registry.subscriptions import tokens

    max_age = app.config["FRESH_LINK_MAX_AGE_MINUTES"] * 60
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        old = _signed_ago(max_age + 60, lambda: tokens.fresh_token(subscriber))
        young = _signed_ago(max_age - 60, lambda: tokens.fresh_token(subscriber))
    response = client.get(f"/subscription/{old}/data.json")
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert client.get(f"/subscription/{young}/data.json").status_code == 200


# --- links in emails sent before ---------------------------------------------------------------


def _old_format_link(app: Flask) -> str:
    """The one link emails carried before links were split by power, signed as it was then."""
    with app.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        serializer = URLSafeSerializer(app.config["SECRET_KEY"], salt="registry.subscriber.manage")
        return serializer.dumps({"s": subscriber.id, "k": subscriber.token_key})


def test_an_old_link_still_unsubscribes_but_no_longer_manages(app: Flask, notice_email: EmailMessage) -> None:
    old = _old_format_link(app)
    client = app.test_client()
    attempts = _attempts_with(client, f"/subscription/{old}")
    assert attempts == {"manage": 400, "data": 400, "address": 400, "delete page": 400, "delete": 400}
    page = client.get(f"/subscription/{old}").get_data(as_text=True)
    assert "expired" in page and 'href="/subscription"' in page
    response = app.test_client(use_cookies=False).post(
        f"/unsubscribe/{old}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed"


# --- what the pages tell other sites -----------------------------------------------------------


def test_pages_that_hold_a_token_send_no_referrer(
    app: Flask, client: FlaskClient, notice_email: EmailMessage
) -> None:
    manage = _body_link(notice_email, "Manage your subscription")
    for path in (
        manage,
        _header_path(notice_email),
        "/subscription/not-a-token",
        "/subscribe/confirm/not-a-token",
        "/subscription/address/not-a-token",
        f"{manage}/delete",
    ):
        assert client.get(path).headers["Referrer-Policy"] == "no-referrer", path
    assert client.get("/subscription").headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_an_error_at_a_tokens_address_sends_no_referrer(
    client: FlaskClient, notice_email: EmailMessage
) -> None:
    """A 404 or 405 never reaches the blueprint's views; its address holds the token all the same."""
    manage = _body_link(notice_email, "Manage your subscription")
    unsubscribe = _header_path(notice_email)
    for method, path, status in (
        ("PUT", manage, 405),
        ("DELETE", unsubscribe, 405),
        ("GET", f"{manage}/no-such-page", 404),
        ("GET", f"{unsubscribe}/extra", 404),
        # Doubled slashes: the router redirects to the real address, naming the token.
        ("GET", unsubscribe.replace("/unsubscribe/", "/unsubscribe//"), 308),
        ("GET", manage.replace("/subscription/", "/subscription//"), 308),
    ):
        response = client.open(path, method=method)
        assert response.status_code == status, (method, path)
        assert response.headers["Referrer-Policy"] == "no-referrer", (method, path)


# --- the same work for every address -----------------------------------------------------------


def _statements_of(app: Flask, client: FlaskClient, email: str) -> tuple[list[str], str]:
    """The SQL that asking for a link for ``email`` runs (text, without values), and the page."""
    data = {"csrf_token": csrf_token(client, "/subscription"), "email": email}
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/subscription", data=data)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return statements, response.get_data(as_text=True)


def test_a_known_and_an_unknown_address_take_the_same_path(
    app: Flask, client: FlaskClient, notice_email: EmailMessage, smtp: SmtpServer
) -> None:
    """The same statements, in the same order, and the same page: nothing for a clock to tell
    apart (the manage-link request used to insert a row for a known address only)."""
    known, known_page = _statements_of(app, client, ADA)
    unknown, unknown_page = _statements_of(app, client, "nobody@example.com")
    assert known == unknown
    assert any(statement.lstrip().upper().startswith("INSERT") for statement in known)
    assert known_page == unknown_page
    # Only the known address gets an email; the unknown one is never stored.
    before = len(smtp.mailbox.messages)
    _deliver(app)
    assert [str(m["To"]) for m in smtp.mailbox.messages[before:]] == [ADA]
    assert cells_containing(app, "nobody@") == []


# --- one purpose per link ----------------------------------------------------------------------


def test_a_link_of_one_purpose_opens_no_page_of_another(app: Flask, published: Registry) -> None:
    """Each kind of link is signed for its purpose alone: presented where another kind is
    expected, it is not valid (the same key, the same payload, does not help)."""
    add_subscriber(app, ADA)
    with app.test_request_context():
        subscriber = db.session.scalars(select(Subscriber).where(Subscriber.email == ADA)).one()
        signed = {
            "confirm": tokens.confirmation_token(subscriber),
            "address": tokens.address_token(subscriber, MALLORY),
            "unsubscribe": tokens.unsubscribe_token(subscriber),
            "manage": tokens.manage_token(subscriber),
            "fresh": tokens.fresh_token(subscriber),
        }
    pages = {
        "confirm": ["/subscribe/confirm/{}"],
        "address": ["/subscription/address/{}"],
        "unsubscribe": ["/unsubscribe/{}"],
        "manage": ["/subscription/{}"],
        "fresh": ["/subscription/{}", "/subscription/{}/data.json", "/subscription/{}/delete"],
    }
    client = app.test_client()
    opened = {}
    for kind, token in signed.items():
        for paths in pages.values():
            for path in paths:
                response = client.get(path.format(token))
                opened[(kind, path)] = tokens.NOT_VALID not in response.get_data(as_text=True)
    own = {(kind, path) for kind, paths in pages.items() for path in paths}
    # A manage link reaches the fresh link's pages only to be told it needs a fresh link.
    own |= {("manage", "/subscription/{}/data.json"), ("manage", "/subscription/{}/delete")}
    assert {key for key, valid in opened.items() if valid} == own
