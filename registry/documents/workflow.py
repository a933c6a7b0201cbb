"""The revision workflow: draft, announce (with approval where the document asks for it),
reject, withdraw, publish at once (a correction), and apply at the effective date.

The same rules as a list's changes: readers are told of a new text before it takes effect, with
the document's notice period unless a short-notice justification is published with it. Functions
take the session, the acting ``Actor`` and the moment; they record an audit event for what they do
and never commit: the caller owns the transaction.

One draft (or one awaiting approval) and one announced revision per document at a time, each
written against the revision in force (``based_on``): a draft can be announced or published only
while that revision is still in force and nothing else is announced, so no announced text can
silently undo another.

Subscribers of a document hear of every revision that becomes public, in the same transaction
(``outbox.fan_out_revision``): when it is announced (or approved), when it is published at once
as a correction (the text in force changed without notice: exactly what they asked to hear of),
and when an announced one is withdrawn. Nothing more is sent when it takes effect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor, record
from registry.documents.models import Document, DocumentRevision, RevisionStatus
from registry.documents.rendering import render_markdown
from registry.notifications import outbox
from registry.notifications.models import NotificationKind
from registry.validation import ValidationError, publishable

MAX_BODY = 200_000
MAX_SUMMARY = 2000


class ConflictError(ValueError):
    """Someone else changed the same thing first."""


# --- text -------------------------------------------------------------------------------------


def clean_body(body: str | None) -> str:
    """The Markdown source as kept: LF line ends, no trailing spaces at the end, one final newline."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationError({"body": "write the text of the document"})
    if len(text) > MAX_BODY:
        raise ValidationError({"body": f"must be at most {MAX_BODY} characters"})
    if not publishable(text):
        raise ValidationError({"body": "must not contain control characters or other invalid characters"})
    return text + "\n"


def _text(value: str | None, field: str, what: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if not publishable(value):
        raise ValidationError({field: "must not contain control characters or other invalid characters"})
    if required and not value:
        raise ValidationError({field: what})
    if len(value) > MAX_SUMMARY:
        raise ValidationError({field: f"must be at most {MAX_SUMMARY} characters"})
    return value


def _audit(
    session: Session,
    action: str,
    revision: DocumentRevision,
    actor: Actor,
    now: datetime,
    summary: str = "",
    **details: Any,
) -> None:
    record(
        session,
        f"document.revision.{action}",
        actor,
        now=now,
        target=("document_revision", revision.id),
        summary=summary or f"{revision.document.slug}: {revision.summary}",
        **details,
    )


def _details(revision: DocumentRevision) -> dict[str, Any]:
    return {
        "document": revision.document.slug,
        "number": revision.number,
        "based_on": revision.based_on,
        "summary": revision.summary,
        "effective_at": revision.effective_at.isoformat() if revision.effective_at else None,
        "short_notice_reason": revision.short_notice_reason,
    }


# --- drafting ---------------------------------------------------------------------------------


def draft_revision(
    session: Session,
    document: Document,
    *,
    body: str,
    summary: str = "",
    now: datetime,
    actor: Actor = SYSTEM,
) -> DocumentRevision:
    """Start the document's next revision as a private draft, written against the one in force."""
    body = clean_body(body)
    summary = _text(summary, "summary", "", required=False)
    existing = session.scalar(
        select(DocumentRevision).where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.status.in_([RevisionStatus.DRAFT, RevisionStatus.PENDING_APPROVAL]),
        )
    )
    if existing is not None:
        who = existing.author.email if existing.author else "someone"
        raise ConflictError(
            f"{document.title} already has an open draft by {who}; edit or discard that one instead."
        )
    revision = DocumentRevision(
        document=document,
        status=RevisionStatus.DRAFT,
        body=body,
        rendered=render_markdown(body),
        summary=summary,
        based_on=document.current_number,
        author_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(revision)
    session.flush()
    _audit(session, "draft", revision, actor, now, after=_details(revision))
    return revision


def edit_draft(
    session: Session,
    revision: DocumentRevision,
    *,
    body: str,
    summary: str = "",
    expected_row_version: int | None = None,
    now: datetime,
    actor: Actor = SYSTEM,
) -> DocumentRevision:
    """Replace a draft's text and summary, unless someone saved it since ``expected_row_version``."""
    if revision.status is not RevisionStatus.DRAFT:
        raise ValidationError({"revision": f"this revision is {revision.status}, not a draft"})
    if expected_row_version is not None and revision.row_version != expected_row_version:
        raise ConflictError("Someone else saved this draft since you opened it; reload to see their text.")
    body = clean_body(body)
    summary = _text(summary, "summary", "", required=False)
    before = {"summary": revision.summary, "characters": len(revision.body)}
    revision.body = body
    revision.rendered = render_markdown(body)
    revision.summary = summary
    revision.updated_at = now
    session.flush()
    _audit(
        session,
        "edit",
        revision,
        actor,
        now,
        before=before,
        after={"summary": summary, "characters": len(body)},
    )
    return revision


def discard_draft(
    session: Session, revision: DocumentRevision, *, now: datetime, actor: Actor = SYSTEM
) -> None:
    if revision.status is not RevisionStatus.DRAFT:
        raise ValidationError({"revision": f"this revision is {revision.status}, not a draft"})
    revision.status = RevisionStatus.DISCARDED
    revision.updated_at = now
    session.flush()
    _audit(session, "discard", revision, actor, now)


# --- announcing, approving, rejecting, withdrawing --------------------------------------------


def earliest_effective_date(document: Document, now: datetime) -> datetime:
    return now + timedelta(days=document.notice_period_days)


def _check_dates(
    document: Document, effective_at: datetime, short_notice_reason: str | None, now: datetime
) -> str | None:
    """Validate the effective date against the notice period; the short-notice reason to keep."""
    if effective_at.tzinfo is None:
        raise ValidationError({"effective_at": "needs a time zone"})
    if effective_at <= now:
        raise ValidationError({"effective_at": "must be in the future"})
    earliest = earliest_effective_date(document, now)
    if effective_at >= earliest:
        return None
    if not short_notice_reason:
        raise ValidationError(
            {
                "effective_at": (
                    f"must leave the document's notice period of {document.notice_period_days} days "
                    f"(on or after {earliest:%Y-%m-%d %H:%M} UTC), or give a short-notice justification"
                )
            }
        )
    return short_notice_reason


def _check_publishable(session: Session, revision: DocumentRevision) -> None:
    """A revision goes public only against the text it was written for, and alone."""
    document = revision.document
    if revision.based_on != document.current_number:
        raise ValidationError(
            {
                "revision": (
                    f"this draft was written against revision {revision.based_on or 'none'}, but "
                    f"revision {document.current_number} is in force now: discard it and start "
                    "again from the current text"
                )
            }
        )
    announced = session.scalar(
        select(DocumentRevision.number).where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.status == RevisionStatus.ANNOUNCED,
            DocumentRevision.id != revision.id,
        )
    )
    if announced is not None:
        raise ValidationError(
            {
                "revision": (
                    f"revision {announced} is already announced: withdraw it, or wait until it takes "
                    "effect and draft against it"
                )
            }
        )
    if not revision.summary:
        raise ValidationError({"summary": "say what changes in this revision, for readers and subscribers"})


