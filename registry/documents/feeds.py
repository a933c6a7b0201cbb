"""Atom and RSS 2.0 feeds of a document: one entry per public revision (announced, in force,
superseded or withdrawn), written by feedgen like the lists' feeds.

Entry ids are ``urn:uuid:<revision uuid>``; an entry's ``updated`` moves when its revision takes
effect or is withdrawn. The output depends only on the database and the settings, never on the
clock or the request: the same state gives the same bytes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from registry.documents.models import DocumentRevision, RevisionStatus
from registry.documents.services import announced_revision_title, diff_url, revision_url
from registry.lists.feeds import MIMETYPES, FeedFormat, FeedInfo

__all__ = ["MIMETYPES", "FeedFormat", "FeedInfo", "render_feed", "revision_facts"]

# Characters XML 1.0 cannot hold (the workflow refuses them; a feed must never fail on one).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _moment(moment: datetime | None) -> str:
    if moment is None:
        return "not set"
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M} UTC"


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


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
    feed = FeedGenerator()
    feed.id(_xml(info.feed_id))
    feed.title(_xml(info.title))
    feed.subtitle(_xml(info.description))
    feed.author({"name": _xml(info.author)})
    feed.link(href=info.self_url, rel="self", type=MIMETYPES[fmt])
    feed.link(href=info.page_url, rel="alternate", type="text/html")  # the last link is RSS's <link>
    feed.language("en")
    feed.generator("Processor Registry")
    newest = max((_updated(r) for r in revisions), default=info.updated_when_empty)
    feed.updated(_second(newest))
    for revision in revisions:
        facts = revision_facts(revision)
        item = feed.add_entry(order="append")
        item.id(f"urn:uuid:{revision.uuid}")
        item.title(_xml(announced_revision_title(revision)))
        link = diff_url(revision) if revision.number and revision.number > 1 else revision_url(revision)
        item.link(href=link, rel="alternate", type="text/html")
        item.published(_second(_published(revision)))
        item.updated(_second(_updated(revision)))
        paragraphs = "".join(f"<p>{_xml(html.escape(line))}</p>" for line in facts)
        if fmt == "atom":
            item.summary(_xml("\n".join(facts)))
            item.content(paragraphs, type="html")
        else:
            item.description(paragraphs)
    if fmt == "atom":
        return feed.atom_str(pretty=True)
    return feed.rss_str(pretty=True)
