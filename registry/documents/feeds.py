"""Atom and RSS 2.0 feeds of a document: one entry per public revision (announced, in force,
superseded or withdrawn), written by feedgen like the lists' feeds.

Entry ids are ``urn:uuid:<revision uuid>``; an entry's ``updated`` moves when its revision takes
effect or is withdrawn. The output depends only on the database and the settings, never on the
clock or the request: the same state gives the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from registry.documents.models import DocumentRevision, RevisionStatus
from registry.documents.services import announced_revision_title, diff_url, revision_url
from registry.publishing.feeds import MIMETYPES, FeedFormat, FeedInfo, feed_bytes, new_feed, second, xml
from registry.publishing.wording import moment_text

__all__ = ["MIMETYPES", "FeedFormat", "FeedInfo", "render_feed", "revision_facts"]


def _moment(moment: datetime | None) -> str:
    return moment_text(moment)


def _published(revision: DocumentRevision) -> datetime:
    assert revision.announced_at is not None
    return revision.announced_at


def _updated(revision: DocumentRevision) -> datetime:
    moments = [revision.announced_at, revision.published_at, revision.withdrawn_at]
    return max(m for m in moments if m is not None)


def revision_facts(revision: DocumentRevision) -> list[str]:
    """A public revision in plain sentences: what changed, when, and what became of it."""
    facts = []
    if revision.status is RevisionStatus.WITHDRAWN:
        facts.append(f"Withdrawn on {_moment(revision.withdrawn_at)}: {revision.withdrawal_reason}")
    elif revision.status is RevisionStatus.PUBLISHED:
        facts.append(f"In effect since {_moment(revision.published_at)}.")
    else:
        facts.append(f"Takes effect: {_moment(revision.effective_at)}.")
    facts.append(f"What changes: {revision.summary}")
    if revision.short_notice_reason:
        facts.append(f"Short notice: {revision.short_notice_reason}")
    return facts


def render_feed(fmt: FeedFormat, info: FeedInfo, revisions: Sequence[DocumentRevision]) -> bytes:
    """The feed as UTF-8 XML; ``revisions`` are the public ones, newest first."""
    newest = max((_updated(r) for r in revisions), default=info.updated_when_empty)
    feed = new_feed(fmt, info, newest)
    for revision in revisions:
        facts = revision_facts(revision)
        item = feed.add_entry(order="append")
        item.id(f"urn:uuid:{revision.uuid}")
        item.title(xml(announced_revision_title(revision)))
        link = diff_url(revision) if revision.number and revision.number > 1 else revision_url(revision)
        item.link(href=link, rel="alternate", type="text/html")
        item.published(second(_published(revision)))
        item.updated(second(_updated(revision)))
        paragraphs = "".join(f"<p>{xml(html.escape(line))}</p>" for line in facts)
        if fmt == "atom":
            item.summary(xml("\n".join(facts)))
            item.content(paragraphs, type="html")
        else:
            item.description(paragraphs)
    return feed_bytes(feed, fmt)