def _next_number(session: Session, document: Document) -> int:
    # Serialise numbering per document (PostgreSQL); the unique (document, number) constraint
    # refuses a duplicate on any database, so a race fails rather than reusing a number.
    session.execute(select(Document.id).where(Document.id == document.id).with_for_update())
    highest = session.scalar(
        select(func.max(DocumentRevision.number)).where(DocumentRevision.document_id == document.id)
    )
    return (highest or 0) + 1


def announce(
    session: Session,
    revision: DocumentRevision,
    *,
    effective_at: datetime,
    now: datetime,
    actor: Actor = SYSTEM,
    short_notice_reason: str | None = None,
) -> DocumentRevision:
    """Announce a draft to take effect at ``effective_at``.

    Where the document requires approval, it waits for a second editor (``approve``) and
    nothing is public until then; otherwise it is public and numbered now.
    """
    if revision.status is not RevisionStatus.DRAFT:
        raise ValidationError({"revision": f"this revision is {revision.status}, not a draft"})
    document = revision.document
    _check_publishable(session, revision)
    reason = (short_notice_reason or "").strip()
    if reason and not publishable(reason):
        raise ValidationError({"short_notice_reason": "must not contain control characters"})
    revision.short_notice_reason = _check_dates(document, effective_at, reason[:MAX_SUMMARY] or None, now)
    revision.effective_at = effective_at
    revision.author_id = revision.author_id or actor.user_id
    revision.announced_by_id = actor.user_id
    revision.updated_at = now
    if document.requires_approval:
        revision.status = RevisionStatus.PENDING_APPROVAL
        session.flush()
        _audit(session, "request_approval", revision, actor, now, after=_details(revision))
        return revision
    return _make_public(session, revision, actor=actor, now=now)


def _make_public(
    session: Session, revision: DocumentRevision, *, actor: Actor, now: datetime
) -> DocumentRevision:
    document = revision.document
    revision.number = _next_number(session, document)
    revision.status = RevisionStatus.ANNOUNCED
    revision.announced_at = now
    revision.updated_at = now
    document.touch(now)
    session.flush()
    _audit(session, "announce", revision, actor, now, after=_details(revision))
    outbox.fan_out_revision(session, revision, now=now)
    return revision


