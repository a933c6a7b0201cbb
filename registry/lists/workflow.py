"""The change workflow: draft, announce (with approval where the list asks for it), withdraw,
correct, publish, and apply at the effective date.

GDPR Art. 28(2): customers are told of a new or replaced sub-processor before it takes effect,
with time to object. Every rule of that is enforced here, once, for the admin pages, the API, the
CLI and the jobs alike. Functions take the session, the acting ``Actor`` and the moment; they
record an audit event for what they do and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor, record
from registry.lists.fields import assign_fields, clean_processor, processor_fields
from registry.lists.models import (
    Change,
    ChangeAction,
    ChangeStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    Processor,
    RegisterList,
    Version,
)
from registry.lists.services import entry_by_slug, snapshot_of
from registry.notifications import outbox
from registry.notifications.models import NotificationKind
from registry.validation import ValidationError, publishable


class ConflictError(ValueError):
    """Someone else changed the same thing first; ``current`` shows what it holds now."""

    def __init__(self, message: str, current: Any = None):
        super().__init__(message)
        self.current = current


# --- drafting ---------------------------------------------------------------------------------


def _open_draft_for(session: Session, processor: Processor) -> Change | None:
    return session.scalar(
        select(Change).where(
            Change.processor_id == processor.id,
            Change.status.in_([ChangeStatus.DRAFT, ChangeStatus.PENDING_APPROVAL]),
        )
    )


def _announced_removal_of(session: Session, processor: Processor) -> Change | None:
    return session.scalar(
        select(Change).where(
            Change.processor_id == processor.id,
            Change.status == ChangeStatus.ANNOUNCED,
            Change.action.in_([ChangeAction.RETIRE, ChangeAction.REPLACE]),
        )
    )


def _proposal(
    session: Session,
    register_list: RegisterList,
    action: ChangeAction,
    target: Processor | None,
    fields: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """Validate what a change proposes; None for a retirement."""
    if action is ChangeAction.RETIRE:
        if fields:
            raise ValidationError({"processor": "a retirement takes no new fields"})
        return None
    slug = target.slug if action is ChangeAction.UPDATE and target else None
    proposed = clean_processor(fields or {}, slug=slug)
    if action is ChangeAction.UPDATE:
        assert target is not None
        if proposed == processor_fields(target):
            raise ValidationError({"processor": "nothing differs from the current entry"})
        return proposed
    existing = entry_by_slug(session, register_list, proposed["id"])
    if existing is not None and existing.active:
        raise ValidationError({"id": f"the list already has an entry with the id {proposed['id']!r}"})
    return proposed


def draft_change(
    session: Session,
    register_list: RegisterList,
    action: ChangeAction | str,
    *,
    now: datetime,
    actor: Actor = SYSTEM,
    processor: str | None = None,
    fields: Mapping[str, Any] | None = None,
    base_row_version: int | None = None,
) -> Change:
    """Record a private draft; ``processor`` names the existing entry (all but an addition).

    ``base_row_version`` is the entry's ``row_version`` the editor saw: if the entry changed
    since, the draft is refused with a ``ConflictError`` showing what it holds now.
    """
    try:
        action = ChangeAction(action)
    except ValueError:
        raise ValidationError({"action": "must be one of: add, update, retire, replace"}) from None

    target: Processor | None = None
    if action is not ChangeAction.ADD:
        if not processor:
            raise ValidationError({"processor": f"name the entry to {action.value}"})
        target = entry_by_slug(session, register_list, processor)
        if target is None or not target.active:
            raise ValidationError({"processor": f"no current entry with the id {processor!r}"})
        if base_row_version is not None and target.row_version != base_row_version:
            raise ConflictError(
                f"{target.name} was changed since you opened it; compare with what it holds now.",
                processor_fields(target),
            )
        other = _open_draft_for(session, target)
        if other is not None:
            who = other.author.email if other.author else "someone"
            raise ConflictError(
                f"{target.name} already has an open draft by {who} (change {other.id}); "
                "edit or discard that one instead.",
                other,
            )
        removal = _announced_removal_of(session, target)
        if removal is not None:
            raise ValidationError(
                {
                    "processor": f"{target.name} is already announced to be {removal.action}d (change {removal.id})"
                }
            )

    change = Change(
        list_id=register_list.id,
        action=action,
        status=ChangeStatus.DRAFT,
        processor=target,
        proposed=_proposal(session, register_list, action, target, fields),
        base=processor_fields(target) if target else None,
        created_at=now,
        updated_at=now,
        author_id=actor.user_id,
    )
    session.add(change)
    session.flush()
    record(
        session,
        "change.draft",
        actor,
        now=now,
        target=("change", change.id),
        list_id=register_list.id,
        summary=f"{action} {change.subject.get('name', '')}",
        after=change.proposed,
    )
    return change


def edit_draft(
    session: Session,
    change: Change,
    fields: Mapping[str, Any] | None,
    *,
    expected_row_version: int,
    actor: Actor,
    now: datetime,
) -> Change:
    """Replace a draft's proposed fields, unless someone saved it since ``expected_row_version``."""
    if change.status is not ChangeStatus.DRAFT:
        raise ValidationError({"change": f"change {change.id} is {change.status}, not a draft"})
    if change.row_version != expected_row_version:
        raise ConflictError("Someone else saved this draft since you opened it.", change.proposed)
    before = change.proposed
    change.proposed = _proposal(session, change.register_list, change.action, change.processor, fields)
    change.updated_at = now
    session.flush()
    record(
        session,
        "change.edit",
        actor,
        now=now,
        target=("change", change.id),
        list_id=change.list_id,
        before=before,
        after=change.proposed,
    )
    return change


