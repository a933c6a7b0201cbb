"""A list's history in pages: the versions page and the change log, newest first.

A page is named by the version it stops before (``?before=51`` holds versions 50 down to 1), and
page boundaries fall on multiples of the page size, so an older page holds the same versions for
ever: a new version never moves it, and it is cached like a version. The first page (today's
URL) holds what is newer than the last full older page: between one and two pages' worth, so
that it never shows a lone version. Each page is read with a bounded query on the version
numbers: its cost does not grow with the length of the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, selectinload

from registry.lists.models import Notice, NoticeKind, NoticeStatus, Version


class PageError(ValueError):
    """A ``before`` that names no page; the message says which ones exist."""


@dataclass(frozen=True)
class HistoryPage:
    """Which versions one page holds, and the pages around it (as ``before`` values)."""

    lowest: int
    highest: int
    # None for the first page (today's URL); else the version this page stops before.
    before: int | None
    # The next older page, if any.
    older: int | None
    # The next newer page (None on the first page), always by its ``before``, so that this page's
    # bytes never move: while that page is not complete yet, its address redirects to the first.
    newer: int | None

    @property
    def is_first(self) -> bool:
        return self.before is None

    @property
    def numbers(self) -> range:
        return range(self.highest, self.lowest - 1, -1)


def first_page_floor(current: int, size: int) -> int:
    """The newest version on the older pages (0: there are none); the first page holds the rest."""
    return max(0, (current - size) // size * size)


def page_of(current: int, before: int | None, size: int) -> HistoryPage | None:
    """The page stopping before ``before`` (None: the first page), or None when that page is not
    complete yet (its versions are all on the first page: the caller redirects there).

    Raises ``PageError`` for a ``before`` on no page boundary.
    """
    floor = first_page_floor(current, size)
    if before is None:
        return HistoryPage(floor + 1, current, None, floor + 1 if floor else None, None)
    if before <= size or (before - 1) % size:
        raise PageError(
            f"Pages of history start before version {size + 1}, {2 * size + 1}, {3 * size + 1} and so on, "
            f"not before {before}: follow the links from the first page."
        )
    if before > floor + 1:
        return None
    older = before - size if before - size > 1 else None
    return HistoryPage(before - size, before - 1, before, older, before + size)


def page_versions(session: Session, list_id: int, page: HistoryPage) -> list[Version]:
    """The page's versions, newest first, with their changes and notices but not their entries."""
    return list(
        session.scalars(
            select(Version)
            .where(Version.list_id == list_id, Version.number.between(page.lowest, page.highest))
            .order_by(Version.number.desc())
            .options(defer(Version.snapshot), selectinload(Version.changes), selectinload(Version.notice))
        )
    )


def entry_counts(session: Session, list_id: int, page: HistoryPage) -> dict[int, int]:
    """How many entries each of the page's versions holds, counted by the database."""
    rows = session.execute(
        select(Version.number, func.json_array_length(Version.snapshot)).where(
            Version.list_id == list_id, Version.number.between(page.lowest, page.highest)
        )
    )
    return {number: int(count or 0) for number, count in rows}


def version_times(session: Session, list_id: int, numbers: list[int]) -> dict[int, datetime]:
    """When each of these versions was published, and nothing else: what validators are made of."""
    rows = session.execute(
        select(Version.number, Version.published_at).where(
            Version.list_id == list_id, Version.number.in_(numbers)
        )
    )
    return {number: published for number, published in rows}


def page_withdrawals(
    session: Session, list_id: int, since: datetime | None, until: datetime | None
) -> list[Notice]:
    """Withdrawals published in [since, until), newest first: those between the page's versions.

    ``since`` is the page's oldest version's time (None on the oldest page), ``until`` the time of
    the version after the page (None on the first page), so each withdrawal is on one page.
    """
    query = select(Notice).where(
        Notice.list_id == list_id,
        Notice.kind == NoticeKind.WITHDRAWAL,
        Notice.status == NoticeStatus.PUBLISHED,
        Notice.announced_at.is_not(None),
    )
    if since is not None:
        query = query.where(Notice.announced_at >= since)
    if until is not None:
        query = query.where(Notice.announced_at < until)
    query = query.order_by(Notice.announced_at.desc()).options(
        selectinload(Notice.withdraws).selectinload(Notice.changes)
    )
    return list(session.scalars(query))
