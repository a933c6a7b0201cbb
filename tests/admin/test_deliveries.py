"""The delivery pages: the outbox's counts after a real announcement and a real delivery over SMTP,
the dead and retrying notifications with their errors, and requeueing them (admins only)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from registry.admin import deliveries
from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.lists import services
from registry.notifications.delivery import claim, mark_failed
from registry.notifications.jobs import deliver_outbox
from registry.notifications.models import Notification, NotificationKind
from registry.notifications.outbox import queue
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from tests.admin.conftest import audit_actions, post
from tests.conftest import NOW, Registry
from tests.notifications import conftest as delivery
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer

# The real SMTP server on loopback, and an app that sends to it (tests/notifications/conftest.py).
smtp = delivery.smtp
app = delivery.app

RETRIED_AT = NOW + timedelta(days=5)


class Cells(HTMLParser):
    """Every table row of a page as {data-label: text}; a row header's label is "row"."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append({})
        elif tag in ("td", "th") and self.rows:
            found = dict(attrs)
            self._label = found.get("data-label") or ("row" if found.get("scope") == "row" else None)
            if self._label:
                self.rows[-1][self._label] = ""
        elif self._label:
            self.rows[-1][self._label] += " "  # text in separate elements stays separate words

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label and self.rows:
            self.rows[-1][self._label] += data


def rows(page: str) -> list[dict[str, str]]:
    parser = Cells()
    parser.feed(page)
    return [{k: " ".join(v.split()) for k, v in row.items()} for row in parser.rows if row]


def row_starting(page: str, label: str, text: str) -> dict[str, str]:
    [found] = [row for row in rows(page) if row.get(label, "").startswith(text)]
    return found


def counts_in(row: dict[str, str]) -> dict[str, int]:
    return {label: int(row[label]) for label in deliveries.STATUS_LABELS.values() if row.get(label)}


def deliver(app: Flask, clock: Clock | None = None) -> str:
    with app.app_context():
        return str(deliver_outbox(clock=clock or Clock()))


def notifications(app: Flask) -> list[tuple[int, str, int, str | None]]:
    """(id, status, attempts, last error) of every notification, oldest first."""
    with app.app_context():
        return [
            (n.id, str(n.status), n.attempts, n.last_error)
            for n in db.session.scalars(select(Notification).order_by(Notification.id))
        ]


def kill(app: Flask, error: str) -> None:
    """Mark every due notification dead, as a permanent refusal would."""
    with app.app_context():
        ids = claim(db.session, now=NOW, worker="test", limit=1000, lease_seconds=60)
        for notification_id in ids:
            mark_failed(db.session, notification_id, error, worker="test", now=NOW, permanent=True)
        db.session.commit()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery pages read the time through their module's ``utcnow``."""
    monkeypatch.setattr(deliveries, "utcnow", lambda: RETRIED_AT)


@pytest.fixture
def dead_one(app: Flask, published: Registry, smtp: SmtpServer) -> int:
    """A notice to two subscribers: one sent, one dead after the server was down for days."""
    add_subscriber(app, "ok@example.org")
    add_subscriber(app, "down@example.org")
    notice_id = announce_acme(published)
    clock = Clock()
    smtp.mailbox.refuse_temporarily.add("down@example.org")
    assert deliver(app, clock).startswith("sent 1, retrying 1")
    smtp.stop()
    clock.advance(days=3)  # past RETRY_FOR_SECONDS: the next failure is the last
    assert "dead 1" in deliver(app, clock)
    return notice_id


