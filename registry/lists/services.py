"""Lists and what they hold: creating lists and their settings, and every query the pages,
the API and the jobs make. The change workflow itself is in ``registry.lists.workflow``.

Functions take the session (and the moment, where it matters) and never commit.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, defer

from registry.audit.services import SYSTEM, Actor, record
from registry.limits import MAX_LONG_TEXT, MAX_NAME
from registry.lists.fields import KIND_LABELS, processor_fields
from registry.lists.models import (
    Change,
    ChangeStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    Processor,
    RegisterList,
    Version,
)
from registry.validation import ValidationError, publishable

_KIND_ORDER = {kind: position for position, kind in enumerate(KIND_LABELS)}
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# --- lists ------------------------------------------------------------------------------------


def get_list(session: Session, slug: str) -> RegisterList | None:
    return session.scalar(select(RegisterList).where(RegisterList.slug == slug))


def all_lists(session: Session) -> list[RegisterList]:
    return list(session.scalars(select(RegisterList).order_by(RegisterList.position, RegisterList.id)))


SETTINGS = (
    "title",
    "introduction",
    "notice_period_days",
    "objection_closes_days_before",
    "requires_approval",
    "remind_on_effective",
)


def _clean_settings(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    title = str(values.get("title") or "").strip()
    if not publishable(title) or "\n" in title or "\r" in title:
        errors["title"] = (
            "The title must be one line, without control characters or other invalid characters."
        )
    elif not title:
        errors["title"] = "Enter a title for the list, for example 'Sub-processors'."
    elif len(title) > MAX_NAME:
        errors["title"] = f"The title must be {MAX_NAME} characters or fewer."
    clean["title"] = title
    introduction = str(values.get("introduction") or "").strip()
    if not publishable(introduction):
        errors["introduction"] = (
            "The introduction contains control characters or other invalid characters; remove them."
        )
    elif len(introduction) > MAX_LONG_TEXT:
        errors["introduction"] = f"The introduction must be {MAX_LONG_TEXT} characters or fewer."
    clean["introduction"] = introduction
    for name, low, high in (("notice_period_days", 0, 365), ("objection_closes_days_before", 0, 60)):
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = f"Enter a whole number of days from {low} to {high}."
        clean[name] = value
    clean["requires_approval"] = bool(values.get("requires_approval"))
    clean["remind_on_effective"] = bool(values.get("remind_on_effective"))
    if errors:
        raise ValidationError(errors)
    return clean


def create_list(
    session: Session,
    *,
    slug: str,
    title: str,
    now: datetime,
    actor: Actor = SYSTEM,
    introduction: str = "",
    notice_period_days: int = 30,
    objection_closes_days_before: int = 1,
    requires_approval: bool = False,
    remind_on_effective: bool = False,
) -> RegisterList:
    errors = {}
    if not slug or len(slug) > 64 or not _SLUG.match(slug):
        errors["slug"] = (
            "Enter a slug of lowercase letters, digits and single hyphens (at most 64), for example "
            "'sub-processors'."
        )
    elif get_list(session, slug) is not None:
        errors["slug"] = f"A list with the slug {slug!r} already exists: choose another."
    try:
        settings = _clean_settings(
            {
                "title": title,
                "introduction": introduction,
                "notice_period_days": notice_period_days,
                "objection_closes_days_before": objection_closes_days_before,
                "requires_approval": requires_approval,
                "remind_on_effective": remind_on_effective,
            }
        )
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    register_list = RegisterList(
        slug=slug,
        position=len(all_lists(session)),
        created_at=now,
        changed_at=now,
        revision=1,
        current_version=0,
        **settings,
    )
    session.add(register_list)
    session.flush()
    record(
        session,
        "list.create",
        actor,
        now=now,
        target=("list", register_list.id),
        list_id=register_list.id,
        after={"slug": slug, **settings},
    )
    return register_list


def update_settings(
    session: Session, register_list: RegisterList, values: dict[str, Any], *, actor: Actor, now: datetime
) -> None:
    before = {name: getattr(register_list, name) for name in SETTINGS}
    clean = _clean_settings({**before, **values})
    if clean == before:
        return
    for name, value in clean.items():
        setattr(register_list, name, value)
    register_list.touch(now)
    record(
        session,
        "list.settings",
        actor,
        now=now,
        target=("list", register_list.id),
        list_id=register_list.id,
        before=before,
        after=clean,
    )


# --- versions ---------------------------------------------------------------------------------


def get_version(
    session: Session, register_list: RegisterList, number: int, *, snapshot: bool = True
) -> Version | None:
    """A version by number; ``snapshot=False`` leaves the entries to be loaded when first read
    (a revalidation of a permanent version needs only its number and publication time)."""
    query = select(Version).where(Version.list_id == register_list.id, Version.number == number)
    if not snapshot:
        query = query.options(defer(Version.snapshot))
    return session.scalar(query)


def latest_version(session: Session, register_list: RegisterList) -> Version | None:
    return get_version(session, register_list, register_list.current_version)


def versions_of(session: Session, register_list: RegisterList) -> list[Version]:
    """Every version, newest first."""
    return list(
        session.scalars(
            select(Version).where(Version.list_id == register_list.id).order_by(Version.number.desc())
        )
    )


def version_at(session: Session, register_list: RegisterList, moment: datetime) -> Version | None:
    """The version in force at ``moment``: the newest one published at or before it."""
    return session.scalar(
        select(Version)
        .where(Version.list_id == register_list.id, Version.published_at <= moment)
        .order_by(Version.number.desc())
        .limit(1)
    )


# --- entries ----------------------------------------------------------------------------------


def entry_by_slug(session: Session, register_list: RegisterList, slug: str) -> Processor | None:
    return session.scalar(
        select(Processor).where(Processor.list_id == register_list.id, Processor.slug == slug)
    )


def current_entries(session: Session, register_list: RegisterList) -> list[Processor]:
    rows = session.scalars(
        select(Processor).where(Processor.list_id == register_list.id, Processor.active.is_(True))
    )
    return sorted(rows, key=lambda p: (_KIND_ORDER.get(p.kind, 99), p.name.casefold(), p.slug))


def snapshot_of(session: Session, register_list: RegisterList) -> list[dict[str, Any]]:
    """The current entries in their canonical form, in display order."""
    return [processor_fields(row) for row in current_entries(session, register_list)]


def entry_history(session: Session, processor: Processor) -> list[Change]:
    """Every change about an entry, newest first (including the one that added it)."""
    return list(
        session.scalars(
            select(Change)
            .where(Change.processor_id == processor.id)
            .order_by(Change.updated_at.desc(), Change.id.desc())
        )
    )


# --- changes and notices ----------------------------------------------------------------------


MAX_ID = 2**31 - 1  # ids are 32-bit integers; PostgreSQL refuses to even look up a larger one


def get_change(session: Session, change_id: int) -> Change | None:
    return session.get(Change, change_id) if 0 < change_id <= MAX_ID else None


def get_notice(session: Session, notice_id: int) -> Notice | None:
    return session.get(Notice, notice_id) if 0 < notice_id <= MAX_ID else None


def changes_of(
    session: Session,
    register_list: RegisterList,
    status: ChangeStatus | None = None,
    *,
    limit: int = 100,
    offset: int = 0,
) -> list[Change]:
    """A list's changes, newest first, optionally only those in one status."""
    query = select(Change).where(Change.list_id == register_list.id)
    if status is not None:
        query = query.where(Change.status == status)
    return list(session.scalars(query.order_by(Change.id.desc()).limit(limit).offset(offset)))


