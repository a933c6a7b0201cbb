"""The revision workflow of a document: draft, announce (with approval where the document asks
for it), reject, withdraw, correct (publish at once), and apply at the effective date.

The same rules as a list's changes, from the same place (``registry.publishing``): readers are
told of a new text before it takes effect, with the document's notice period unless a
short-notice justification is published with it; nobody who wrote, edited or announced a
revision approves it; a correction is held to the size of a fix of wording. Functions take the
session, the acting ``Actor`` and the moment; they record an audit event for what they do, emit
the publication events that owe subscribers their messages, and never commit.

One draft (or one awaiting approval) and one announced revision per document at a time, each
written against the revision in force (``based_on``): a draft can be announced or published only
while that revision is still in force and nothing else is announced, so no announced text can
silently undo another.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor, record
from registry.documents.models import Document, DocumentRevision, RevisionStatus
from registry.documents.rendering import render_markdown
from registry.limits import MAX_REASON
from registry.publishing import corrections, events, rules
from registry.publishing.rules import ConflictError
from registry.validation import ValidationError, text_problem

__all__ = ["MAX_BODY", "MAX_SUMMARY", "ConflictError"]

MAX_BODY = 200_000
MAX_SUMMARY = MAX_REASON
# A correction of a document may change at most this many words (inserted plus deleted, counted
# on the text as readers see it): a typo, a link, a name. Anything larger is announced.
CORRECTION_MAX_WORDS = 10
_TAGS = re.compile(r"<[^>]*>")


# --- text -------------------------------------------------------------------------------------


def clean_body(body: str | None) -> str:
    """The Markdown source as kept: LF line ends, no trailing spaces at the end, one final newline."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationError({"body": "Write the text of the document."})
    if len(text) > MAX_BODY:
        raise ValidationError({"body": f"The text is {len(text)} characters long; the limit is {MAX_BODY}."})
    problem = text_problem(text)
    if problem:
        raise ValidationError({"body": f"This text {problem}."})
    return text + "\n"


def _text(value: str | None, field: str, what: str, *, required: bool = True) -> str:
    return rules.public_text(value, field, missing=what if required else None, limit=MAX_SUMMARY)


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
        contributor_ids=rules.contributors_with(None, actor.user_id),
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
    """Replace a draft's text and summary, unless someone saved it since ``expected_row_version``.

    The editor becomes a contributor of the revision, so they cannot approve it either.
    """
    rules.require_state(revision.status, RevisionStatus.DRAFT, what="revision")
    if expected_row_version is not None and revision.row_version != expected_row_version:
        raise ConflictError("Someone else saved this draft since you opened it; reload to see their text.")
    body = clean_body(body)
    summary = _text(summary, "summary", "", required=False)
    before = {"summary": revision.summary, "characters": len(revision.body)}
    revision.body = body
    revision.rendered = render_markdown(body)
    revision.summary = summary
    revision.contributor_ids = rules.contributors_with(revision.contributor_ids, actor.user_id)
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
    """Drop a draft nobody has seen; a public revision is past discarding (409)."""
    rules.require_state(revision.status, RevisionStatus.DRAFT, what="revision")
    revision.status = RevisionStatus.DISCARDED
    revision.updated_at = now
    session.flush()
    _audit(session, "discard", revision, actor, now)


# --- announcing, approving, rejecting, withdrawing --------------------------------------------


def earliest_effective_date(document: Document, now: datetime) -> datetime:
    return rules.earliest_effective_date(document.notice_period_days, now)


def _check_dates(
    document: Document, effective_at: datetime, short_notice_reason: str | None, now: datetime
) -> str | None:
    return rules.check_effective_date(
        effective_at,
        notice_period_days=document.notice_period_days,
        short_notice_reason=short_notice_reason,
        now=now,
        what="document",
    )


def check_approver(revision: DocumentRevision, actor: Actor) -> None:
    """Four eyes: refuse ``actor`` as the approver of ``revision`` if they took part in it."""
    rules.check_approver(actor.user_id, contributors(revision), what="revision")


def contributors(revision: DocumentRevision) -> set[int]:
    """Everyone who wrote, edited or announced ``revision``: none of them may approve it."""
    ids = set(revision.contributor_ids or [])
    ids.update(i for i in (revision.author_id, revision.announced_by_id) if i is not None)
    return ids


