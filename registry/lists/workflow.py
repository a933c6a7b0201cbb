"""The change workflow of a list: draft, announce (with approval where the list asks for it),
withdraw, correct, and apply at the effective date.

GDPR Art. 28(2): customers are told of a new or replaced sub-processor before it takes effect,
with time to object. The rules themselves (notice period, four eyes, withdrawal, what a
correction may change) live in ``registry.publishing``, shared with documents; this module
applies them to a list's changes and notices. Functions take the session, the acting ``Actor``
and the moment; they record an audit event for what they do, emit the publication events that
owe subscribers their messages, and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor, record
from registry.lists.fields import (
    FIELD_LABELS,
    LIST_FIELDS,
    MATERIAL_FIELDS,
    WORDING_FIELDS,
    assign_fields,
    clean_processor,
    processor_fields,
)
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
from registry.lists.wording import change_headline, notice_title
from registry.publishing import corrections, events, rules
from registry.publishing.rules import ConflictError
from registry.validation import ValidationError

__all__ = [
    "ConflictError",
    "announce",
    "apply_notice",
    "approve",
    "check_approver",
    "contributors",
    "correct",
    "discard_draft",
    "draft_change",
    "due_notices",
    "earliest_effective_date",
    "edit_draft",
    "reject",
    "withdraw",
]


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
            raise ValidationError({"processor": "A retirement takes no new fields."})
        return None
    slug = target.slug if action is ChangeAction.UPDATE and target else None
    proposed = clean_processor(fields or {}, slug=slug)
    if action is ChangeAction.UPDATE:
        assert target is not None
        if proposed == processor_fields(target):
            raise ValidationError({"processor": "Nothing differs from the current entry."})
        return proposed
    existing = entry_by_slug(session, register_list, proposed["id"])
    if existing is not None and existing.active:
        raise ValidationError({"id": f"The list already has an entry with the id {proposed['id']!r}."})
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
        raise ValidationError({"action": "Choose one of: add, update, retire, replace."}) from None

    target: Processor | None = None
    if action is not ChangeAction.ADD:
        if not processor:
            raise ValidationError({"processor": f"Name the entry to {action.value}."})
        target = entry_by_slug(session, register_list, processor)
        if target is None or not target.active:
            raise ValidationError({"processor": f"There is no current entry with the id {processor!r}."})
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
            raise ConflictError(
                f"{target.name} is already announced to be {removal.action}d (change {removal.id}).",
                removal,
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
        contributor_ids=rules.contributors_with(None, actor.user_id),
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
        summary=change_headline(change),
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
    """Replace a draft's proposed fields, unless someone saved it since ``expected_row_version``.

    The editor becomes a contributor of the change, so they cannot approve it either.
    """
    rules.require_state(change.status, ChangeStatus.DRAFT, what=f"change {change.id}")
    if change.row_version != expected_row_version:
        raise ConflictError("Someone else saved this draft since you opened it.", change.proposed)
    before = change.proposed
    change.proposed = _proposal(session, change.register_list, change.action, change.processor, fields)
    change.contributor_ids = rules.contributors_with(change.contributor_ids, actor.user_id)
    change.updated_at = now
    session.flush()
    record(
        session,
        "change.edit",
        actor,
        now=now,
        target=("change", change.id),
        list_id=change.list_id,
        summary=change_headline(change),
        before=before,
        after=change.proposed,
    )
    return change


def discard_draft(session: Session, change: Change, *, actor: Actor, now: datetime) -> None:
    """Drop a draft nobody has seen; anything announced or applied is past discarding (409)."""
    rules.require_state(change.status, ChangeStatus.DRAFT, what=f"change {change.id}")
    change.status = ChangeStatus.DISCARDED
    change.updated_at = now
    record(
        session,
        "change.discard",
        actor,
        now=now,
        target=("change", change.id),
        list_id=change.list_id,
        summary=change_headline(change),
        before=change.proposed or change.base,
    )


def _ready(changes: Sequence[Change], register_list: RegisterList) -> None:
    if not changes:
        raise ValidationError({"changes": "Choose at least one change."})
    for change in changes:
        if change.list_id != register_list.id:
            raise ValidationError({"changes": f"Change {change.id} belongs to another list."})
        rules.require_state(change.status, ChangeStatus.DRAFT, what=f"change {change.id}")
    targets = [c.processor_id for c in changes if c.processor_id is not None]
    if len(targets) != len(set(targets)):
        raise ValidationError({"changes": "Two of these changes are about the same entry."})


def contributors(notice: Notice) -> set[int]:
    """Everyone who drafted, edited or announced any part of ``notice``: none may approve it."""
    ids = {notice.author_id} if notice.author_id is not None else set()
    for change in notice.changes:
        ids.update(change.contributor_ids or [])
        if change.author_id is not None:
            ids.add(change.author_id)
    return ids


def check_approver(notice: Notice, actor: Actor) -> None:
    """Four eyes: refuse ``actor`` as the approver of ``notice`` if they took part in it."""
    rules.check_approver(actor.user_id, contributors(notice), what="notice")


# --- announcing, approving, withdrawing -------------------------------------------------------


def earliest_effective_date(register_list: RegisterList, now: datetime) -> datetime:
    return rules.earliest_effective_date(register_list.notice_period_days, now)


def _check_dates(
    register_list: RegisterList, effective_at: datetime, short_notice_reason: str | None, now: datetime
) -> str | None:
    return rules.check_effective_date(
        effective_at,
        notice_period_days=register_list.notice_period_days,
        short_notice_reason=short_notice_reason,
        now=now,
        what="list",
    )


def _hold(session: Session, notice: Notice, changes: Sequence[Change], now: datetime) -> None:
    session.add(notice)
    for change in changes:
        change.status = ChangeStatus.PENDING_APPROVAL
        change.notice = notice
        change.updated_at = now
    session.flush()


def _request_approval(session: Session, notice: Notice, actor: Actor, now: datetime) -> Notice:
    record(
        session,
        "notice.request_approval",
        actor,
        now=now,
        target=("notice", notice.id),
        list_id=notice.list_id,
        summary=notice.reason,
        after=_notice_details(notice),
    )
    return notice


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
    second person (``approve``) and nothing is public until then.
    """
    _ready(changes, register_list)
    notice = Notice(
        list_id=register_list.id,
        kind=NoticeKind.ANNOUNCEMENT,
        status=NoticeStatus.PENDING_APPROVAL,
        reason=rules.public_reason(reason),
        effective_at=effective_at,
        short_notice_reason=_check_dates(register_list, effective_at, short_notice_reason, now),
        author_id=actor.user_id,
        created_at=now,
    )
    _hold(session, notice, changes, now)
    if register_list.requires_approval:
        return _request_approval(session, notice, actor, now)
    return _publish_notice(session, notice, actor=actor, now=now)


