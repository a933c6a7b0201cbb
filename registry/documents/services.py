"""Documents and what they hold: creating documents and their settings, every query the pages
and jobs make, and the words and links other parts (feeds, future emails) use for a revision.

Functions take the session (and the moment, where it matters) and never commit. The revision
workflow itself is in ``registry.documents.workflow``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor, record
from registry.documents.models import PUBLIC_STATUSES, Document, DocumentRevision, RevisionStatus
from registry.links import external_url
from registry.publishing import wording
from registry.validation import ValidationError, text_problem

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SETTINGS = ("title", "notice_period_days", "requires_approval")


# --- documents --------------------------------------------------------------------------------


def get_document(session: Session, slug: str) -> Document | None:
    if not slug or len(slug) > 64:
        return None
    return session.scalar(select(Document).where(Document.slug == slug))


def all_documents(session: Session) -> list[Document]:
    return list(session.scalars(select(Document).order_by(Document.position, Document.id)))


def public_documents(session: Session) -> list[Document]:
    """Documents readers can see (a revision in force, or one announced or withdrawn), in the
    site's order: the ones a person can subscribe to."""
    public = exists().where(
        DocumentRevision.document_id == Document.id, DocumentRevision.status.in_(PUBLIC_STATUSES)
    )
    return list(
        session.scalars(
            select(Document)
            .where(or_(Document.current_number > 0, public))
            .order_by(Document.position, Document.id)
        )
    )