def _check_publishable(session: Session, revision: DocumentRevision) -> None:
    """A revision goes public only against the text it was written for, and alone."""
    document = revision.document
    if revision.based_on != document.current_number:
        raise ConflictError(
            f"This draft was written against revision {revision.based_on or 'none'}, but "
            f"revision {document.current_number} is in force now: discard it and start again "
            "from the current text.",
            {"in_force": document.current_number},
        )
    announced = session.scalar(
        select(DocumentRevision.number).where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.status == RevisionStatus.ANNOUNCED,
            DocumentRevision.id != revision.id,
        )
    )
    if announced is not None:
        raise ConflictError(
            f"Revision {announced} is already announced: withdraw it, or wait until it takes "
            "effect and draft against it.",
            {"announced": announced},
        )
    if not revision.summary:
        raise ValidationError({"summary": "Say what changes in this revision, for readers and subscribers."})


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

    Where the document requires approval, it waits for a second person (``approve``) and
    nothing is public until then; otherwise it is public and numbered now.
    """
    rules.require_state(revision.status, RevisionStatus.DRAFT, what="revision")
    document = revision.document
    _check_publishable(session, revision)
    revision.short_notice_reason = _check_dates(document, effective_at, short_notice_reason, now)
    revision.effective_at = effective_at
    revision.is_correction = False
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
    events.emit(events.announced, revision, session=session, now=now)
    return revision


def approve(session: Session, revision: DocumentRevision, *, actor: Actor, now: datetime) -> DocumentRevision:
    """A second person approves a revision (announced, or a correction); it is public now.

    Nobody who wrote, edited or announced it may approve it.
    """
    rules.require_state(revision.status, RevisionStatus.PENDING_APPROVAL, what="revision")
    check_approver(revision, actor)
    _check_publishable(session, revision)
    revision.approver_id = actor.user_id
    _audit(session, "approve", revision, actor, now)
    if revision.is_correction:
        return _publish_at_once(session, revision, actor=actor, now=now)
    assert revision.effective_at is not None
    # The notice period counts from publication, so it is checked again now.
    revision.short_notice_reason = _check_dates(
        revision.document, revision.effective_at, revision.short_notice_reason, now
    )
    return _make_public(session, revision, actor=actor, now=now)


def reject(
    session: Session, revision: DocumentRevision, *, reason: str, actor: Actor, now: datetime
) -> DocumentRevision:
    """Send a revision awaiting approval back: a draft again, nothing was public."""
    rules.require_state(revision.status, RevisionStatus.PENDING_APPROVAL, what="revision")
    reason = rules.public_reason(reason)
    revision.status = RevisionStatus.DRAFT
    revision.effective_at = None
    revision.short_notice_reason = None
    revision.is_correction = False
    revision.updated_at = now
    session.flush()
    _audit(session, "reject", revision, actor, now, summary=f"{revision.document.slug}: {reason}")
    return revision


def withdraw(
    session: Session, revision: DocumentRevision, *, reason: str, now: datetime, actor: Actor = SYSTEM
) -> DocumentRevision:
    """Cancel an announced revision before it takes effect; it stays public, marked withdrawn."""
    reason = rules.public_reason(reason)
    rules.check_withdrawable(
        revision.status is RevisionStatus.ANNOUNCED, revision.effective_at, now, what="revision"
    )
    revision.status = RevisionStatus.WITHDRAWN
    revision.withdrawn_at = now
    revision.withdrawal_reason = reason
    revision.updated_at = now
    revision.document.touch(now)
    session.flush()
    _audit(session, "withdraw", revision, actor, now, summary=f"{revision.document.slug}: {reason}")
    events.emit(events.withdrawn, revision, session=session, now=now)
    return revision


# --- corrections ------------------------------------------------------------------------------


def changed_words(session: Session, revision: DocumentRevision) -> int:
    """How many words ``revision`` inserts or deletes against the text in force, counted on the
    text readers see (the rendered HTML without its tags, entities decoded), so that Markdown or
    ``&#32;`` cannot make a new sentence look like one word."""
    document = revision.document
    current = session.scalar(
        select(DocumentRevision.rendered).where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.number == document.current_number,
        )
    )
    if current is None:
        return 0
    return corrections.changed_words(_read(current), _read(revision.rendered))


def _read(rendered: str) -> str:
    """What a reader reads of rendered HTML."""
    return html.unescape(_TAGS.sub(" ", rendered))


def check_correction(session: Session, revision: DocumentRevision) -> None:
    """A correction only fixes wording and links: a first publication (nobody has read the
    document yet), or at most ``CORRECTION_MAX_WORDS`` changed words."""
    if not revision.document.current_number:
        return
    corrections.check_text_correction(
        changed_words(session, revision), limit=CORRECTION_MAX_WORDS, name=revision.document.title
    )


def correct(
    session: Session, revision: DocumentRevision, *, now: datetime, actor: Actor = SYSTEM
) -> DocumentRevision:
    """Publish a draft at once, without notice (a first publication, a typo, a broken link).

    Where the document requires approval, it waits for a second person first. Its summary is
    the public reason; subscribers are told, with nothing to object to.
    """
    rules.require_state(revision.status, RevisionStatus.DRAFT, what="revision")
    _check_publishable(session, revision)
    check_correction(session, revision)
    revision.author_id = revision.author_id or actor.user_id
    revision.announced_by_id = actor.user_id
    revision.updated_at = now
    if revision.document.requires_approval and revision.document.current_number:
        revision.status = RevisionStatus.PENDING_APPROVAL
        revision.is_correction = True
        session.flush()
        _audit(session, "request_approval", revision, actor, now, after=_details(revision))
        return revision
    return _publish_at_once(session, revision, actor=actor, now=now)


def _publish_at_once(
    session: Session, revision: DocumentRevision, *, actor: Actor, now: datetime
) -> DocumentRevision:
    check_correction(session, revision)  # again: the text in force may have moved on
    document = revision.document
    revision.number = _next_number(session, document)
    revision.status = RevisionStatus.PUBLISHED
    revision.is_correction = True
    revision.announced_at = revision.effective_at = revision.published_at = now
    revision.updated_at = now
    document.current_number = revision.number
    document.touch(now)
    session.flush()
    _audit(session, "correction", revision, actor, now, after=_details(revision))
    events.emit(events.corrected, revision, session=session, now=now)
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
    events.emit(events.applied, revision, session=session, now=now)
    return revision
