"""The public objection form: what it shows, what a valid objection leaves behind (the objection,
its receipt in the outbox, an audit event without the address), and every way it refuses."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from registry.audit.models import AuditEvent
from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.lists import services as lists
from registry.lists import workflow
from registry.lists.models import Notice
from registry.notifications.jobs import deliver_outbox
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.objections.models import Objection, ObjectionStatus
from registry.privacy.services import fingerprint
from tests.conftest import NOW, Registry, csrf_token
from tests.objections.conftest import (
    DEADLINE,
    SLUG,
    Announced,
    Clock,
    announce_addition,
    notice_row,
    objection_form,
    send,
)
from tests.subscriptions.conftest import limiter_keys


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def objections(app: Flask) -> list[Objection]:
    with app.app_context():
        found = list(db.session.scalars(select(Objection).order_by(Objection.id)))
        db.session.expunge_all()
        return found


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_form_shows_what_the_notice_changes(client: FlaskClient, announced: Announced) -> None:
    response = client.get(announced.form_url)
    assert response.status_code == 200
    page = text(response)
    assert "Sub-processors" in page
    assert "New sub-processor: Acme Analytics (United States)" in page
    assert "Better product analytics." in page
    assert "24 February 2027, 12:00 UTC" in page  # takes effect
    assert "23 February 2027, 12:00 UTC" in page  # objections until
    for name in ("organisation", "contact_name", "email", "reason", "csrf_token"):
        assert f'name="{name}"' in page
    assert response.headers["Cache-Control"] == "no-store"


def test_a_valid_objection_is_stored_with_its_receipt_and_audit_event(
    client: FlaskClient, app: Flask, announced: Announced
) -> None:
    response = send(
        client, announced, email="Jane.Doe@GLOBEX.example", organisation="  Globex   Corporation "
    )
    assert response.status_code == 303
    [objection] = objections(app)
    assert response.location == f"/notices/{announced.uuid}/object/received"
    assert objection.notice_id == announced.id
    assert objection.organisation == "Globex Corporation"  # spaces tidied
    assert objection.contact_name == "Jane Doe"
    assert objection.email == "jane.doe@globex.example"  # lower case, as subscribers' addresses
    assert objection.reason.startswith("Our contract forbids")
    assert objection.status is ObjectionStatus.OPEN and objection.created_at == NOW

    thanks = client.get(response.location)
    assert thanks.status_code == 200
    assert objection.reference in text(thanks)
    assert "acknowledgement email is on its way to jane.doe@globex.example" in text(thanks)

    with app.app_context():
        receipt = db.session.scalars(
            select(Notification).where(
                Notification.kind == NotificationKind.OBJECTION_RECEIPT,
                Notification.objection_id == objection.id,
            )
        ).one()
        assert receipt.status is NotificationStatus.QUEUED and receipt.next_attempt_at == NOW
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "objection.receive")).one()
        assert (event.target_type, event.target_id) == ("objection", str(objection.id))
        assert event.list_id == announced.list_id
        assert event.summary == "Globex Corporation"
        # Not even the objector's IP address: the trail holds nothing of the person.
        assert event.actor == "anonymous" and event.ip is None
        # The trail is append-only: nothing in it may identify the person who objected.
        everything = json.dumps(
            [getattr(event, c.key) for c in AuditEvent.__table__.columns], default=str
        ).lower()
        assert "jane" not in everything and "globex.example" not in everything


def test_the_thank_you_page_is_only_for_the_browser_that_objected(
    client: FlaskClient, app: Flask, announced: Announced
) -> None:
    send(client, announced)
    other = app.test_client()
    assert other.get(f"/notices/{announced.uuid}/object/received").status_code == 404


def test_the_form_is_open_until_the_deadline_inclusive(
    client: FlaskClient, app: Flask, announced: Announced, clock: Clock
) -> None:
    clock.now = DEADLINE
    assert client.get(announced.form_url).status_code == 200
    assert send(client, announced).status_code == 303
    token = csrf_token(client, announced.form_url)

    clock.now = DEADLINE + timedelta(seconds=1)
    response = client.get(announced.form_url)
    assert response.status_code == 410
    assert "the last day to object was 23 February 2027, 12:00 UTC" in text(response)
    late = client.post(announced.form_url, data={"csrf_token": token, **objection_form()})
    assert late.status_code == 410
    assert len(objections(app)) == 1


def test_a_notice_in_effect_takes_no_objections(
    client: FlaskClient, app: Flask, announced: Announced, registry: Registry, clock: Clock
) -> None:
    effective = notice_row(app, announced.id).effective_at
    assert registry.apply_due(effective) == 1
    clock.now = NOW  # even if a clock were wrong: the changes are applied, there is nothing left
    assert client.get(announced.form_url).status_code == 410


def test_a_withdrawn_notice_takes_no_objections(
    client: FlaskClient, app: Flask, announced: Announced
) -> None:
    token = csrf_token(client, announced.form_url)
    with app.app_context():
        notice = db.session.get(Notice, announced.id)
        assert notice is not None
        withdrawal = workflow.withdraw(db.session, notice, reason="We chose another vendor.", now=NOW)
        db.session.commit()
        withdrawal_uuid = withdrawal.uuid
    response = client.get(announced.form_url)
    assert response.status_code == 410
    assert "withdrawn" in text(response)
    assert client.post(announced.form_url, data={"csrf_token": token, **objection_form()}).status_code == 410
    # The withdrawal is itself a notice, but nobody objects to a withdrawal.
    assert client.get(f"/notices/{withdrawal_uuid}/object").status_code == 404
    assert objections(app) == []


def test_a_notice_awaiting_approval_is_not_found(
    client: FlaskClient, app: Flask, announced: Announced, registry: Registry
) -> None:
    with app.app_context():
        register_list = lists.get_list(db.session, SLUG)
        assert register_list is not None
        lists.update_settings(db.session, register_list, {"requires_approval": True}, actor=SYSTEM, now=NOW)
        db.session.commit()
    pending = announce_addition(registry, "Initech")
    assert notice_row(app, pending.id).status == "pending_approval"
    assert client.get(pending.form_url).status_code == 404


@pytest.mark.parametrize(
    "reference",
    [
        "00000000-0000-4000-8000-000000000000",  # well-formed, unknown
        "not-a-uuid",
        "1",
        "00000000-0000-4000-8000-0000000000001",
        "00000000000040008000000000000000",
        "{00000000-0000-4000-8000-000000000000}",
        "x" * 500,
        "%E2%80%A8",
    ],
)
def test_unknown_and_malformed_references_are_not_found(
    client: FlaskClient, announced: Announced, reference: str
) -> None:
    assert client.get(f"/notices/{reference}/object").status_code == 404
    token = csrf_token(client, announced.form_url)
    posted = client.post(f"/notices/{reference}/object", data={"csrf_token": token, **objection_form()})
    assert posted.status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "jane@globex.example\r\nBcc: everyone@evil.example", "cannot contain line breaks"),
        ("email", "jane@globex.example\nBcc: everyone@evil.example", "cannot contain line breaks"),
        ("email", "not an address", "email address"),
        ("email", "", "Enter the address"),
        ("contact_name", "Jane\r\nBcc: everyone@evil.example", "one line"),
        ("organisation", "   ", "Enter your organisation."),
        ("reason", "", "Enter the reason for your objection."),
        ("reason", " \n\t ", "Enter the reason for your objection."),
        ("reason", "x" * 5001, "at most 5000 characters"),
        ("organisation", "G" * 201, "at most 200 characters"),
        ("contact_name", "J" * 201, "at most 200 characters"),
        ("email", "j" * 310 + "@globex.example", "at most 254 characters"),
        ("reason", "Bell\x07 character", "control characters"),
    ],
)
def test_bad_input_shows_the_form_again_with_a_message(
    client: FlaskClient, app: Flask, announced: Announced, field: str, value: str, message: str
) -> None:
    response = send(client, announced, **{field: value})
    assert response.status_code == 422
    page = text(response)
    assert message.lower() in page.lower()
    assert 'aria-invalid="true"' in page
    # Each message beside a field is a sentence a person can act on.
    shown = re.findall(r'<p class="field-error" id="[^"]+-error">(.*?)</p>', response.get_data(as_text=True))
    assert shown and all(m[0].isupper() and m.endswith(".") for m in shown), shown
    if field != "organisation":
        assert 'value="Globex Corporation"' in page  # what was typed is kept
    assert count(app, Objection) == 0
    assert count(app, Notification) == 0


@pytest.mark.parametrize("field", ["organisation", "contact_name", "email", "reason"])
def test_nul_is_refused(client: FlaskClient, app: Flask, announced: Announced, field: str) -> None:
    assert send(client, announced, **{field: "Globex\x00"}).status_code == 400
    assert count(app, Objection) == 0


def test_huge_fields_are_refused(client: FlaskClient, app: Flask, announced: Announced) -> None:
    for field in ("organisation", "contact_name", "email", "reason"):
        response = send(client, announced, **{field: "x" * 1_000_000})
        assert response.status_code == 422, field
        assert "at most" in text(response)
    assert count(app, Objection) == 0


def test_the_form_needs_its_csrf_token(client: FlaskClient, app: Flask, announced: Announced) -> None:
    assert client.post(announced.form_url, data=objection_form()).status_code == 400
    assert (
        client.post(announced.form_url, data={"csrf_token": "forged", **objection_form()}).status_code == 400
    )
    assert count(app, Objection) == 0


def test_objections_are_rate_limited_per_ip(app_factory: Callable[..., Flask], announced: Announced) -> None:
    client = app_factory(OBJECTION_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [send(client, announced, reason=f"Objection {i}.").status_code for i in range(2)]
    assert statuses == [303, 303]
    response = send(client, announced)
    assert response.status_code == 429
    assert "Too many objections" in text(response)
    # Reading the form is not limited; another address is not blocked by this one.
    assert client.get(announced.form_url).status_code == 200
    token = csrf_token(client, announced.form_url)
    other = client.post(
        announced.form_url,
        data={"csrf_token": token, **objection_form()},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert other.status_code == 303


def test_the_receipt_quotes_nothing_the_sender_typed(
    client: FlaskClient, app: Flask, announced: Announced, tmp_path: Path
) -> None:
    # The address is not verified: whatever the form takes would otherwise go out in our name.
    typed = {
        "organisation": "Your bank security team",
        "contact_name": "Dear customer, your account is locked",
        "reason": "Verify your password at https://phish.example/login within 24 hours.",
    }
    assert send(client, announced, email="victim@example.org", **typed).status_code == 303
    [objection] = objections(app)
    with app.app_context():
        assert "sent 1" in str(deliver_outbox(clock=lambda: NOW))
    [eml] = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "victim@example.org"
    assert message["Subject"] == f"We received your objection (reference {objection.reference})"
    for kind in ("plain", "html"):
        part = message.get_body((kind,))
        assert part is not None
        body = html.unescape(part.get_content())
        # The reference, what the notice changes (our own words) and the date received.
        assert objection.reference in body
        assert "New sub-processor: Acme Analytics (United States)" in body
        assert "10 January 2027, 12:00 UTC" in body
        for value in (*typed.values(), "phish.example", "Dear"):
            assert value not in body


def test_objections_are_rate_limited_per_address(
    app_factory: Callable[..., Flask], announced: Announced
) -> None:
    client = app_factory(OBJECTION_LIMIT_PER_ADDRESS="2 per hour").test_client()

    def from_ip(ip: str, address: str) -> int:
        token = csrf_token(client, announced.form_url)
        data = {"csrf_token": token, **objection_form(email=address)}
        return client.post(announced.form_url, data=data, environ_base={"REMOTE_ADDR": ip}).status_code

    # The same inbox, typed in other letters, from other networks: its receipts are limited.
    assert from_ip("198.51.100.1", "jane.doe@globex.example") == 303
    assert from_ip("198.51.100.2", "Jane.Doe@GLOBEX.example") == 303
    assert from_ip("198.51.100.3", "JANE.DOE@globex.example") == 429
    assert from_ip("198.51.100.3", "bob@globex.example") == 303
    assert len(objections(client.application)) == 3
    # The limiter's storage (which an erasure does not reach) holds no address, only its hash.
    keys = limiter_keys()
    with client.application.app_context():
        assert any(fingerprint("jane.doe@globex.example") in key for key in keys)
    assert not any("globex" in key.lower() for key in keys)
