"""Notices as words and as Atom and RSS 2.0 feeds: one feed entry per published notice.

``notice_summary`` says what a notice announces, withdraws or corrects in plain text (its title
comes from ``registry.lists.wording``, the one wording of a notice); it needs no request. ``feed_entries`` finds what a
feed shows and ``render_feed`` writes it with feedgen. The output depends only on the database
and the settings, never on the clock or the request: the same state gives the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, selectinload

from registry.lists.fields import TRANSFER_MECHANISMS
from registry.lists.models import (
    Change,
    ChangeAction,
    Notice,
    NoticeKind,
    NoticeStatus,
    RegisterList,
    Version,
)
from registry.lists.wording import change_headline, notice_title
from registry.publishing.feeds import MIMETYPES, FeedFormat, FeedInfo, feed_bytes, new_feed, second, xml
from registry.publishing.wording import deadline_text, moment_text, one_line

__all__ = [
    "FEED_LIMIT",
    "MIMETYPES",
    "FeedEntry",
    "FeedFormat",
    "FeedInfo",
    "feed_entries",
    "notice_summary",
    "notice_title",
    "render_feed",
]

# A feed shows the newest notices; the change log keeps them all.
FEED_LIMIT = 100


# --- notices in words -------------------------------------------------------------------------


def notice_summary(notice: Notice) -> str:
    """The notice in plain text: dates, objection deadline, reason, and each change on a line."""
    return _as_text(*_summary_parts(notice))


def _summary_parts(notice: Notice) -> tuple[list[str], str, list[str]]:
    """(facts, the heading of the changes, one line per change)."""
    if notice.kind is NoticeKind.WITHDRAWAL:
        announced = notice.withdraws
        assert announced is not None and notice.announced_at is not None
        facts = [
            f"Withdrawn on {_moment(notice.announced_at)}: the changes to {notice.register_list.title} "
            f"announced on {_moment(announced.announced_at)} will not take effect on "
            f"{_moment(announced.effective_at)}.",
            f"Reason: {notice.reason}",
        ]
        return facts, "Withdrawn:", [_change_line(c) for c in announced.changes]
    if notice.kind is NoticeKind.CORRECTION:
        facts = [
            f"Corrected on {_moment(notice.effective_at)}, without notice: only wording or links "
            "changed, so there is nothing new to object to.",
            f"Reason: {notice.reason}",
        ]
        return (
            facts,
            f"Corrections to {notice.register_list.title}:",
            [_change_line(c) for c in notice.changes],
        )
    facts = [
        f"Takes effect: {_moment(notice.effective_at)}.",
        f"Object by: {deadline_text(notice.objection_deadline)}.",
        f"Reason: {notice.reason}",
    ]
    if notice.short_notice_reason:
        facts.append(f"Short notice: {notice.short_notice_reason}")
    return facts, f"Changes to {notice.register_list.title}:", [_change_line(c) for c in notice.changes]


def _as_text(facts: list[str], heading: str, changes: list[str]) -> str:
    return "\n".join([*facts, heading, *(f"- {line}" for line in changes)])


def _as_html(facts: list[str], heading: str, changes: list[str]) -> str:
    paragraphs = "".join(f"<p>{_escape(line)}</p>" for line in [*facts, heading])
    return paragraphs + "<ul>" + "".join(f"<li>{_escape(line)}</li>" for line in changes) + "</ul>"


def _change_line(change: Change) -> str:
    line = change_headline(change)
    if change.action in (ChangeAction.ADD, ChangeAction.REPLACE):
        subject = change.subject
        codes = subject.get("transfer_mechanisms") or []
        mechanisms = ", ".join(TRANSFER_MECHANISMS.get(code, code) for code in codes)
        line += f". Purpose: {_one_line(subject.get('purpose', ''))}"
        line += f" Transfer mechanism{'s' if len(codes) > 1 else ''}: {mechanisms or '—'}."
    return line


def _one_line(text: str) -> str:
    return one_line(text)


def _moment(moment: datetime | None) -> str:
    return moment_text(moment)


# --- what a feed shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One published notice as a feed shows it, with what happened to it since."""

    notice: Notice
    # The version an announcement's changes made once they took effect.
    version: Version | None = None
    # The withdrawal that cancelled an announcement.
    withdrawal: Notice | None = None

    @property
    def register_list(self) -> RegisterList:
        return self.notice.register_list

    @property
    def published(self) -> datetime:
        assert self.notice.announced_at is not None
        return self.notice.announced_at

    @property
    def updated(self) -> datetime:
        """When the notice was published, or later when it took effect or was withdrawn."""
        later = [self.published]
        if self.version is not None:
            later.append(self.version.published_at)
        if self.withdrawal is not None and self.withdrawal.announced_at is not None:
            later.append(self.withdrawal.announced_at)
        return max(later)

    @property
    def outcome(self) -> str | None:
        """What became of an announcement since, in words; None while it is still to come."""
        if self.version is not None:
            return f"In effect since {_moment(self.version.published_at)} as version {self.version.number}."
        if self.withdrawal is not None:
            return f"Withdrawn on {_moment(self.withdrawal.announced_at)}: {self.withdrawal.reason}"
        return None

    def link(self) -> tuple[str, dict[str, Any]]:
        """Where a reader sees it: (list page endpoint, values), for ``list_url``.

        A notice that took effect links to the diff of the version it made (the version itself
        for the first one); any other to its place in the change log.
        """
        if self.version is not None:
            number = self.version.number
            if number == 1:
                return "version", {"number": 1}
            return "diff", {"from": number - 1, "to": number}
        if self.notice.kind is NoticeKind.WITHDRAWAL:
            return "changes", {"_anchor": f"notice-{self.notice.uuid}"}
        if self.withdrawal is not None:
            return "changes", {"_anchor": f"notice-{self.withdrawal.uuid}"}
        return "changes", {"_anchor": "upcoming-heading"}


