"""The rules of the registry: drafting, announcing, correcting, applying and withdrawing changes.

Views, jobs and commands all call these functions. They take the session and the moment (``now``)
as arguments and never commit: the caller owns the transaction, so a failure leaves nothing
half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.lists.fields import KIND_LABELS, assign_fields, clean_processor, processor_fields
from registry.lists.models import (
    Change,
    ChangeAction,
    ChangeStatus,
    Notice,
    NoticeKind,
    Processor,
    RegisterList,
    Version,
)
from registry.validation import ValidationError

_KIND_ORDER = {kind: position for position, kind in enumerate(KIND_LABELS)}


class ConflictError(ValueError):
    """The entry changed since the change was drafted; ``current`` is what it holds now."""

    def __init__(self, message: str, current: dict[str, Any] | None = None):
        super().__init__(message)
        self.current = current


# --- lists ------------------------------------------------------------------------------------


def get_list(session: Session, slug: str) -> RegisterList | None:
    return session.scalar(select(RegisterList).where(RegisterList.slug == slug))


def all_lists(session: Session) -> list[RegisterList]:
    return list(session.scalars(select(RegisterList).order_by(RegisterList.position, RegisterList.id)))


def create_list(
    session: Session,
    *,
    slug: str,
    title: str,
    now: datetime,
    introduction: str = "",
    notice_period_days: int = 30,
    objection_closes_days_before: int = 1,
) -> RegisterList:
    errors = {}
    if not slug or len(slug) > 64 or slug != slug.lower() or not slug.replace("-", "").isalnum():
        errors["slug"] = "must be lowercase letters, digits and hyphens (at most 64)"
    elif get_list(session, slug) is not None:
        errors["slug"] = f"a list with the slug {slug!r} already exists"
    if not title.strip():
        errors["title"] = "is required"
    if not 0 <= notice_period_days <= 365:
        errors["notice_period_days"] = "must be between 0 and 365 days"
    if errors:
        raise ValidationError(errors)
    position = len(all_lists(session))
    register_list = RegisterList(
        slug=slug,
        title=title.strip(),
        introduction=introduction.strip(),
        notice_period_days=notice_period_days,
        objection_closes_days_before=objection_closes_days_before,
        position=position,
        created_at=now,
        changed_at=now,
        revision=1,
        current_version=0,
    )
    session.add(register_list)
    session.flush()
    return register_list


# --- versions ---------------------------------------------------------------------------------


def get_version(session: Session, register_list: RegisterList, number: int) -> Version | None:
    return session.scalar(
        select(Version).where(Version.list_id == register_list.id, Version.number == number)
    )


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


def upcoming_changes(session: Session, register_list: RegisterList) -> list[Change]:
    """Announced changes not yet applied, soonest first."""
    return list(
        session.scalars(
            select(Change)
            .where(Change.list_id == register_list.id, Change.status == ChangeStatus.ANNOUNCED)
            .order_by(Change.effective_at, Change.id)
        )
    )


def _entry(session: Session, register_list: RegisterList, slug: str) -> Processor | None:
    return session.scalar(
        select(Processor).where(Processor.list_id == register_list.id, Processor.slug == slug)
    )


def _snapshot(session: Session, register_list: RegisterList) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Processor).where(Processor.list_id == register_list.id, Processor.active.is_(True))
    )
    entries = [processor_fields(row) for row in rows]
    entries.sort(key=lambda e: (_KIND_ORDER.get(e["kind"], 99), e["name"].casefold(), e["id"]))
    return entries


# --- drafting ---------------------------------------------------------------------------------


def draft_change(
    session: Session,
    register_list: RegisterList,
    action: ChangeAction | str,
    *,
    now: datetime,
    processor: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Change:
    """Record a private draft; ``processor`` names the existing entry (all but an addition)."""
    try:
        action = ChangeAction(action)
    except ValueError:
        raise ValidationError({"action": "must be one of: add, update, retire, replace"}) from None

    target: Processor | None = None
    if action is not ChangeAction.ADD:
        if not processor:
            raise ValidationError({"processor": f"name the entry to {action.value}"})
        target = _entry(session, register_list, processor)
        if target is None or not target.active:
            raise ValidationError({"processor": f"no current entry with the id {processor!r}"})

    proposed: dict[str, Any] | None = None
    if action is ChangeAction.RETIRE:
        if fields:
            raise ValidationError({"processor": "a retirement takes no new fields"})
    else:
        slug = target.slug if action is ChangeAction.UPDATE and target else None
        proposed = clean_processor(fields or {}, slug=slug)
        if action is not ChangeAction.UPDATE:
            existing = _entry(session, register_list, proposed["id"])
            if existing is not None and existing.active:
                raise ValidationError({"id": f"the list already has an entry with the id {proposed['id']!r}"})
        elif target is not None and proposed == processor_fields(target):
            raise ValidationError({"processor": "nothing differs from the current entry"})

    change = Change(
        list_id=register_list.id,
        action=action,
        status=ChangeStatus.DRAFT,
        processor=target,
        proposed=proposed,
        base=processor_fields(target) if target else None,
        created_at=now,
    )
    session.add(change)
    session.flush()
    return change


def _ready(changes: Sequence[Change], register_list: RegisterList) -> None:
    if not changes:
        raise ValidationError({"changes": "choose at least one change"})
    for change in changes:
        if change.list_id != register_list.id:
            raise ValidationError({"changes": f"change {change.id} belongs to another list"})
        if change.status not in (ChangeStatus.DRAFT, ChangeStatus.PENDING_APPROVAL):
            raise ValidationError({"changes": f"change {change.id} is already {change.status}"})
    targets = [c.processor_id for c in changes if c.processor_id is not None]
    if len(targets) != len(set(targets)):
        raise ValidationError({"changes": "two of these changes are about the same entry"})


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "give the public reason for this change"})
    if len(reason) > 2000:
        raise ValidationError({"reason": "must be at most 2000 characters"})
    return reason


# --- announcing and withdrawing ---------------------------------------------------------------


def earliest_effective_date(register_list: RegisterList, now: datetime) -> datetime:
    return now + timedelta(days=register_list.notice_period_days)


def announce(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    effective_at: datetime,
    now: datetime,
    short_notice_reason: str | None = None,
) -> Notice:
    """Announce drafts together as one notice that takes effect at ``effective_at``.

    An effective date inside the list's notice period needs a short-notice justification,
    which is published with the notice.
    """
    _ready(changes, register_list)
    reason = _reason(reason)
    if effective_at <= now:
        raise ValidationError({"effective_at": "must be in the future"})
    short_notice_reason = (short_notice_reason or "").strip() or None
    earliest = earliest_effective_date(register_list, now)
    if effective_at < earliest and short_notice_reason is None:
        raise ValidationError(
            {
                "effective_at": (
                    f"must leave the list's notice period of {register_list.notice_period_days} "
                    f"days (on or after {earliest:%Y-%m-%d %H:%M} UTC), or give a short-notice "
                    "justification"
                )
            }
        )
    if effective_at >= earliest:
        short_notice_reason = None
    deadline = effective_at - timedelta(days=register_list.objection_closes_days_before)
    notice = Notice(
        list_id=register_list.id,
        kind=NoticeKind.ANNOUNCEMENT,
        reason=reason,
        announced_at=now,
        effective_at=effective_at,
        objection_deadline=max(deadline, now),
        short_notice_reason=short_notice_reason,
    )
    session.add(notice)
    for change in changes:
        change.status = ChangeStatus.ANNOUNCED
        change.effective_at = effective_at
        change.notice = notice
    register_list.touch(now)
    session.flush()
    return notice


def withdraw(session: Session, notice: Notice, *, reason: str, now: datetime) -> Notice:
    """Cancel an announced notice before it takes effect; the withdrawal is itself a notice."""
    reason = _reason(reason)
    pending = [c for c in notice.changes if c.status is ChangeStatus.ANNOUNCED]
    if notice.kind is not NoticeKind.ANNOUNCEMENT or not pending:
        raise ValidationError({"notice": "only an announcement not yet in effect can be withdrawn"})
    withdrawal = Notice(
        list_id=notice.list_id,
        kind=NoticeKind.WITHDRAWAL,
        reason=reason,
        announced_at=now,
        effective_at=now,
        withdraws=notice,
    )
    session.add(withdrawal)
    for change in pending:
        change.status = ChangeStatus.WITHDRAWN
    notice.register_list.touch(now)
    session.flush()
    return withdrawal


# --- publishing -------------------------------------------------------------------------------


def publish_correction(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    now: datetime,
) -> Version:
    """Publish drafts at once, without notice (a typo, a link): versioned and logged all the same."""
    _ready(changes, register_list)
    return publish_version(session, register_list, changes, reason=_reason(reason), now=now)


def publish_version(
    session: Session,
    register_list: RegisterList,
    changes: Iterable[Change],
    *,
    reason: str,
    now: datetime,
    notice: Notice | None = None,
) -> Version:
    """Apply changes to the entries and publish the resulting list as the next version."""
    # Serialise publishers of one list: the version number is read, then written.
    session.execute(select(RegisterList.id).where(RegisterList.id == register_list.id).with_for_update())
    session.refresh(register_list)
    changes = list(changes)
    for change in changes:
        _apply(session, register_list, change, now)
    version = Version(
        list_id=register_list.id,
        number=register_list.current_version + 1,
        published_at=now,
        reason=reason,
        notice=notice,
        snapshot=_snapshot(session, register_list),
    )
    session.add(version)
    for change in changes:
        change.version = version
        change.status = ChangeStatus.APPLIED
        change.applied_at = now
        change.effective_at = change.effective_at or now
    register_list.current_version = version.number
    register_list.touch(now)
    session.flush()
    return version


def _apply(session: Session, register_list: RegisterList, change: Change, now: datetime) -> None:
    target = change.processor
    if target is not None and not target.active:
        raise ConflictError(f"{target.name} was retired since this change was drafted")
    current = processor_fields(target) if target is not None else None

    if change.action is ChangeAction.UPDATE:
        assert target is not None and change.proposed is not None and current is not None
        # Apply only what this change meant to change, so a correction published since the
        # draft is kept rather than silently reverted.
        base = change.base or current
        merged = dict(current)
        merged.update({k: v for k, v in change.proposed.items() if base.get(k) != v})
        assign_fields(target, merged)
        change.before, change.after = current, merged
        return

    if target is not None:  # retire, or the first half of a replacement
        target.active = False
        target.retired_at = now
    change.before = current
    change.after = None
    if change.action is ChangeAction.RETIRE:
        return

    assert change.proposed is not None
    entry = _entry(session, register_list, change.proposed["id"])
    if entry is not None and entry.active:
        raise ConflictError(f"the list already has an entry with the id {entry.slug!r}")
    if entry is None:
        entry = Processor(list_id=register_list.id, kind=change.proposed["kind"])
        session.add(entry)
    assign_fields(entry, change.proposed)
    entry.active = True
    entry.retired_at = None
    change.after = dict(change.proposed)
    if change.action is ChangeAction.ADD:
        change.processor = entry
    session.flush()


def due_notices(session: Session, now: datetime) -> list[int]:
    """Ids of announcements whose effective date has come and whose changes await applying."""
    return list(
        session.scalars(
            select(Notice.id)
            .join(Change, Change.notice_id == Notice.id)
            .where(Change.status == ChangeStatus.ANNOUNCED, Notice.effective_at <= now)
            .group_by(Notice.id)
            .order_by(Notice.effective_at, Notice.id)
        )
    )


def apply_notice(session: Session, notice_id: int, now: datetime) -> Version | None:
    """Apply one due notice; None if another worker did it first or it is not yet due.

    Safe to call twice: the changes leave the announced status in the transaction that publishes
    the version.
    """
    notice = session.scalar(select(Notice).where(Notice.id == notice_id).with_for_update(skip_locked=True))
    if notice is None or notice.effective_at > now:
        return None
    pending = list(
        session.scalars(
            select(Change)
            .where(Change.notice_id == notice.id, Change.status == ChangeStatus.ANNOUNCED)
            .order_by(Change.id)
            .with_for_update()
        )
    )
    if not pending:
        return None
    return publish_version(
        session,
        notice.register_list,
        pending,
        reason=notice.reason,
        now=now,
        notice=notice,
    )


def notices_of(session: Session, register_list: RegisterList, kind: NoticeKind) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.list_id == register_list.id, Notice.kind == kind)
            .order_by(Notice.announced_at.desc())
        )
    )