def _publish_notice(session: Session, notice: Notice, *, actor: Actor, now: datetime) -> Notice:
    register_list = notice.register_list
    notice.status = NoticeStatus.PUBLISHED
    notice.announced_at = now
    notice.objection_deadline = rules.objection_deadline(
        notice.effective_at, register_list.objection_closes_days_before, now
    )
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
    events.emit(events.announced, notice, session=session, now=now)
    return notice


def approve(session: Session, notice: Notice, *, actor: Actor, now: datetime) -> Notice:
    """A second person approves a notice (an announcement or a correction); it is public now.

    Nobody who drafted, edited or announced any part of it may approve it.
    """
    rules.require_state(
        notice.status, NoticeStatus.PENDING_APPROVAL, what="notice", current=_notice_state(notice)
    )
    check_approver(notice, actor)
    notice.approver_id = actor.user_id
    if notice.kind is NoticeKind.CORRECTION:
        _publish_correction(session, notice, actor=actor, now=now)
        return notice
    # The notice period counts from publication, so it is checked again now.
    notice.short_notice_reason = _check_dates(
        notice.register_list, notice.effective_at, notice.short_notice_reason, now
    )
    return _publish_notice(session, notice, actor=actor, now=now)


def reject(session: Session, notice: Notice, *, reason: str, actor: Actor, now: datetime) -> None:
    """Send a notice back: its changes become drafts again, nothing was public."""
    rules.require_state(
        notice.status, NoticeStatus.PENDING_APPROVAL, what="notice", current=_notice_state(notice)
    )
    reason = rules.public_reason(reason)
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
    """Cancel an announced notice before it takes effect; the withdrawal is itself a notice,
    published in the change log and told to subscribers and to everyone who objected."""
    reason = rules.public_reason(reason)
    pending = [c for c in notice.changes if c.status is ChangeStatus.ANNOUNCED]
    rules.check_withdrawable(
        notice.kind is NoticeKind.ANNOUNCEMENT and notice.status is NoticeStatus.PUBLISHED and bool(pending),
        notice.effective_at,
        now,
        what="notice",
        current=_notice_state(notice),
    )
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
    events.emit(events.withdrawn, withdrawal, session=session, now=now)
    return withdrawal