def upcoming_changes(session: Session, register_list: RegisterList) -> list[Change]:
    """Announced changes not yet applied, soonest first."""
    return list(
        session.scalars(
            select(Change)
            .where(Change.list_id == register_list.id, Change.status == ChangeStatus.ANNOUNCED)
            .order_by(Change.effective_at, Change.id)
        )
    )


def drafts_of(session: Session, register_list: RegisterList | None = None) -> list[Change]:
    """Open drafts, oldest first (of one list, or of all)."""
    query = select(Change).where(Change.status == ChangeStatus.DRAFT)
    if register_list is not None:
        query = query.where(Change.list_id == register_list.id)
    return list(session.scalars(query.order_by(Change.id)))


def notices_of(session: Session, register_list: RegisterList, kind: NoticeKind) -> list[Notice]:
    """Published notices of a kind, newest first."""
    return list(
        session.scalars(
            select(Notice)
            .where(
                Notice.list_id == register_list.id,
                Notice.kind == kind,
                Notice.status == NoticeStatus.PUBLISHED,
            )
            .order_by(Notice.announced_at.desc())
        )
    )


def pending_notices(session: Session, register_list: RegisterList | None = None) -> list[Notice]:
    query = select(Notice).where(Notice.status == NoticeStatus.PENDING_APPROVAL)
    if register_list is not None:
        query = query.where(Notice.list_id == register_list.id)
    return list(session.scalars(query.order_by(Notice.id)))


def announced_notices(session: Session, register_list: RegisterList | None = None) -> list[Notice]:
    """Published announcements with changes still to take effect, soonest first."""
    query = (
        select(Notice)
        .join(Change, Change.notice_id == Notice.id)
        .where(Change.status == ChangeStatus.ANNOUNCED)
        .group_by(Notice.id)
        .order_by(Notice.effective_at, Notice.id)
    )
    if register_list is not None:
        query = query.where(Notice.list_id == register_list.id)
    return list(session.scalars(query))


def recent_changes(session: Session, *, limit: int = 20) -> list[Change]:
    """The latest applied or withdrawn changes across lists, for the dashboard."""
    return list(
        session.scalars(
            select(Change)
            .where(or_(Change.status == ChangeStatus.APPLIED, Change.status == ChangeStatus.WITHDRAWN))
            .order_by(Change.updated_at.desc(), Change.id.desc())
            .limit(limit)
        )
    )