def approve(session: Session, revision: DocumentRevision, *, actor: Actor, now: datetime) -> DocumentRevision:
    """A second editor approves an announcement; it is public now. The author cannot approve."""
    if revision.status is not RevisionStatus.PENDING_APPROVAL:
        raise ValidationError({"revision": f"this revision is {revision.status}, not awaiting approval"})
    if actor.user_id is None or actor.user_id in (revision.author_id, revision.announced_by_id):
        raise ValidationError(
            {
                "revision": "a revision must be approved by another editor than the one who wrote or announced it"
            }
        )
    _check_publishable(session, revision)
    assert revision.effective_at is not None
    # The notice period counts from publication, so it is checked again now.
    revision.short_notice_reason = _check_dates(
        revision.document, revision.effective_at, revision.short_notice_reason, now
    )
    revision.approver_id = actor.user_id
    _audit(session, "approve", revision, actor, now)
    return _make_public(session, revision, actor=actor, now=now)


def reject(
    session: Session, revision: DocumentRevision, *, reason: str, actor: Actor, now: datetime
) -> DocumentRevision:
    """Send a revision awaiting approval back: a draft again, nothing was public."""
    if revision.status is not RevisionStatus.PENDING_APPROVAL:
        raise ValidationError({"revision": f"this revision is {revision.status}, not awaiting approval"})
    reason = _text(reason, "reason", "give the reason for sending it back")
    revision.status = RevisionStatus.DRAFT
    revision.effective_at = None
    revision.short_notice_reason = None
    revision.updated_at = now
    session.flush()
    _audit(session, "reject", revision, actor, now, summary=f"{revision.document.slug}: {reason}")
    return revision


def withdraw(
    session: Session, revision: DocumentRevision, *, reason: str, now: datetime, actor: Actor = SYSTEM
) -> DocumentRevision:
    """Cancel an announced revision before it takes effect; it stays public, marked withdrawn."""
    if revision.status is not RevisionStatus.ANNOUNCED:
        raise ValidationError({"revision": "only an announced revision not yet in effect can be withdrawn"})
    reason = _text(reason, "reason", "give the public reason for withdrawing it")
    revision.status = RevisionStatus.WITHDRAWN
    revision.withdrawn_at = now
    revision.withdrawal_reason = reason
    revision.updated_at = now
    revision.document.touch(now)
    session.flush()
    _audit(session, "withdraw", revision, actor, now, summary=f"{revision.document.slug}: {reason}")
    outbox.fan_out_revision(session, revision, now=now, kind=NotificationKind.REVISION_WITHDRAWAL)
    return revision


# --- publishing -------------------------------------------------------------------------------


def publish_correction(
    session: Session, revision: DocumentRevision, *, now: datetime, actor: Actor = SYSTEM
) -> DocumentRevision:
    """Publish a draft at once, without notice (a first publication, a typo, a broken link)."""
    if revision.status is not RevisionStatus.DRAFT:
        raise ValidationError({"revision": f"this revision is {revision.status}, not a draft"})
    _check_publishable(session, revision)
    document = revision.document
    revision.number = _next_number(session, document)
    revision.status = RevisionStatus.PUBLISHED
    revision.announced_at = revision.effective_at = revision.published_at = now
    revision.author_id = revision.author_id or actor.user_id
    revision.announced_by_id = actor.user_id
    revision.updated_at = now
    document.current_number = revision.number
    document.touch(now)
    session.flush()
    _audit(session, "correction", revision, actor, now, after=_details(revision))
    outbox.fan_out_revision(session, revision, now=now)
    return revision


def due_revisions(session: Session, now: datetime) -> list[int]:
    """Ids of announced revisions whose effective date has come."""
    return list(
        session.scalars(
            select(DocumentRevision.id)
            .where(DocumentRevision.status == RevisionStatus.ANNOUNCED, DocumentRevision.effective_at <= now)
            .order_by(DocumentRevision.effective_at, DocumentRevision.id)
        )
    )


def apply_revision(session: Session, revision_id: int, now: datetime) -> DocumentRevision | None:
    """Put one due revision in force; None if another worker did it first or it is not yet due.

    Compare-and-set: the row moves from announced to published only if it is still announced,
    in the same transaction that makes it the document's revision in force. Safe to run twice
    and in two processes at once.
    """
    revision = session.get(DocumentRevision, revision_id)
    if revision is None or revision.effective_at is None or revision.effective_at > now:
        return None
    document_id = revision.document_id
    # Serialise with other writers of this document (PostgreSQL; SQLite has one writer anyway).
    session.execute(select(Document.id).where(Document.id == document_id).with_for_update())
    claimed = session.execute(
        update(DocumentRevision)
        .where(DocumentRevision.id == revision_id, DocumentRevision.status == RevisionStatus.ANNOUNCED)
        .values(
            status=RevisionStatus.PUBLISHED,
            published_at=now,
            updated_at=now,
            row_version=DocumentRevision.row_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(revision)
        return None
    session.refresh(revision)
    document = revision.document
    session.refresh(document)
    assert revision.number is not None
    document.current_number = revision.number
    document.touch(now)
    session.flush()
    _audit(
        session,
        "apply",
        revision,
        SYSTEM,
        now,
        summary=f"{document.slug}: revision {revision.number} took effect",
    )
    return revision