def _notice_details(notice: Notice) -> dict[str, Any]:
    return {
        "kind": str(notice.kind),
        "title": notice_title(notice),
        "effective_at": notice.effective_at.isoformat(),
        "short_notice_reason": notice.short_notice_reason,
        "changes": _summaries(notice.changes),
    }


def _notice_state(notice: Notice) -> dict[str, Any]:
    """Where a notice stands, for the answer to a conflicting request."""
    return {"id": notice.id, "kind": str(notice.kind), "status": str(notice.status)}


def _summaries(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """Which changes, as the audit trail shows them."""
    return [
        {
            "id": c.id,
            "action": str(c.action),
            "processor": c.subject.get("name"),
            "headline": change_headline(c),
        }
        for c in changes
    ]


# --- corrections ------------------------------------------------------------------------------


def check_correction(change: Change) -> None:
    """A correction only fixes wording and links of an entry already published."""
    name = str((change.base or change.subject).get("name", "this entry"))
    corrections.check_correction(
        str(change.action),
        change.base,
        change.proposed,
        material=MATERIAL_FIELDS,
        labels=FIELD_LABELS,
        name=name,
    )
    assert change.base is not None and change.proposed is not None
    corrections.check_wording(
        change.base, change.proposed, fields=WORDING_FIELDS, labels=FIELD_LABELS, name=name
    )
    was, now = change.base.get("since"), change.proposed.get("since")
    if was and now and str(now) < str(was):
        raise ValidationError(
            {
                "changes": (
                    f"The change to {name} moves the date it processes since earlier, to {now}: "
                    f"customers were told {was}. {corrections.ANNOUNCE_INSTEAD}"
                )
            }
        )


def correct(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    now: datetime,
    actor: Actor = SYSTEM,
) -> Notice:
    """Publish drafts at once, without notice, as a correction (a typo, a link).

    Refused for anything that widens or alters processing (``check_correction``). Where the
    list requires approval, the correction waits for a second person like any notice; once
    published it is a version of its own, in the change log with its reason, and told to
    subscribers (with no objection window: nothing widened).
    """
    _ready(changes, register_list)
    for change in changes:
        check_correction(change)
    notice = Notice(
        list_id=register_list.id,
        kind=NoticeKind.CORRECTION,
        status=NoticeStatus.PENDING_APPROVAL,
        reason=rules.public_reason(reason),
        effective_at=now,
        author_id=actor.user_id,
        created_at=now,
    )
    _hold(session, notice, changes, now)
    if register_list.requires_approval:
        return _request_approval(session, notice, actor, now)
    _publish_correction(session, notice, actor=actor, now=now)
    return notice


def correct_entry(
    session: Session,
    register_list: RegisterList,
    processor: str,
    fields: Mapping[str, Any],
    *,
    reason: str,
    now: datetime,
    actor: Actor = SYSTEM,
) -> Notice:
    """Draft an update of one entry and publish it as a correction, in one step (the API's)."""
    change = draft_change(
        session, register_list, ChangeAction.UPDATE, processor=processor, fields=fields, now=now, actor=actor
    )
    return correct(session, register_list, [change], reason=reason, now=now, actor=actor)


def _publish_correction(session: Session, notice: Notice, *, actor: Actor, now: datetime) -> Version:
    changes = list(notice.changes)
    for change in changes:  # checked again: a draft may have been edited while it waited
        check_correction(change)
    notice.status = NoticeStatus.PUBLISHED
    notice.announced_at = notice.effective_at = now
    version = publish_version(
        session, notice.register_list, changes, reason=notice.reason, now=now, notice=notice
    )
    record(
        session,
        "version.correction",
        actor,
        now=now,
        target=("version", version.id),
        list_id=notice.list_id,
        summary=notice.reason,
        after=_summaries(changes),
    )
    events.emit(events.corrected, notice, session=session, now=now, version=version)
    return version


# --- publishing -------------------------------------------------------------------------------


def publish_first_version(
    session: Session,
    register_list: RegisterList,
    changes: Sequence[Change],
    *,
    reason: str,
    now: datetime,
    actor: Actor = SYSTEM,
) -> Version:
    """Publish a list for the first time: nobody has read it, so there is nobody to notify.

    Only while the list has no version: after that every change goes through a notice or a
    correction.
    """
    if register_list.current_version:
        raise ConflictError(
            f"{register_list.title} is already published (version {register_list.current_version}): "
            "announce changes with notice, or publish a correction."
        )
    _ready(changes, register_list)
    # A first version describes processing that was already going on: today is not when it
    # began, so an entry the editor did not date stays undated.
    version = publish_version(
        session, register_list, changes, reason=rules.public_reason(reason), now=now, date_additions=False
    )
    record(
        session,
        "version.first",
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
    date_additions: bool = True,
) -> Version:
    """Apply changes to the entries and publish the resulting list as the next version.

    ``date_additions``: an added entry the editor did not date processes since ``now``.
    """
    # Serialise publishers of one list: the version number is read, then written.
    session.execute(select(RegisterList.id).where(RegisterList.id == register_list.id).with_for_update())
    session.refresh(register_list)
    changes = list(changes)
    for change in changes:
        _apply(session, register_list, change, now, date_additions=date_additions)
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


def _apply(
    session: Session,
    register_list: RegisterList,
    change: Change,
    now: datetime,
    *,
    date_additions: bool = True,
) -> None:
    target = change.processor
    if target is not None and not target.active:
        raise ConflictError(f"{target.name} was retired since this change was drafted.")
    current = processor_fields(target) if target is not None else None

    if change.action is ChangeAction.UPDATE:
        assert target is not None and change.proposed is not None and current is not None
        # Apply only what this change meant to change, so a change published since the draft
        # (a correction, another notice) is kept rather than silently reverted.
        merged = merge_update(current, change.base or current, change.proposed)
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
    if date_additions and not change.proposed.get("since"):
        # An entry starts processing when its addition takes effect, unless the editor said when.
        change.proposed = {**change.proposed, "since": now.date().isoformat()}
    entry = entry_by_slug(session, register_list, change.proposed["id"])
    if entry is not None and entry.active:
        raise ConflictError(f"The list already has an entry with the id {entry.slug!r}.")
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


def merge_update(
    current: Mapping[str, Any], base: Mapping[str, Any], proposed: Mapping[str, Any]
) -> dict[str, Any]:
    """The entry after an update drafted against ``base``, applied to what it holds now.

    A field the update did not touch keeps its current value. A list field (locations, data
    categories) gets the items the update added and loses those it removed, so two notices
    about the same entry both take effect: one removing a location and one adding another
    never bring the removed one back.
    """
    merged = dict(current)
    for name, value in proposed.items():
        was = base.get(name)
        if was == value:
            continue
        if name in LIST_FIELDS and isinstance(value, list) and isinstance(was, list):
            now_held = list(current.get(name) or [])
            added = [item for item in value if item not in was and item not in now_held]
            merged[name] = [item for item in now_held if item in value or item not in was] + added
            if name == "transfer_mechanisms" and "none" in merged[name] and len(merged[name]) > 1:
                # "No transfer" next to a mechanism says nothing: this change's own list stands.
                merged[name] = list(value)
        else:
            merged[name] = value
    return merged


def due_notices(session: Session, now: datetime) -> list[int]:
    """Ids of published announcements whose effective date has come, with changes to apply."""
    return list(
        session.scalars(
            select(Notice.id)
            .join(Change, Change.notice_id == Notice.id)
            .where(
                Notice.kind == NoticeKind.ANNOUNCEMENT,
                Change.status == ChangeStatus.ANNOUNCED,
                Notice.effective_at <= now,
            )
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
        summary=f"{notice_title(notice)}: in effect as version {version.number}",
    )
    events.emit(events.applied, notice, session=session, now=now, version=version)
    return version