def discard_draft(session: Session, change: Change, *, actor: Actor, now: datetime) -> None:
    if change.status is not ChangeStatus.DRAFT:
        raise ValidationError({"change": f"change {change.id} is {change.status}, not a draft"})
    change.status = ChangeStatus.DISCARDED
    change.updated_at = now
    record(
        session,
        "change.discard",
        actor,
        now=now,
        target=("change", change.id),
        list_id=change.list_id,
        before=change.proposed or change.base,
    )


def _ready(changes: Sequence[Change], register_list: RegisterList) -> None:
    if not changes:
        raise ValidationError({"changes": "choose at least one change"})
    for change in changes:
        if change.list_id != register_list.id:
            raise ValidationError({"changes": f"change {change.id} belongs to another list"})
        if change.status is not ChangeStatus.DRAFT:
            raise ValidationError({"changes": f"change {change.id} is {change.status}, not a draft"})
    targets = [c.processor_id for c in changes if c.processor_id is not None]
    if len(targets) != len(set(targets)):
        raise ValidationError({"changes": "two of these changes are about the same entry"})


def _reason(reason: str | None, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not publishable(reason):
        raise ValidationError({field: "must not contain control characters or other invalid characters"})
    if not reason:
        raise ValidationError({field: "give the public reason for this"})
    if len(reason) > 2000:
        raise ValidationError({field: "must be at most 2000 characters"})
    return reason


# --- announcing, approving, withdrawing -------------------------------------------------------


def earliest_effective_date(register_list: RegisterList, now: datetime) -> datetime:
    return now + timedelta(days=register_list.notice_period_days)


def _check_dates(
    register_list: RegisterList, effective_at: datetime, short_notice_reason: str | None, now: datetime
) -> str | None:
    """Validate the effective date against the notice period; the short-notice reason to keep."""
    if effective_at.tzinfo is None:
        raise ValidationError({"effective_at": "needs a time zone"})
    if effective_at <= now:
        raise ValidationError({"effective_at": "must be in the future"})
    earliest = earliest_effective_date(register_list, now)
    if effective_at >= earliest:
        return None
    if not short_notice_reason:
        raise ValidationError(
            {
                "effective_at": (
                    f"must leave the list's notice period of {register_list.notice_period_days} "
                    f"days (on or after {earliest:%Y-%m-%d %H:%M} UTC), or give a short-notice "
                    "justification"
                )
            }
        )
    return short_notice_reason


def announce(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    effective_at: datetime,
    now: datetime,
    actor: Actor = SYSTEM,
    short_notice_reason: str | None = None,
) -> Notice:
    """Announce drafts together as one notice that takes effect at ``effective_at``.

    An effective date inside the list's notice period needs a short-notice justification, which
    is published with the notice. Where the list requires approval, the notice waits for a
    second editor (``approve``) and nothing is public until then.
    """
    _ready(changes, register_list)
    reason = _reason(reason)
    short_notice_reason = (short_notice_reason or "").strip()[:2000] or None
    short_notice_reason = _check_dates(register_list, effective_at, short_notice_reason, now)
    notice = Notice(
        list_id=register_list.id,
        kind=NoticeKind.ANNOUNCEMENT,
        status=NoticeStatus.PENDING_APPROVAL,
        reason=reason,
        effective_at=effective_at,
        short_notice_reason=short_notice_reason,
        author_id=actor.user_id,
        created_at=now,
    )
    session.add(notice)
    for change in changes:
        change.status = ChangeStatus.PENDING_APPROVAL
        change.notice = notice
        change.updated_at = now
    session.flush()
    if register_list.requires_approval:
        record(
            session,
            "notice.request_approval",
            actor,
            now=now,
            target=("notice", notice.id),
            list_id=register_list.id,
            summary=reason,
            after=_notice_details(notice),
        )
        return notice
    return _publish_notice(session, notice, actor=actor, now=now)


def _publish_notice(session: Session, notice: Notice, *, actor: Actor, now: datetime) -> Notice:
    register_list = notice.register_list
    notice.status = NoticeStatus.PUBLISHED
    notice.announced_at = now
    deadline = notice.effective_at - timedelta(days=register_list.objection_closes_days_before)
    notice.objection_deadline = max(deadline, now)
    for change in notice.changes:
        change.status = ChangeStatus.ANNOUNCED
        change.effective_at = notice.effective_at
    register_list.touch(now)
    session.flush()
    record(
        session,
        "notice.announce",
        actor,
        now=now,
        target=("notice", notice.id),
        list_id=register_list.id,
        summary=notice.reason,
        after=_notice_details(notice),
    )
    if notice.short_notice_reason:
        record(
            session,
            "notice.short_notice",
            actor,
            now=now,
            target=("notice", notice.id),
            list_id=register_list.id,
            summary=notice.short_notice_reason,
        )
    # Subscribers are owed the notice from the moment it is public: same transaction.
    outbox.fan_out(session, notice, now=now)
    return notice


def approve(session: Session, notice: Notice, *, actor: Actor, now: datetime) -> Notice:
    """A second editor approves an announcement; it is published now. The author cannot approve."""
    if notice.status is not NoticeStatus.PENDING_APPROVAL:
        raise ValidationError({"notice": f"this notice is {notice.status}, not awaiting approval"})
    if actor.user_id is None or actor.user_id == notice.author_id:
        raise ValidationError(
            {"notice": "an announcement must be approved by another editor than its author"}
        )
    # The notice period counts from publication, so it is checked again now.
    notice.short_notice_reason = _check_dates(
        notice.register_list, notice.effective_at, notice.short_notice_reason, now
    )
    notice.approver_id = actor.user_id
    return _publish_notice(session, notice, actor=actor, now=now)


def reject(session: Session, notice: Notice, *, reason: str, actor: Actor, now: datetime) -> None:
    """Send an announcement back: its changes become drafts again, nothing was public."""
    if notice.status is not NoticeStatus.PENDING_APPROVAL:
        raise ValidationError({"notice": f"this notice is {notice.status}, not awaiting approval"})
    reason = _reason(reason)
    notice.status = NoticeStatus.REJECTED
    notice.approver_id = actor.user_id
    for change in list(notice.changes):
        change.status = ChangeStatus.DRAFT
        change.notice = None
        change.updated_at = now
    record(
        session,
        "notice.reject",
        actor,
        now=now,
        target=("notice", notice.id),
        list_id=notice.list_id,
        summary=reason,
    )


def withdraw(
    session: Session, notice: Notice, *, reason: str, now: datetime, actor: Actor = SYSTEM
) -> Notice:
    """Cancel an announced notice before it takes effect; the withdrawal is itself a notice."""
    reason = _reason(reason)
    pending = [c for c in notice.changes if c.status is ChangeStatus.ANNOUNCED]
    if notice.kind is not NoticeKind.ANNOUNCEMENT or not pending:
        raise ValidationError({"notice": "only an announcement not yet in effect can be withdrawn"})
    withdrawal = Notice(
        list_id=notice.list_id,
        kind=NoticeKind.WITHDRAWAL,
        status=NoticeStatus.PUBLISHED,
        reason=reason,
        announced_at=now,
        effective_at=now,
        withdraws=notice,
        author_id=actor.user_id,
        created_at=now,
    )
    session.add(withdrawal)
    for change in pending:
        change.status = ChangeStatus.WITHDRAWN
        change.updated_at = now
    notice.register_list.touch(now)
    session.flush()
    record(
        session,
        "notice.withdraw",
        actor,
        now=now,
        target=("notice", notice.id),
        list_id=notice.list_id,
        summary=reason,
        before=_notice_details(notice),
    )
    outbox.fan_out(session, withdrawal, now=now)
    return withdrawal


def _notice_details(notice: Notice) -> dict[str, Any]:
    return {
        "effective_at": notice.effective_at.isoformat(),
        "short_notice_reason": notice.short_notice_reason,
        "changes": _summaries(notice.changes),
    }


def _summaries(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """Which changes, as the audit trail shows them."""
    return [{"id": c.id, "action": str(c.action), "processor": c.subject.get("name")} for c in changes]


# --- publishing -------------------------------------------------------------------------------


def publish_correction(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    now: datetime,
    actor: Actor = SYSTEM,
) -> Version:
    """Publish drafts at once, without notice (a typo, a link): versioned and logged all the same."""
    _ready(changes, register_list)
    version = publish_version(session, register_list, changes, reason=_reason(reason), now=now)
    record(
        session,
        "version.correction",
        actor,
        now=now,
        target=("version", version.id),
        list_id=register_list.id,
        summary=version.reason,
        after=_summaries(changes),
    )
    return version


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
        snapshot=snapshot_of(session, register_list),
    )
    session.add(version)
    for change in changes:
        change.version = version
        change.status = ChangeStatus.APPLIED
        change.applied_at = now
        change.updated_at = now
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
    if not change.proposed.get("since"):
        # An entry starts processing when its addition takes effect, unless the editor said when.
        change.proposed = {**change.proposed, "since": now.date().isoformat()}
    entry = entry_by_slug(session, register_list, change.proposed["id"])
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
    """Ids of published announcements whose effective date has come, with changes to apply."""
    return list(
        session.scalars(
            select(Notice.id)
            .join(Change, Change.notice_id == Notice.id)
            .where(Change.status == ChangeStatus.ANNOUNCED, Notice.effective_at <= now)
            .group_by(Notice.id)
            .order_by(Notice.id)
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
    version = publish_version(
        session, notice.register_list, pending, reason=notice.reason, now=now, notice=notice
    )
    record(
        session,
        "version.apply",
        SYSTEM,
        now=now,
        target=("version", version.id),
        list_id=notice.list_id,
        summary=f"notice {notice.id} took effect as version {version.number}",
    )
    if notice.register_list.remind_on_effective:
        outbox.fan_out(session, notice, now=now, kind=NotificationKind.REMINDER)
    return version
