"""Fixtures for documents: a helper that builds documents through the real workflow, each call in
its own committed transaction, with the clock passed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from registry.audit.services import SYSTEM, Actor
from registry.documents import services, workflow
from registry.documents.models import DocumentRevision
from registry.extensions import db
from tests.conftest import NOW

SLUG = "privacy-policy"
FIRST = "# Privacy policy\n\nWe keep your email address.\n\nYou may ask us to delete it.\n"
SECOND = "# Privacy policy\n\nWe keep your email address and your name.\n\nYou may ask us to correct it.\n"
EFFECTIVE = NOW + timedelta(days=40)


class Documents:
    """Builds documents through the services and the workflow."""

    def __init__(self, app: Flask):
        self.app = app

    def create(self, slug: str = SLUG, title: str = "Privacy policy", **kw: Any) -> int:
        with self.app.app_context():
            document = services.create_document(db.session, slug=slug, title=title, now=NOW, **kw)
            db.session.commit()
            return document.id

    def publish(
        self, body: str = FIRST, *, slug: str = SLUG, summary: str = "First.", now: datetime = NOW
    ) -> int:
        """Seed a revision published at once; returns the revision number.

        The first is a first publication; a later one is announced a notice period before
        ``now`` and takes effect at ``now``, whatever its size.
        """
        with self.app.app_context():
            document = services.get_document(db.session, slug)
            assert document is not None
            draft = workflow.draft_revision(db.session, document, body=body, summary=summary, now=now)
            if document.current_number:
                announced = now - timedelta(days=document.notice_period_days, minutes=1)
                workflow.announce(db.session, draft, effective_at=now, now=announced)
                applied = workflow.apply_revision(db.session, draft.id, now)
                assert applied is not None
                revision = applied
            else:
                revision = workflow.correct(db.session, draft, now=now)
            db.session.commit()
            assert revision.number is not None
            return revision.number

    def correct(self, body: str, *, slug: str = SLUG, summary: str = "A fix.", now: datetime = NOW) -> int:
        """Draft and publish a correction (through the core's rule); returns the revision number."""
        with self.app.app_context():
            document = services.get_document(db.session, slug)
            assert document is not None
            draft = workflow.draft_revision(db.session, document, body=body, summary=summary, now=now)
            revision = workflow.correct(db.session, draft, now=now)
            db.session.commit()
            assert revision.number is not None
            return revision.number

    def draft(
        self,
        body: str = SECOND,
        *,
        slug: str = SLUG,
        summary: str = "Names, and correction.",
        actor: Actor = SYSTEM,
    ) -> int:
        """A draft; returns its id."""
        with self.app.app_context():
            document = services.get_document(db.session, slug)
            assert document is not None
            revision = workflow.draft_revision(
                db.session, document, body=body, summary=summary, now=NOW, actor=actor
            )
            db.session.commit()
            return revision.id

    def announce(
        self,
        body: str = SECOND,
        *,
        slug: str = SLUG,
        effective_at: datetime = EFFECTIVE,
        actor: Actor = SYSTEM,
        short_notice_reason: str | None = None,
    ) -> int:
        """Draft and announce; returns the revision id."""
        revision_id = self.draft(body, slug=slug, actor=actor)
        with self.app.app_context():
            revision = db.session.get(DocumentRevision, revision_id)
            assert revision is not None
            workflow.announce(
                db.session,
                revision,
                effective_at=effective_at,
                now=NOW,
                actor=actor,
                short_notice_reason=short_notice_reason,
            )
            db.session.commit()
        return revision_id

    def get(self, revision_id: int) -> DocumentRevision:
        with self.app.app_context():
            revision = db.session.get(DocumentRevision, revision_id)
            assert revision is not None
            db.session.expunge(revision)
            return revision


@pytest.fixture
def documents(app: Flask) -> Documents:
    return Documents(app)


@pytest.fixture
def published(documents: Documents) -> Documents:
    """The privacy policy at revision 1."""
    documents.create()
    documents.publish()
    return documents


@pytest.fixture
def two_revisions(published: Documents) -> Documents:
    """The privacy policy at revision 2 (published at once), revision 1 kept."""
    published.publish(SECOND, summary="Names, and correction.", now=NOW + timedelta(hours=1))
    return published