def test_the_counts_follow_an_announcement_and_a_delivery(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    for address in ("a@example.org", "b@example.org"):
        add_subscriber(app, address)
    add_subscriber(app, "weekly@example.org", frequency=Frequency.WEEKLY)
    notice_id = announce_acme(published)

    page = editor.get("/admin/deliveries").get_data(as_text=True)
    assert counts_in(row_starting(page, "row", "All")) == {
        "Queued": 2, "Sending": 0, "Retrying": 0, "Sent": 0, "Dead": 0, "Cancelled": 0,
        "Held for digest": 1, "Sent in a digest": 0,
    }  # fmt: skip
    row = row_starting(page, "Notice", f"Notice {notice_id}")
    assert row["Notice"] == (
        f"Notice {notice_id} New sub-processor: Acme Analytics (United States), effective 2027-02-19"
    )
    assert row["List"] == "Sub-processors"
    assert row["Announced"] == "10 January 2027, 12:00 UTC"
    assert counts_in(row)["Queued"] == 2
    assert "warning-box" not in page  # nothing dead or retrying to point out

    deliver(app)
    assert sorted(smtp.mailbox.recipients()) == ["a@example.org", "b@example.org"]
    page = editor.get("/admin/deliveries").get_data(as_text=True)
    sent_and_held = {
        "Queued": 0, "Sending": 0, "Retrying": 0, "Sent": 2, "Dead": 0, "Cancelled": 0,
        "Held for digest": 1, "Sent in a digest": 0,
    }  # fmt: skip
    assert counts_in(row_starting(page, "Notice", f"Notice {notice_id}")) == sent_and_held

    page = editor.get(f"/admin/deliveries/notices/{notice_id}").get_data(as_text=True)
    assert counts_in(row_starting(page, "Kind", "Notice")) == sent_and_held
    assert "None: nothing of this notice failed." in page


def test_messages_not_tied_to_a_notice_are_counted_by_kind(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    with app.app_context():
        queue(db.session, NotificationKind.CONFIRMATION, now=NOW, context={"lists": ["sub-processors"]})
        db.session.commit()
    page = editor.get("/admin/deliveries").get_data(as_text=True)
    assert counts_in(row_starting(page, "Kind", "Confirmation request"))["Queued"] == 1


def test_a_dead_notification_is_shown_with_its_error(app: Flask, dead_one: int, editor: FlaskClient) -> None:
    page = editor.get("/admin/deliveries").get_data(as_text=True)
    totals = counts_in(row_starting(page, "row", "All"))
    assert (totals["Sent"], totals["Dead"]) == (1, 1)
    assert '<td data-label="Dead" class="delivery-dead"><strong>1</strong></td>' in page
    assert "<strong>1 dead</strong>" in page
    assert counts_in(row_starting(page, "Notice", f"Notice {dead_one}"))["Dead"] == 1

    page = editor.get(f"/admin/deliveries/notices/{dead_one}").get_data(as_text=True)
    row = row_starting(page, "Recipient", "down@example.org")
    assert row["Status"] == "Dead"
    assert row["Attempts"] == "2"
    assert row["Next attempt"] == "none: given up"
    assert "Connection refused" in row["Last error"] or "ConnectionRefused" in row["Last error"]
    assert "ok@example.org" not in page  # sent ones are counted, not listed

    page = editor.get("/admin/deliveries/dead").get_data(as_text=True)
    row = row_starting(page, "Recipient", "down@example.org")
    assert row["About"].startswith(f"Notice {dead_one} New sub-processor: Acme Analytics")
    assert "Connection refused" in row["Last error"] or "ConnectionRefused" in row["Last error"]
    assert "/retry" not in page  # no buttons for editors
    assert "Only an admin can requeue them." in page


def test_a_retrying_notification_shows_its_next_attempt(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    add_subscriber(app, "busy@example.org")
    notice_id = announce_acme(published)
    smtp.mailbox.refuse_temporarily.add("busy@example.org")
    assert "retrying 1" in deliver(app)
    page = editor.get(f"/admin/deliveries/notices/{notice_id}").get_data(as_text=True)
    row = row_starting(page, "Recipient", "busy@example.org")
    assert row["Status"] == "Retrying"
    assert row["Attempts"] == "1"
    assert row["Next attempt"].startswith("10 January 2027, 12:0")
    assert row["Last error"] == "451 4.3.0 Mailbox busy, try again later"
    assert "<strong>1 retrying</strong>" in page


def test_an_admin_requeues_a_dead_notification_and_it_is_sent(
    app: Flask, dead_one: int, smtp: SmtpServer, admin: FlaskClient, clock: None
) -> None:
    [(_, _, _, _), (dead_id, status, attempts, error)] = notifications(app)
    assert (status, attempts) == ("dead", 2)

    page = admin.get("/admin/deliveries/dead").get_data(as_text=True)
    assert f'action="/admin/deliveries/dead/{dead_id}/retry"' in page
    response = post(admin, f"/admin/deliveries/dead/{dead_id}/retry")
    assert response.status_code == 302
    assert response.location == "/admin/deliveries/dead"
    assert f"Notification {dead_id} is queued again" in admin.get(response.location).get_data(as_text=True)

    assert notifications(app)[1] == (dead_id, "retrying", 2, error)  # attempts and error kept
    with app.app_context():
        notification = db.session.get(Notification, dead_id)
        assert notification is not None
        assert notification.next_attempt_at == RETRIED_AT
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.retry"))
        assert (event.actor, event.target_type, event.target_id) == (
            "admin@example.com",
            "notification",
            str(dead_id),
        )
        assert "@" not in event.summary and "@" not in str(event.before) + str(event.after)
        assert event.after == {"status": "retrying", "count": 1}

    # A second press finds nothing dead and changes nothing.
    response = post(admin, f"/admin/deliveries/dead/{dead_id}/retry")
    assert "is not dead (it is retrying)" in admin.get(response.location).get_data(as_text=True)
    assert audit_actions(app).count("notification.retry") == 1

    smtp.start()
    smtp.mailbox.refuse_temporarily.clear()
    assert deliver(app, Clock(RETRIED_AT)).startswith("sent 1,")
    assert smtp.mailbox.recipients() == ["ok@example.org", "down@example.org"]
    assert notifications(app)[1][1:3] == ("sent", 3)


def test_retry_all_requeues_every_dead_notification_with_one_audit_event(
    app: Flask, published: Registry, smtp: SmtpServer, admin: FlaskClient, clock: None
) -> None:
    for i in range(3):
        add_subscriber(app, f"c{i}@example.org")
    announce_acme(published)
    kill(app, "550 5.1.1 No such user here")
    assert [s for _, s, _, _ in notifications(app)] == ["dead"] * 3

    page = admin.get("/admin/deliveries/dead").get_data(as_text=True)
    assert "Retry all dead (3)" in page
    assert [row["Recipient"] for row in rows(page) if "Recipient" in row] == [
        "c0@example.org",
        "c1@example.org",
        "c2@example.org",
    ]
    response = post(admin, "/admin/deliveries/dead/retry")
    assert response.status_code == 302
    assert "3 dead notifications are queued again" in admin.get(response.location).get_data(as_text=True)
    assert [(s, a) for _, s, a, _ in notifications(app)] == [("retrying", 1)] * 3
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.retry"))
        assert event.summary == "Requeued 3 dead notifications"
        assert event.target_type is None
        assert event.after == {"status": "retrying", "count": 3}

    response = post(admin, "/admin/deliveries/dead/retry")
    assert "There are no dead notifications to retry." in admin.get(response.location).get_data(as_text=True)
    assert audit_actions(app).count("notification.retry") == 1


def test_an_editor_sees_but_cannot_retry(app: Flask, dead_one: int, editor: FlaskClient) -> None:
    dead_id = notifications(app)[1][0]
    assert editor.get("/admin/deliveries/dead").status_code == 200
    assert post(editor, f"/admin/deliveries/dead/{dead_id}/retry").status_code == 403
    assert post(editor, "/admin/deliveries/dead/retry").status_code == 403
    assert notifications(app)[1][1] == "dead"
    assert "notification.retry" not in audit_actions(app)


def test_retry_needs_a_csrf_token(app: Flask, dead_one: int, admin: FlaskClient) -> None:
    dead_id = notifications(app)[1][0]
    assert admin.post(f"/admin/deliveries/dead/{dead_id}/retry").status_code == 400
    assert admin.post("/admin/deliveries/dead/retry", data={"csrf_token": "forged"}).status_code == 400
    assert notifications(app)[1][1] == "dead"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/deliveries"),
        ("GET", "/admin/deliveries/notices/1"),
        ("GET", "/admin/deliveries/dead"),
        ("POST", "/admin/deliveries/dead/1/retry"),
        ("POST", "/admin/deliveries/dead/retry"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 302
    assert response.location.startswith("/sign-in?next=")


def test_unknown_ids_and_bad_pages(published: Registry, editor: FlaskClient, admin: FlaskClient) -> None:
    for notice_id in (999, 2**31, 10**30):
        assert editor.get(f"/admin/deliveries/notices/{notice_id}").status_code == 404
    for notification_id in (999, 2**31):
        assert post(admin, f"/admin/deliveries/dead/{notification_id}/retry").status_code == 404
    for page in ("0", "-1", "x", "1.5", "9" * 40, "١"):
        assert editor.get(f"/admin/deliveries?page={page}").status_code == 400
        assert editor.get(f"/admin/deliveries/dead?page={page}").status_code == 400
    assert editor.get("/admin/deliveries?page=7").status_code == 200
    assert "There are no notices on page 7." in editor.get("/admin/deliveries?page=7").get_data(as_text=True)


def test_an_erased_subscriber_shows_as_erased(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    subscriber_id = add_subscriber(app, "forget-me@example.org")
    notice_id = announce_acme(published)
    kill(app, "550 5.1.1 No such user here")
    with app.app_context():
        db.session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
        db.session.commit()
    for path in (f"/admin/deliveries/notices/{notice_id}", "/admin/deliveries/dead"):
        page = editor.get(path).get_data(as_text=True)
        assert row_starting(page, "Recipient", "erased")["Last error"] == "550 5.1.1 No such user here"
        assert "forget-me@example.org" not in page


def test_names_are_escaped(app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient) -> None:
    add_subscriber(app, "dpo@example.org")
    notice_id = announce_acme(published, name="<script>x</script>")
    kill(app, "550 <script>y</script>")
    for path in ("/admin/deliveries", f"/admin/deliveries/notices/{notice_id}", "/admin/deliveries/dead"):
        page = editor.get(path).get_data(as_text=True)
        assert "&lt;script&gt;x&lt;/script&gt;" in page, path
        assert "<script>" not in page, path
    assert "&lt;script&gt;y&lt;/script&gt;" in editor.get("/admin/deliveries/dead").get_data(as_text=True)


def test_the_failed_rows_of_a_notice_come_a_page_at_a_time(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    total = deliveries.ROWS_PER_PAGE + 5
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        for i in range(total):
            subscriber = Subscriber(
                email=f"s{i:03}@example.org", status=SubscriberStatus.CONFIRMED, confirmed_at=NOW
            )
            subscriber.subscriptions.append(Subscription(list_id=register_list.id))
            db.session.add(subscriber)
        db.session.commit()
    notice_id = announce_acme(published)
    kill(app, "550 gone")

    first = editor.get(f"/admin/deliveries/notices/{notice_id}").get_data(as_text=True)
    listed = [row["Recipient"] for row in rows(first) if "Recipient" in row]
    assert len(listed) == deliveries.ROWS_PER_PAGE
    assert f'Dead and retrying <span class="count">({total})</span>' in first
    assert 'rel="next"' in first
    second = editor.get(f"/admin/deliveries/notices/{notice_id}?page=2").get_data(as_text=True)
    listed += [row["Recipient"] for row in rows(second) if "Recipient" in row]
    assert listed == [f"s{i:03}@example.org" for i in range(total)]
    assert 'rel="next"' not in second