def feed_entries(
    session: Session, lists: Sequence[RegisterList], *, limit: int = FEED_LIMIT
) -> list[FeedEntry]:
    """The newest published notices of these lists (announcements and withdrawals), newest first."""
    if not lists:
        return []
    notices = list(
        session.scalars(
            select(Notice)
            .where(Notice.list_id.in_([lst.id for lst in lists]), Notice.status == NoticeStatus.PUBLISHED)
            .order_by(Notice.announced_at.desc(), Notice.id.desc())
            .limit(limit)
            .options(
                selectinload(Notice.register_list),
                selectinload(Notice.changes),
                selectinload(Notice.withdraws).selectinload(Notice.changes),
            )
        )
    )
    ids = [notice.id for notice in notices if notice.kind is not NoticeKind.WITHDRAWAL]
    withdrawals = {
        notice.withdraws_id: notice
        for notice in session.scalars(
            select(Notice).where(Notice.withdraws_id.in_(ids), Notice.status == NoticeStatus.PUBLISHED)
        )
    }
    versions = {
        version.notice_id: version
        for version in session.scalars(
            select(Version)
            .where(Version.notice_id.in_(ids))
            .options(load_only(Version.notice_id, Version.number, Version.published_at))  # no snapshot
        )
    }
    return [FeedEntry(notice, versions.get(notice.id), withdrawals.get(notice.id)) for notice in notices]


# --- the feed ---------------------------------------------------------------------------------


def render_feed(
    fmt: FeedFormat,
    info: FeedInfo,
    entries: Sequence[FeedEntry],
    url_of: Callable[[FeedEntry], str],
) -> bytes:
    """The feed as UTF-8 XML (``fmt`` "atom" or "rss"); ``url_of`` gives an entry's absolute link."""
    newest = max((entry.updated for entry in entries), default=info.updated_when_empty)
    feed = new_feed(fmt, info, newest)
    for entry in entries:
        _add_entry(feed, fmt, entry, url_of(entry))
    return feed_bytes(feed, fmt)


def _add_entry(feed: Any, fmt: FeedFormat, entry: FeedEntry, url: str) -> None:
    notice = entry.notice
    facts, heading, changes = _summary_parts(notice)
    if entry.outcome:
        facts = [f"Update: {entry.outcome}", *facts]

    item = feed.add_entry(order="append")
    item.id(f"urn:uuid:{notice.uuid}")  # also RSS's guid, isPermaLink="false"
    item.title(xml(notice_title(notice)))
    item.link(href=url, rel="alternate", type="text/html")
    item.published(second(entry.published))
    item.updated(second(entry.updated))
    register_list = entry.register_list
    item.category(term=register_list.slug, label=xml(register_list.title))
    if fmt == "atom":
        item.summary(xml(_as_text(facts, heading, changes)))  # type text: shown as written
        item.content(_as_html(facts, heading, changes), type="html")
    else:
        # RSS readers take a description as HTML: escaped once for HTML here, once for XML by lxml.
        item.description(_as_html(facts, heading, changes))


def _escape(text: str) -> str:
    return xml(html.escape(text))