def _clean_settings(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    title = str(values.get("title") or "").strip()
    if not title:
        errors["title"] = "Enter a title for the document, for example 'Privacy policy'."
    elif len(title) > 200:
        errors["title"] = "The title must be 200 characters or fewer."
    elif problem := text_problem(title):
        errors["title"] = f"The title {problem}."
    days = values.get("notice_period_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        errors["notice_period_days"] = "Enter a whole number of days from 0 to 365."
    if errors:
        raise ValidationError(errors)
    return {
        "title": title,
        "notice_period_days": days,
        "requires_approval": bool(values.get("requires_approval")),
    }


def create_document(
    session: Session,
    *,
    slug: str,
    title: str,
    now: datetime,
    actor: Actor = SYSTEM,
    notice_period_days: int = 30,
    requires_approval: bool = False,
) -> Document:
    """A new document with no revision yet; its page appears once a revision is public."""
    errors = {}
    if not slug or len(slug) > 64 or not _SLUG.match(slug):
        errors["slug"] = (
            "Enter a slug of lowercase letters, digits and single hyphens (at most 64), for example "
            "'privacy-policy'."
        )
    elif get_document(session, slug) is not None:
        errors["slug"] = f"A document with the slug {slug!r} already exists: choose another."
    try:
        settings = _clean_settings(
            {"title": title, "notice_period_days": notice_period_days, "requires_approval": requires_approval}
        )
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    document = Document(
        slug=slug,
        position=len(all_documents(session)),
        created_at=now,
        changed_at=now,
        revision=1,
        current_number=0,
        **settings,
    )
    session.add(document)
    session.flush()
    record(
        session,
        "document.create",
        actor,
        now=now,
        target=("document", document.id),
        summary=settings["title"],
        after={"slug": slug, **settings},
    )
    return document


def update_settings(
    session: Session, document: Document, values: dict[str, Any], *, actor: Actor, now: datetime
) -> None:
    """Change a document's title, notice period or approval rule."""
    before = {name: getattr(document, name) for name in SETTINGS}
    clean = _clean_settings({**before, **values})
    if clean == before:
        return
    for name, value in clean.items():
        setattr(document, name, value)
    document.touch(now)
    record(
        session,
        "document.settings",
        actor,
        now=now,
        target=("document", document.id),
        summary=document.title,
        before=before,
        after=clean,
    )


# --- revisions --------------------------------------------------------------------------------


def get_revision(session: Session, revision_id: int) -> DocumentRevision | None:
    return session.get(DocumentRevision, revision_id)


def revision_by_number(session: Session, document: Document, number: int) -> DocumentRevision | None:
    """A public revision by its number (published, announced or withdrawn)."""
    return session.scalar(
        select(DocumentRevision).where(
            DocumentRevision.document_id == document.id, DocumentRevision.number == number
        )
    )


def current_revision(session: Session, document: Document) -> DocumentRevision | None:
    """The revision in force."""
    if not document.current_number:
        return None
    return revision_by_number(session, document, document.current_number)


def public_revisions(session: Session, document: Document) -> list[DocumentRevision]:
    """Every numbered revision, newest first."""
    return list(
        session.scalars(
            select(DocumentRevision)
            .where(DocumentRevision.document_id == document.id, DocumentRevision.status.in_(PUBLIC_STATUSES))
            .order_by(DocumentRevision.number.desc())
        )
    )


def public_numbers(session: Session, document: Document) -> list[int]:
    """The numbers of every public revision, newest first (without loading their text)."""
    return [
        number
        for number in session.scalars(
            select(DocumentRevision.number)
            .where(DocumentRevision.document_id == document.id, DocumentRevision.status.in_(PUBLIC_STATUSES))
            .order_by(DocumentRevision.number.desc())
        )
        if number is not None
    ]


def upcoming_revision(session: Session, document: Document) -> DocumentRevision | None:
    """The announced revision waiting for its effective date (at most one)."""
    return session.scalar(
        select(DocumentRevision).where(
            DocumentRevision.document_id == document.id, DocumentRevision.status == RevisionStatus.ANNOUNCED
        )
    )


def open_revision(session: Session, document: Document) -> DocumentRevision | None:
    """The draft, or the revision awaiting approval (at most one)."""
    return session.scalar(
        select(DocumentRevision).where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.status.in_([RevisionStatus.DRAFT, RevisionStatus.PENDING_APPROVAL]),
        )
    )


def all_revisions(session: Session, document: Document) -> list[DocumentRevision]:
    """Every revision, private ones included, newest first (for editors)."""
    return list(
        session.scalars(
            select(DocumentRevision)
            .where(DocumentRevision.document_id == document.id)
            .order_by(DocumentRevision.id.desc())
        )
    )


def previous_public(session: Session, revision: DocumentRevision) -> DocumentRevision | None:
    """The public revision numbered just before this one."""
    if not revision.number or revision.number <= 1:
        return None
    return session.scalar(
        select(DocumentRevision)
        .where(
            DocumentRevision.document_id == revision.document_id,
            DocumentRevision.number < revision.number,
        )
        .order_by(DocumentRevision.number.desc())
        .limit(1)
    )


# --- hooks for subscriptions and feeds (no request needed) ------------------------------------


def announced_revision_title(revision: DocumentRevision) -> str:
    """One line saying what a public revision is and when it takes effect, by its status now,
    e.g. "Privacy policy: revision 2, effective 2027-02-15" (a feed entry's title)."""
    title = revision.document.title
    if revision.status is RevisionStatus.WITHDRAWN:
        return wording.title(f"{title} revision {revision.number}", "withdrawal", revision.effective_at)
    if revision.status is RevisionStatus.PUBLISHED and revision.published_at:
        return wording.title(f"{title}: revision {revision.number}", "in_effect", revision.published_at)
    return wording.title(f"{title}: revision {revision.number}", "announcement", revision.effective_at)


def published_at_once(revision: DocumentRevision) -> bool:
    """Made public and put in force in one step, without notice (a first publication or a
    correction; an announced revision's effective date is always after its announcement)."""
    return revision.is_correction or (
        revision.announced_at is not None and revision.effective_at == revision.announced_at
    )


def revision_notice_title(revision: DocumentRevision, *, withdrawal: bool = False) -> str:
    """The subject of an email about a public revision, by what the email tells (not by the
    revision's status now, which may have moved on by the time a digest goes out), e.g.
    "Privacy policy: new revision 3, effective 2027-02-01"."""
    title = revision.document.title
    if withdrawal:
        return wording.title(f"{title} revision {revision.number}", "withdrawal", revision.effective_at)
    if published_at_once(revision):
        if (revision.number or 0) > 1:
            return wording.title(f"{title} revision {revision.number}", "correction", revision.effective_at)
        return wording.title(f"{title}: revision {revision.number}", "in_effect", revision.effective_at)
    return wording.title(f"{title}: new revision {revision.number}", "announcement", revision.effective_at)


def revision_url(revision: DocumentRevision) -> str:
    """The permanent absolute URL of a public revision, on ``PUBLIC_BASE_URL``."""
    return external_url("documents.revision", slug=revision.document.slug, number=revision.number)


def diff_url(revision: DocumentRevision, against: int | None = None) -> str:
    """The absolute URL of the word diff from the revision ``against`` (default: the one in force
    when this one was drafted, else the one numbered before it) to ``revision``.

    For the first revision there is nothing to compare: its own permanent URL is returned.
    """
    base = against if against is not None else revision.based_on or (revision.number or 1) - 1
    if not revision.number or base < 1 or base >= revision.number:
        return revision_url(revision)
    values = {"from": base, "to": revision.number}
    return external_url("documents.diff", slug=revision.document.slug, **values)
