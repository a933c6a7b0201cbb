"""A list's announced changes as calendar events: the day each takes effect, and the last day to
object to it.

An announcement gives two all-day events; each says what changes in the words of the page, the
email and the feed (``registry.lists.wording``, ``notice_summary``), and falls on the day those
name: the effective date, and the last day objections are open (``last_day_to_object``, the day
"…, end of day UTC" names). A withdrawal cancels both (same UIDs, SEQUENCE 1); an announcement
whose objection window closed the moment it was published (short notice) has no deadline event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, selectinload

from registry.links import external_url
from registry.lists.feeds import FeedEntry, notice_summary
from registry.lists.links import external_list_url
from registry.lists.models import Notice, NoticeKind, NoticeStatus, RegisterList, Version
from registry.lists.wording import change_words
from registry.publishing import wording
from registry.publishing.calendars import PAST_DAYS, CalendarEvent, EventKind, event_uid, keeps, start_of

__all__ = ["calendar_description", "calendar_events", "calendar_name"]


def calendar_name(register_list: RegisterList | None) -> str:
    """The calendar's name: of one list, or of all (None)."""
    company = current_app.config["COMPANY_NAME"]
    what = register_list.title if register_list is not None else "All lists"
    return f"{what}: announced changes · {company}"


def calendar_description(register_list: RegisterList | None) -> str:
    company = current_app.config["COMPANY_NAME"]
    which = f"its {register_list.title} list" if register_list is not None else "any of its lists"
    return (
        f"The day each change {company} announces to {which} takes effect, and the last day to object "
        "to it (end of day UTC). Withdrawn changes are shown as cancelled."
    )


def calendar_events(session: Session, lists: Sequence[RegisterList], today: date) -> list[CalendarEvent]:
    """The events of these lists' announcements still in the window on ``today`` (see ``keeps``)."""
    if not lists:
        return []
    since = start_of(today) - timedelta(days=PAST_DAYS + 1)
    notices = list(
        session.scalars(
            select(Notice)
            .where(
                Notice.list_id.in_([lst.id for lst in lists]),
                Notice.kind == NoticeKind.ANNOUNCEMENT,
                Notice.status == NoticeStatus.PUBLISHED,
                Notice.effective_at >= since,
            )
            .order_by(Notice.effective_at, Notice.id)
            .options(selectinload(Notice.register_list), selectinload(Notice.changes))
        )
    )
    ids = [notice.id for notice in notices]
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
    events: list[CalendarEvent] = []
    for notice in notices:
        entry = FeedEntry(notice, versions.get(notice.id), withdrawals.get(notice.id))
        events += [event for event in _events_of(entry) if keeps(event.day, today, cancelled=event.cancelled)]
    return events


def _events_of(entry: FeedEntry) -> list[CalendarEvent]:
    notice = entry.notice
    register_list = entry.register_list
    cancelled = entry.withdrawal is not None
    what = wording.what_changes([change_words(c) for c in notice.changes], register_list.title)
    prefix = "Withdrawn: " if cancelled else ""
    endpoint, values = entry.link()
    url = external_list_url(endpoint, register_list, **values)
    summary = notice_summary(notice)
    if entry.outcome:
        summary = f"Update: {entry.outcome}\n{summary}"
    names = (f"notice-{notice.id}", register_list.slug)

    def event(kind: EventKind, day: date, title: str, description: str) -> CalendarEvent:
        return CalendarEvent(
            uid=event_uid(kind, *names),
            day=day,
            summary=f"{prefix}{title}",
            description=description,
            url=url,
            changed=entry.updated,
            created=entry.published,
            sequence=1 if cancelled else 0,
            cancelled=cancelled,
        )

    events = [
        event("effective", notice.effective_at.astimezone(UTC).date(), f"{what} (takes effect)", summary)
    ]
    deadline = notice.objection_deadline
    if deadline is not None and notice.announced_at is not None and deadline > notice.announced_at:
        description = summary
        if not cancelled and entry.version is None:
            description += f"\nTo object: {external_url('objections.object', reference=notice.uuid)}"
        events.append(
            event(
                "deadline", wording.last_day_to_object(deadline), f"Last day to object: {what}", description
            )
        )
    return events
