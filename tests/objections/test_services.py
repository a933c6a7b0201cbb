"""The objection services without HTTP: the window, the checks on what an objector types, and the
counts. The address rule and the CSV cells are registry.validation's and registry.csvsafe's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEvent
from registry.audit.services import SYSTEM
from registry.lists import services as lists
from registry.lists import workflow
from registry.lists.models import Notice
from registry.objections import services
from registry.objections.services import Counts, ObjectionsClosed, Window
from registry.validation import ValidationError
from tests.conftest import NOW, entry
from tests.objections.conftest import DEADLINE, EFFECTIVE, OBJECTOR, objection_form


@pytest.fixture
def notice(session: Session) -> Notice:
    register_list = lists.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    change = workflow.draft_change(session, register_list, "add", fields=entry("Acme"), now=NOW)
    notice = workflow.announce(
        session, register_list, [change], reason="Analytics.", effective_at=EFFECTIVE, now=NOW
    )
    session.commit()
    return notice


def test_the_window_is_open_until_the_deadline(session: Session, notice: Notice) -> None:
    assert notice.objection_deadline == DEADLINE
    assert services.window(notice, NOW) is Window.OPEN
    assert services.window(notice, DEADLINE) is Window.OPEN
    assert services.window(notice, DEADLINE + timedelta(microseconds=1)) is Window.CLOSED
    withdrawal = workflow.withdraw(session, notice, reason="Changed our mind.", now=NOW)
    assert services.window(notice, NOW) is Window.WITHDRAWN
    assert services.window(withdrawal, NOW) is Window.NOT_PUBLIC


def test_a_closed_window_refuses_in_the_service_too(session: Session, notice: Notice) -> None:
    with pytest.raises(ObjectionsClosed) as refused:
        services.receive(
            session, notice, actor=OBJECTOR, now=DEADLINE + timedelta(hours=1), **objection_form()
        )
    assert refused.value.window is Window.CLOSED


def test_find_notice_takes_only_a_well_formed_reference(session: Session, notice: Notice) -> None:
    assert services.find_notice(session, notice.uuid) is notice
    assert services.find_notice(session, notice.uuid.upper()) is notice
    for reference in ("", "1", notice.uuid + "0", notice.uuid.replace("-", ""), f"urn:uuid:{notice.uuid}"):
        assert services.find_notice(session, reference) is None


def test_every_problem_is_reported_at_once(session: Session, notice: Notice) -> None:
    with pytest.raises(ValidationError) as invalid:
        services.receive(
            session,
            notice,
            organisation="",
            contact_name="",
            email="nope",
            reason="",
            actor=OBJECTOR,
            now=NOW,
        )
    assert set(invalid.value.errors) == {"organisation", "contact_name", "email", "reason"}


@pytest.mark.parametrize("email", ["jürgen@bücher.example", "Jörg@example.com", "用户@例子.广告"])
def test_an_address_our_sender_cannot_reach_is_refused_at_input(
    session: Session, notice: Notice, email: str
) -> None:
    # Our mail server takes no SMTPUTF8: the receipt could never go to such an address.
    with pytest.raises(ValidationError) as invalid:
        services.receive(session, notice, actor=OBJECTOR, now=NOW, **objection_form(email=email))
    assert "before the @" in invalid.value.errors["email"]


def test_the_trail_keeps_no_note_and_no_ip_address(session: Session, notice: Notice) -> None:
    # The trail cannot forget; erasure and retention clean the note only in the objection.
    objection = services.receive(session, notice, actor=OBJECTOR, now=NOW, **objection_form())
    note = "Called Jane Doe on +44 20 7946 0958; she accepts the SCCs."
    services.handle(session, objection, note=note, actor=SYSTEM, now=NOW)
    session.commit()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [event.action for event in events][-2:] == ["objection.receive", "objection.handle"]
    assert events[-1].after == {"status": "handled", "note_length": len(note)}
    assert OBJECTOR.ip is not None and all(event.ip is None for event in events[-2:])
    cells = json.dumps(
        [[getattr(event, c.key) for c in AuditEvent.__table__.columns] for event in events], default=str
    )
    assert "7946" not in cells and "Jane" not in cells and OBJECTOR.ip not in cells


def test_counts_per_notice(session: Session, notice: Notice) -> None:
    first = services.receive(session, notice, actor=OBJECTOR, now=NOW, **objection_form())
    services.receive(session, notice, actor=OBJECTOR, now=NOW, **objection_form(organisation="Initech"))
    services.handle(session, first, note="Answered.", actor=SYSTEM, now=NOW)
    session.commit()
    assert services.counts(session) == {notice.id: Counts(open=1, handled=1)}
    assert services.counts(session, [notice.id + 1]) == {}
    assert services.counts(session, [notice.id])[notice.id].total == 2
