"""Subscribing twice before confirming: the requests add up, and the link in either confirmation
email confirms all of it; the other link then says "already confirmed".

Through the pages, with the confirmation emails delivered by the real outbox to a real SMTP
server on loopback and their links followed as a person would.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from registry.extensions import db
from registry.notifications.jobs import deliver_outbox
from registry.privacy import jobs as privacy_jobs
from registry.subscriptions.models import Frequency, PendingSubscription, Subscriber, SubscriberStatus
from registry.timeutil import utcnow
from tests.conftest import csrf_token
from tests.notifications import conftest as delivery
from tests.smtp import SmtpServer
from tests.subscriptions.conftest import (
    add_subscriber,
    confirm_form,
    events,
    fresh_token,
    manage_token,
    post_subscribe,
    state,
    unsubscribe_token,
)

ADA = "ada@example.com"
ALREADY = "Your subscription is already confirmed"


# A real SMTP server on loopback, and an app that sends to it (tests/notifications/conftest.py).
smtp = delivery.smtp
app = delivery.app


def _deliver(app: Flask) -> None:
    with app.app_context():
        deliver_outbox()


def _links(smtp: SmtpServer, address: str = ADA) -> list[str]:
    """The confirmation links of the emails ``address`` received, oldest first."""
    paths = []
    for message in smtp.mailbox.to(address):
        if not str(message["Subject"]).startswith("Confirm your subscription"):
            continue
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        match = re.search(r"https://registry\.example/subscribe/confirm/\S+", body.get_content())
        assert match is not None
        paths.append(urlsplit(match.group(0)).path)
    return paths


def _press(client: FlaskClient, path: str, **changes: Any) -> TestResponse:
    """Press the button of the confirmation page at ``path``, as it comes or with ``changes``."""
    return client.post(path, data={**confirm_form(client, path), **changes})


def _offered(client: FlaskClient, path: str) -> dict[str, str]:
    """What the confirmation page at ``path`` offers to confirm: title to frequency shown."""
    page = client.get(path).get_data(as_text=True)
    return dict(re.findall(r'<label for="pending-\d+">([^<]+) <span class="meta">([^<]+)</span>', page))


def _pending(app: Flask, email: str = ADA) -> dict[str, str]:
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert subscriber is not None
        return {row.slug: row.frequency.value for row in subscriber.pending}


@pytest.mark.parametrize("followed", [0, 1], ids=["first-link", "second-link"])
def test_either_link_confirms_both_sign_ups(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str], policy: str, followed: int
) -> None:
    first = post_subscribe(client, ADA, ["sub-processors"], "each")
    second = post_subscribe(client, ADA, ["subcontractors"], "weekly", documents=[policy])
    # The second answer is the first one: nothing tells that the address asked before.
    assert (first.status_code, first.get_data()) == (second.status_code, second.get_data())
    _deliver(app)
    links = _links(smtp)
    assert len(links) == 2

    assert _offered(client, links[followed]) == {
        "Sub-processors": "Each notice",
        "Subcontractors": "Weekly digest",
        "Privacy policy": "Weekly digest",
    }
    done = _press(client, links[followed])
    assert done.status_code == 200 and "You are subscribed" in done.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "confirmed" and after.confirmations == 1
    # Each at the frequency it was asked for.
    assert after.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}
    assert after.documents == {policy: "weekly"}
    assert _pending(app) == {}

    # The other email's link: already confirmed, not an error, and nothing more happens.
    other = links[1 - followed]
    for response in (client.get(other), _press(client, other)):
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert ALREADY in text and "subscribe again" not in text
        # Nothing of the subscription: a link lying about in an inbox gives nothing away.
        assert manage_token(app, ADA) not in text and "Subcontractors" not in text.split("<main")[-1]
    assert state(app, ADA) == after
    [event] = events(app, "subscriber.confirm")
    assert event.after == {
        "status": "confirmed",
        "lists": {"sub-processors": "each", "subcontractors": "weekly"},
        "documents": {policy: "weekly"},
    }
    assert "@" not in (event.summary or "")


def test_a_confirmed_subscriber_asks_for_one_more_list(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.WEEKLY})
    post_subscribe(client, ADA, ["subcontractors"], "each")
    # Nothing changes before the link is followed.
    before = state(app, ADA)
    assert before is not None and before.subscriptions == {"sub-processors": "weekly"}
    _deliver(app)
    [link] = _links(smtp)
    assert _offered(client, link) == {"Subcontractors": "Each notice"}  # only what is asked for
    assert _press(client, link).status_code == 200
    after = state(app, ADA)
    assert after is not None and after.confirmations == 2
    assert after.subscriptions == {"sub-processors": "weekly", "subcontractors": "each"}
    assert ALREADY in client.get(link).get_data(as_text=True)


def test_a_list_asked_for_twice_takes_the_newest_frequency(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    post_subscribe(client, ADA, ["sub-processors", "subcontractors"], "each")
    post_subscribe(client, ADA, ["subcontractors"], "weekly")
    assert _pending(app) == {"sub-processors": "each", "subcontractors": "weekly"}
    _deliver(app)
    first, _second = _links(smtp)
    assert _press(client, first).status_code == 200
    after = state(app, ADA)
    assert after is not None
    assert after.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}


def test_only_what_the_page_showed_is_confirmed(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    """A sign-up made between showing the page and pressing its button (someone else's, maybe)
    is not confirmed unseen: it waits for its own link."""
    post_subscribe(client, ADA, ["sub-processors"])
    _deliver(app)
    [link] = _links(smtp)
    shown = confirm_form(client, link)
    post_subscribe(client, ADA, ["subcontractors"], "weekly")
    assert client.post(link, data=shown).status_code == 200
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {"sub-processors": "each"}
    assert _pending(app) == {"subcontractors": "weekly"}

    # Its email is sent after the confirmation: its link confirms it.
    _deliver(app)
    _, newer = _links(smtp)
    assert _offered(client, newer) == {"Subcontractors": "Weekly digest"}
    assert _press(client, newer).status_code == 200
    final = state(app, ADA)
    assert final is not None
    assert final.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}


def test_what_is_unticked_is_not_confirmed_and_dropped(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    post_subscribe(client, ADA, ["sub-processors"])
    post_subscribe(client, ADA, ["subcontractors"])
    _deliver(app)
    link = _links(smtp)[0]
    form = confirm_form(client, link)
    with app.app_context():
        ids = {
            row.slug: str(row.id)
            for row in db.session.scalars(select(PendingSubscription).order_by(PendingSubscription.id))
        }
    assert sorted(form["pending"]) == sorted(ids.values())

    # Nothing ticked: a message, and nothing changes.
    refused = client.post(link, data={**form, "pending": []})
    assert refused.status_code == 400
    assert "Tick at least one list or document" in refused.get_data(as_text=True)
    assert _pending(app) == {"sub-processors": "each", "subcontractors": "each"}

    assert client.post(link, data={**form, "pending": [ids["sub-processors"]]}).status_code == 200
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {"sub-processors": "each"}
    assert _pending(app) == {}
    [event] = events(app, "subscriber.confirm")
    assert "declined subcontractors" in (event.summary or "")


def test_a_request_past_a_links_lifetime_is_not_confirmed_by_a_newer_link(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    post_subscribe(client, ADA, ["sub-processors"])
    max_age = timedelta(seconds=app.config["CONFIRMATION_MAX_AGE_SECONDS"])
    with app.app_context():
        db.session.execute(
            update(PendingSubscription).values(requested_at=utcnow() - max_age - timedelta(minutes=1))
        )
        db.session.commit()
    post_subscribe(client, ADA, ["subcontractors"])
    _deliver(app)
    _older, newer = _links(smtp)
    assert _offered(client, newer) == {"Subcontractors": "Each notice"}
    assert _press(client, newer).status_code == 200
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {"subcontractors": "each"}


def test_a_link_whose_requests_were_withdrawn_says_so(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    """Unticking everything on the manage page before confirming withdraws what was asked for."""
    post_subscribe(client, ADA, ["sub-processors"])
    _deliver(app)
    [link] = _links(smtp)
    manage = f"/subscription/{manage_token(app, ADA)}"
    client.post(manage, data={"csrf_token": csrf_token(client, manage), "frequency": "each"})
    assert _pending(app) == {}
    response = client.get(link)
    assert response.status_code == 400
    assert "Nothing is waiting to be confirmed" in response.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {}


def test_an_unsubscribed_address_cannot_use_a_confirmed_link_again(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    post_subscribe(client, ADA, ["sub-processors"])
    _deliver(app)
    [link] = _links(smtp)
    assert _press(client, link).status_code == 200
    client.post(f"/unsubscribe/{unsubscribe_token(app, ADA)}")
    response = _press(client, link)
    assert response.status_code == 400
    assert "already been used" in response.get_data(as_text=True)
    after = state(app, ADA)
    assert after is not None and after.status == "unsubscribed" and after.subscriptions == {}


# --- what is held, and for how long -----------------------------------------------------------


def test_pending_requests_are_in_the_data_export(
    client: FlaskClient, app: Flask, lists: list[str], policy: str
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH})
    post_subscribe(client, ADA, ["subcontractors"], "weekly", documents=[policy])
    token = fresh_token(app, ADA)
    data = client.get(f"/subscription/{token}/data.json").get_json()
    assert [(p.get("list"), p.get("document"), p["slug"], p["frequency"]) for p in data["pending"]] == [
        ("Subcontractors", None, "subcontractors", "weekly"),
        (None, "Privacy policy", policy, "weekly"),
    ]
    assert all(p["requested_at"] for p in data["pending"])
    assert "Asked for, not confirmed yet" in client.get(f"/subscription/{token}").get_data(as_text=True)


def test_retention_purges_pending_requests_never_confirmed(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(app, ADA, subscriptions={"sub-processors": Frequency.EACH}, requested_at=utcnow())
    post_subscribe(client, ADA, ["subcontractors"])  # confirmed, asks for more
    post_subscribe(client, "grace@example.com", ["subcontractors"])  # never confirmed
    period = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    with app.app_context():
        # Within the period, nothing goes.
        privacy_jobs.enforce_retention(clock=lambda: utcnow() + period - timedelta(minutes=5))
        assert db.session.query(PendingSubscription).count() == 2
        results = privacy_jobs.enforce_retention(clock=lambda: utcnow() + period + timedelta(minutes=5))
        assert results["unconfirmed_subscribers"] == 1
        assert db.session.query(PendingSubscription).count() == 0
        emails = set(db.session.scalars(select(Subscriber.email)))
    assert emails == {ADA}
    after = state(app, ADA)
    assert after is not None and after.subscriptions == {"sub-processors": "each"}


def test_erasure_takes_pending_requests_with_the_address(
    client: FlaskClient, app: Flask, lists: list[str]
) -> None:
    add_subscriber(app, ADA, SubscriberStatus.PENDING)
    post_subscribe(client, ADA, ["subcontractors"])
    path = f"/subscription/{fresh_token(app, ADA)}/delete"
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 200
    assert state(app, ADA) is None
    with app.app_context():
        assert db.session.query(PendingSubscription).count() == 0


def test_sign_ups_at_the_same_moment_add_up(
    app_factory: Any, smtp: SmtpServer, lists: list[str], policy: str
) -> None:
    """Eight sign-ups of one address at once (two for each choice): none fails, and what is
    pending is the union of all of them, one row per list or document."""
    app = app_factory(**smtp.settings(SUBSCRIBE_LIMIT_PER_ADDRESS="100 per hour"))
    add_subscriber(app, ADA, SubscriberStatus.PENDING)
    choices = [
        {"lists": ["sub-processors"]},
        {"lists": ["subcontractors"]},
        {"lists": ["sub-processors", "subcontractors"]},
        {"lists": [], "documents": [policy]},
    ] * 2
    start = threading.Barrier(len(choices))
    statuses: list[int] = []

    def sign_up(choice: dict[str, list[str]]) -> None:
        client = app.test_client()
        start.wait()
        statuses.append(
            post_subscribe(
                client, ADA, choice["lists"], **{"documents": choice.get("documents", [])}
            ).status_code
        )

    threads = [threading.Thread(target=sign_up, args=(choice,)) for choice in choices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(choices)
    assert _pending(app) == {"sub-processors": "each", "subcontractors": "each", policy: "each"}


def test_both_links_followed_at_the_same_moment(
    client: FlaskClient, app: Flask, smtp: SmtpServer, lists: list[str]
) -> None:
    """The two buttons pressed at once: one confirmation, the other page says already confirmed."""
    post_subscribe(client, ADA, ["sub-processors"])
    post_subscribe(client, ADA, ["subcontractors"], "weekly")
    _deliver(app)
    links = _links(smtp)
    browsers = [app.test_client() for _ in links]  # one each: a test client is not shared by threads
    forms = [confirm_form(browser, link) for browser, link in zip(browsers, links, strict=True)]
    start = threading.Barrier(len(links))
    pages: list[tuple[int, str]] = []

    def press(browser: FlaskClient, link: str, form: dict[str, Any]) -> None:
        start.wait()
        response = browser.post(link, data=form)
        pages.append((response.status_code, response.get_data(as_text=True)))

    threads = [
        threading.Thread(target=press, args=triple) for triple in zip(browsers, links, forms, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in pages] == [200, 200]
    assert sorted("You are subscribed" in page for _, page in pages) == [False, True]
    assert any(ALREADY in page for _, page in pages)
    after = state(app, ADA)
    assert after is not None and after.confirmations == 1
    assert after.subscriptions == {"sub-processors": "each", "subcontractors": "weekly"}
    assert len(events(app, "subscriber.confirm")) == 1
