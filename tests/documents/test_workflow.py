"""The revision workflow: drafts, announcements with a notice period, approval by a second
editor, rejection, withdrawal, corrections, application at the effective date, the audit trail,
and revisions that never change once public."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from registry.audit.models import AuditEvent
from registry.audit.services import Actor
from registry.documents import jobs, services, workflow
from registry.documents.models import Document, DocumentRevision, ImmutableRevisionError, RevisionStatus
from registry.extensions import db
from registry.validation import ValidationError
from tests.conftest import NOW, Users
from tests.documents.conftest import EFFECTIVE, FIRST, SECOND, SLUG, Documents


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _document(session: Session, slug: str = SLUG) -> Document:
    document = services.get_document(session, slug)
    assert document is not None
    return document


def _editors(users: Users) -> tuple[Actor, Actor]:
    alice = users.create("alice@example.com", "editor")
    bob = users.create("bob@example.com", "editor")
    return Actor(alice, "alice@example.com"), Actor(bob, "bob@example.com")


# --- publishing and immutability --------------------------------------------------------------


def test_a_correction_is_revision_one_in_force_at_once(published: Documents, session: Session) -> None:
    document = _document(session)
    current = services.current_revision(session, document)
    assert current is not None and current.number == 1 and current.status is RevisionStatus.PUBLISHED
    assert current.body == FIRST and "<h1>Privacy policy</h1>" in current.rendered
    assert current.published_at == current.effective_at == NOW
    assert _actions(session) == ["document.create", "document.revision.draft", "document.revision.correction"]


def test_a_public_revision_cannot_be_rewritten_or_deleted(two_revisions: Documents, session: Session) -> None:
    first = services.revision_by_number(session, _document(session), 1)
    assert first is not None
    first.body = "Something else.\n"
    with pytest.raises(ImmutableRevisionError):
        session.flush()
    session.rollback()
    first = services.revision_by_number(session, _document(session), 1)
    assert first is not None
    session.delete(first)
    with pytest.raises(ImmutableRevisionError):
        session.flush()
    session.rollback()
    first = services.revision_by_number(session, _document(session), 1)
    assert first is not None and first.body == FIRST


def test_edit_draft_only_while_a_draft_and_with_the_version_seen(published: Documents, app: Flask) -> None:
    revision_id = published.draft()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(workflow.ConflictError):
            workflow.edit_draft(db.session, revision, body="x", expected_row_version=99, now=NOW)
        workflow.edit_draft(
            db.session,
            revision,
            body="New text\r\n",
            summary="S",
            expected_row_version=revision.row_version,
            now=NOW,
        )
        assert revision.body == "New text\n" and revision.rendered == "<p>New text</p>\n"
        workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW)
        with pytest.raises(workflow.ConflictError):
            workflow.edit_draft(db.session, revision, body="again", now=NOW)


def test_one_open_draft_per_document(published: Documents, app: Flask) -> None:
    published.draft()
    with app.app_context(), pytest.raises(workflow.ConflictError):
        workflow.draft_revision(db.session, _document(db.session), body="Other", summary="x", now=NOW)


@pytest.mark.parametrize(
    ("body", "field"),
    [("", "body"), ("   \n", "body"), ("bad \x07 bell", "body"), ("x" * 200_001, "body")],
)
def test_bad_text_is_refused(published: Documents, session: Session, body: str, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        workflow.draft_revision(session, _document(session), body=body, now=NOW)
    assert field in error.value.errors


# --- announcing and applying ------------------------------------------------------------------


def test_an_announced_revision_is_applied_on_its_date_exactly_once(published: Documents, app: Flask) -> None:
    revision_id = published.announce()
    revision = published.get(revision_id)
    assert revision.status is RevisionStatus.ANNOUNCED and revision.number == 2
    with app.app_context():
        assert jobs.apply_due_revisions(lambda: EFFECTIVE - timedelta(seconds=1)) == 0
        assert services.current_revision(db.session, _document(db.session)).number == 1  # type: ignore[union-attr]
        assert jobs.apply_due_revisions(lambda: EFFECTIVE) == 1
        assert jobs.apply_due_revisions(lambda: EFFECTIVE) == 0
        assert jobs.apply_due_revisions(lambda: EFFECTIVE + timedelta(days=1)) == 0
        # Even called directly on the applied revision, nothing happens twice.
        assert workflow.apply_revision(db.session, revision_id, EFFECTIVE) is None
        db.session.rollback()
        document = _document(db.session)
        current = services.current_revision(db.session, document)
        assert current is not None and current.id == revision_id and current.published_at == EFFECTIVE
        assert current.body == SECOND
        applied = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "document.revision.apply")
        ).all()
        assert len(applied) == 1 and applied[0].target_id == str(revision_id)


def test_two_workers_apply_a_revision_once(published: Documents, app: Flask, app_factory: Any) -> None:
    """A second worker that saw the revision as announced loses the compare-and-set."""
    revision_id = published.announce()
    other = app_factory()
    with other.app_context():
        stale = db.session.get(DocumentRevision, revision_id)
        assert stale is not None and stale.status is RevisionStatus.ANNOUNCED
        with app.app_context():
            assert workflow.apply_revision(db.session, revision_id, EFFECTIVE) is not None
            db.session.commit()
        try:
            assert workflow.apply_revision(db.session, revision_id, EFFECTIVE) is None
            db.session.commit()
        except OperationalError:  # SQLite: a write from a stale snapshot is refused outright
            db.session.rollback()
        assert _document(db.session).current_number == 2
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.revision.apply"))
        assert len(events.all()) == 1


def test_the_notice_period_needs_a_justification_to_be_shortened(published: Documents, app: Flask) -> None:
    revision_id = published.draft()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(ValidationError) as error:
            workflow.announce(db.session, revision, effective_at=NOW + timedelta(days=5), now=NOW)
        assert "notice period is 30 days" in error.value.errors["effective_at"]
        with pytest.raises(ValidationError):
            workflow.announce(db.session, revision, effective_at=NOW - timedelta(days=1), now=NOW)
        workflow.announce(
            db.session,
            revision,
            effective_at=NOW + timedelta(days=5),
            now=NOW,
            short_notice_reason="A court ruling requires it.",
        )
        assert revision.status is RevisionStatus.ANNOUNCED
        assert revision.short_notice_reason == "A court ruling requires it."


def test_a_summary_is_needed_to_announce(published: Documents, app: Flask) -> None:
    with app.app_context():
        revision = workflow.draft_revision(db.session, _document(db.session), body=SECOND, now=NOW)
        with pytest.raises(ValidationError) as error:
            workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW)
        assert "summary" in error.value.errors


def test_one_announced_revision_at_a_time_and_against_the_text_in_force(
    published: Documents, app: Flask
) -> None:
    published.announce()
    revision_id = published.draft("# Privacy policy\n\nThird.\n")
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(workflow.ConflictError, match="already announced"):
            workflow.announce(db.session, revision, effective_at=EFFECTIVE + timedelta(days=5), now=NOW)
        with pytest.raises(workflow.ConflictError, match="already announced"):
            workflow.correct(db.session, revision, now=NOW)
        db.session.rollback()
        assert jobs.apply_due_revisions(lambda: EFFECTIVE) == 1
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        # Written against revision 1, but revision 2 is in force now: it would undo it.
        with pytest.raises(workflow.ConflictError, match="written against revision 1"):
            workflow.correct(db.session, revision, now=EFFECTIVE)


def test_withdraw_before_the_effective_date(published: Documents, app: Flask) -> None:
    revision_id = published.announce()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(ValidationError):
            workflow.withdraw(db.session, revision, reason="  ", now=NOW)
        workflow.withdraw(db.session, revision, reason="We found a mistake.", now=NOW + timedelta(days=1))
        db.session.commit()
        assert revision.status is RevisionStatus.WITHDRAWN and revision.number == 2
        assert revision.withdrawal_reason == "We found a mistake."
        assert jobs.apply_due_revisions(lambda: EFFECTIVE) == 0
        assert _document(db.session).current_number == 1
        with pytest.raises(workflow.ConflictError):
            workflow.withdraw(db.session, revision, reason="Again.", now=NOW)
        assert "document.revision.withdraw" in _actions(db.session)
        # The next revision is free to be announced, and gets the next number.
        assert published.get(published.announce("# Privacy policy\n\nFixed.\n")).number == 3


def test_an_applied_revision_cannot_be_withdrawn(published: Documents, app: Flask) -> None:
    revision_id = published.announce()
    with app.app_context():
        jobs.apply_due_revisions(lambda: EFFECTIVE)
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(workflow.ConflictError):
            workflow.withdraw(db.session, revision, reason="Too late.", now=EFFECTIVE)


# --- approval ---------------------------------------------------------------------------------


def test_approval_required_the_author_cannot_approve_another_editor_can(
    documents: Documents, users: Users, app: Flask
) -> None:
    alice, bob = _editors(users)
    documents.create(requires_approval=True)
    documents.publish()
    revision_id = documents.announce(actor=alice)
    revision = documents.get(revision_id)
    assert revision.status is RevisionStatus.PENDING_APPROVAL and revision.number is None
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        # Nothing is public yet.
        assert services.upcoming_revision(db.session, revision.document) is None
        with pytest.raises(ValidationError, match="another person must approve"):
            workflow.approve(db.session, revision, actor=alice, now=NOW)
        workflow.approve(db.session, revision, actor=bob, now=NOW + timedelta(hours=1))
        db.session.commit()
        assert revision.status is RevisionStatus.ANNOUNCED and revision.number == 2
        assert revision.approver_id == bob.user_id and revision.author_id == alice.user_id
        assert _actions(db.session)[-3:] == [
            "document.revision.request_approval",
            "document.revision.approve",
            "document.revision.announce",
        ]


def test_the_one_who_asked_for_approval_cannot_approve_either(
    documents: Documents, users: Users, app: Flask
) -> None:
    alice, bob = _editors(users)
    documents.create(requires_approval=True)
    revision_id = documents.draft(actor=alice)
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW, actor=bob)
        with pytest.raises(ValidationError):
            workflow.approve(db.session, revision, actor=bob, now=NOW)
        with pytest.raises(ValidationError):
            workflow.approve(db.session, revision, actor=alice, now=NOW)


def test_reject_makes_it_a_draft_again(documents: Documents, users: Users, app: Flask) -> None:
    alice, bob = _editors(users)
    documents.create(requires_approval=True)
    documents.publish()
    revision_id = documents.announce(actor=alice)
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        with pytest.raises(ValidationError):
            workflow.reject(db.session, revision, reason="", actor=bob, now=NOW)
        workflow.reject(db.session, revision, reason="Say why in the summary.", actor=bob, now=NOW)
        db.session.commit()
        assert revision.status is RevisionStatus.DRAFT and revision.effective_at is None
        assert "document.revision.reject" in _actions(db.session)
        with pytest.raises(workflow.ConflictError):
            workflow.approve(db.session, revision, actor=bob, now=NOW)


def test_the_open_draft_index_holds_against_a_race(published: Documents, session: Session) -> None:
    """Two drafts inserted behind the workflow's back: the database refuses the second."""
    from sqlalchemy.exc import IntegrityError

    document = _document(session)
    for _ in range(2):
        session.add(
            DocumentRevision(
                document=document, status=RevisionStatus.DRAFT, body="x", rendered="x", based_on=1
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert session.execute(text("SELECT count(*) FROM document_revisions")).scalar() == 1
