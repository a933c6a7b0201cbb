"""Four eyes, conflicts between editors, and the audit trail of the change workflow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from registry.accounts import services as accounts
from registry.accounts.models import User
from registry.audit.models import AppendOnlyError, AuditEvent
from registry.audit.services import SYSTEM, Actor
from registry.lists import services, workflow
from registry.lists.models import Change, ChangeStatus, NoticeStatus, RegisterList
from registry.validation import ValidationError
from tests.conftest import NOW, PASSWORD, entry

LATER = NOW + timedelta(days=45)


@pytest.fixture
def people(session: Session) -> tuple[Actor, Actor]:
    made = [
        accounts.create_user(session, f"{name}@example.com", PASSWORD, "editor", actor=SYSTEM, now=NOW)
        for name in ("alice", "bob")
    ]
    session.commit()
    return Actor(made[0].id, made[0].email, "10.0.0.1"), Actor(made[1].id, made[1].email, "10.0.0.2")


@pytest.fixture
def register_list(session: Session) -> RegisterList:
    register_list = services.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    change = workflow.draft_change(session, register_list, "add", fields=entry("Microsoft Azure"), now=NOW)
    workflow.publish_first_version(session, register_list, [change], reason="First.", now=NOW)
    session.commit()
    return register_list


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_four_eyes(session: Session, register_list: RegisterList, people: tuple[Actor, Actor]) -> None:
    alice, bob = people
    services.update_settings(session, register_list, {"requires_approval": True}, actor=alice, now=NOW)
    revision = register_list.revision
    change = workflow.draft_change(
        session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=alice
    )
    notice = workflow.announce(
        session, register_list, [change], reason="Payments.", effective_at=LATER, now=NOW, actor=alice
    )
    session.commit()

    # Waiting for approval: nothing is public, nothing changed for readers.
    assert notice.status is NoticeStatus.PENDING_APPROVAL and notice.announced_at is None
    assert change.status is ChangeStatus.PENDING_APPROVAL
    assert services.upcoming_changes(session, register_list) == []
    assert register_list.revision == revision
    assert services.pending_notices(session, register_list) == [notice]

    with pytest.raises(ValidationError, match="another person must approve"):
        workflow.approve(session, notice, actor=alice, now=NOW)
    with pytest.raises(ValidationError, match="signed-in person"):
        workflow.approve(session, notice, actor=SYSTEM, now=NOW)

    approved_at = NOW + timedelta(days=1)
    workflow.approve(session, notice, actor=bob, now=approved_at)
    session.commit()
    assert notice.status is NoticeStatus.PUBLISHED and notice.announced_at == approved_at
    assert notice.author_id == alice.user_id and notice.approver_id == bob.user_id
    assert services.upcoming_changes(session, register_list) == [change]
    assert register_list.revision > revision


def test_approval_rechecks_the_notice_period(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, bob = people
    services.update_settings(session, register_list, {"requires_approval": True}, actor=alice, now=NOW)
    change = workflow.draft_change(
        session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=alice
    )
    notice = workflow.announce(
        session,
        register_list,
        [change],
        reason="x",
        effective_at=NOW + timedelta(days=30),
        now=NOW,
        actor=alice,
    )
    # Approved a week later, the same date would leave only 23 days' notice.
    with pytest.raises(ValidationError, match="notice period"):
        workflow.approve(session, notice, actor=bob, now=NOW + timedelta(days=7))


def test_rejection_returns_the_drafts(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, bob = people
    services.update_settings(session, register_list, {"requires_approval": True}, actor=alice, now=NOW)
    change = workflow.draft_change(
        session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=alice
    )
    notice = workflow.announce(
        session, register_list, [change], reason="x", effective_at=LATER, now=NOW, actor=alice
    )
    workflow.reject(session, notice, reason="Wrong date.", actor=bob, now=NOW)
    session.commit()
    assert notice.status is NoticeStatus.REJECTED
    assert change.status is ChangeStatus.DRAFT and change.notice_id is None
    with pytest.raises(workflow.ConflictError):
        workflow.approve(session, notice, actor=bob, now=NOW)


def test_a_second_draft_of_the_same_entry_is_a_conflict(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, bob = people
    current = services.latest_version(session, register_list).snapshot[0]  # type: ignore[union-attr]
    first = workflow.draft_change(
        session,
        register_list,
        "update",
        processor="microsoft-azure",
        fields={**current, "purpose": "A."},
        now=NOW,
        actor=alice,
    )
    with pytest.raises(workflow.ConflictError, match=r"alice@example\.com") as caught:
        workflow.draft_change(
            session,
            register_list,
            "update",
            processor="microsoft-azure",
            fields={**current, "purpose": "B."},
            now=NOW,
            actor=bob,
        )
    assert caught.value.current is first


def test_the_database_allows_one_open_draft_per_entry(session: Session, register_list: RegisterList) -> None:
    azure = services.entry_by_slug(session, register_list, "microsoft-azure")
    assert azure is not None
    for _ in range(2):
        session.add(
            Change(
                list_id=register_list.id, action="retire", status=ChangeStatus.DRAFT, processor=azure, base={}
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_drafting_against_a_changed_entry_is_a_conflict(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, _ = people
    azure = services.entry_by_slug(session, register_list, "microsoft-azure")
    seen = azure.row_version  # type: ignore[union-attr]
    fix = workflow.draft_change(session, register_list, "retire", processor="microsoft-azure", now=NOW)
    workflow.publish_version(session, register_list, [fix], reason="x", now=NOW)
    back = workflow.draft_change(
        session, register_list, "add", fields=entry("Microsoft Azure", purpose="New."), now=NOW
    )
    workflow.publish_version(session, register_list, [back], reason="y", now=NOW)
    with pytest.raises(workflow.ConflictError, match="changed since") as caught:
        workflow.draft_change(
            session,
            register_list,
            "retire",
            processor="microsoft-azure",
            now=NOW,
            actor=alice,
            base_row_version=seen,
        )
    assert caught.value.current["purpose"] == "New."


def test_editing_a_draft_someone_saved_since_is_a_conflict(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, bob = people
    draft = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=alice)
    session.commit()
    opened = draft.row_version
    workflow.edit_draft(
        session, draft, entry("Stripe", purpose="Payments."), expected_row_version=opened, actor=bob, now=NOW
    )
    session.commit()
    with pytest.raises(workflow.ConflictError) as caught:
        workflow.edit_draft(
            session,
            draft,
            entry("Stripe", purpose="Cards."),
            expected_row_version=opened,
            actor=alice,
            now=NOW,
        )
    assert caught.value.current["purpose"] == "Payments."


def test_discarded_drafts_cannot_be_announced(session: Session, register_list: RegisterList) -> None:
    draft = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    workflow.discard_draft(session, draft, actor=SYSTEM, now=NOW)
    with pytest.raises(workflow.ConflictError, match="is discarded, not draft"):
        workflow.announce(session, register_list, [draft], reason="x", effective_at=LATER, now=NOW)


def test_the_workflow_is_audited(
    session: Session, register_list: RegisterList, people: tuple[Actor, Actor]
) -> None:
    alice, bob = people
    change = workflow.draft_change(
        session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=alice
    )
    notice = workflow.announce(
        session, register_list, [change], reason="Soon.", effective_at=NOW + timedelta(days=3), now=NOW,
        actor=alice, short_notice_reason="Provider outage.",
    )  # fmt: skip
    workflow.withdraw(session, notice, reason="Not needed.", now=NOW, actor=bob)
    session.commit()
    actions = _actions(session)
    assert actions[-4:] == ["change.draft", "notice.announce", "notice.short_notice", "notice.withdraw"]
    withdrawal = session.scalars(select(AuditEvent).where(AuditEvent.action == "notice.withdraw")).one()
    assert withdrawal.actor == "bob@example.com" and withdrawal.ip == "10.0.0.2"
    assert withdrawal.before["changes"][0]["processor"] == "Stripe"  # type: ignore[index]
    assert "user.create" in actions and "list.create" in actions and "version.first" in actions


def test_applying_is_audited_as_the_system(session: Session, register_list: RegisterList) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    notice = workflow.announce(session, register_list, [change], reason="x", effective_at=LATER, now=NOW)
    workflow.apply_notice(session, notice.id, LATER)
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "version.apply")).one()
    assert event.actor == "system" and event.actor_id is None


def test_audit_events_cannot_be_changed_or_deleted(session: Session, register_list: RegisterList) -> None:
    event = session.scalars(select(AuditEvent)).first()
    assert event is not None
    event.summary = "rewritten"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    session.delete(session.scalars(select(AuditEvent)).first())
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    # Below the ORM, the database itself refuses (a trigger made by the migration).
    for statement in ("UPDATE audit_events SET summary = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert session.scalar(select(AuditEvent.summary).where(AuditEvent.id == event.id)) != "x"


def test_users_are_created_with_a_hashed_password(session: Session) -> None:
    user = accounts.create_user(session, "New@Example.COM", PASSWORD, "admin", actor=SYSTEM, now=NOW)
    assert user.email == "new@example.com"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    with pytest.raises(ValidationError) as caught:
        accounts.create_user(session, "new@example.com", "short", "boss", actor=SYSTEM, now=NOW)
    assert set(caught.value.errors) == {"email", "password", "role"}
    assert session.scalar(select(User).where(User.email == "new@example.com")) is user
