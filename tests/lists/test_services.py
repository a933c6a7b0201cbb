"""The change workflow's rules: drafts, notice periods, corrections, applying and withdrawing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.lists import services, workflow
from registry.lists.models import (
    Change,
    ChangeStatus,
    NoticeKind,
    Processor,
    RegisterList,
    Version,
)
from registry.validation import ValidationError
from tests.conftest import NOW, entry


@pytest.fixture
def register_list(session: Session) -> RegisterList:
    register_list = services.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    changes = [
        workflow.draft_change(session, register_list, "add", fields=entry(name), now=NOW)
        for name in ("Microsoft Azure", "Amazon Web Services")
    ]
    workflow.publish_first_version(session, register_list, changes, reason="First publication.", now=NOW)
    session.commit()
    return register_list


def _draft(
    session: Session, register_list: RegisterList, action: str, target: str | None = None, **fields: Any
) -> Change:
    return workflow.draft_change(
        session, register_list, action, processor=target, fields=fields or None, now=NOW
    )


def test_first_publication_is_version_one(session: Session, register_list: RegisterList) -> None:
    version = services.latest_version(session, register_list)
    assert version is not None and version.number == 1
    assert [e["id"] for e in version.snapshot] == ["amazon-web-services", "microsoft-azure"]
    assert version.published_at == NOW
    assert all(c.status is ChangeStatus.APPLIED for c in version.changes)


def test_create_list_refuses_duplicates_and_bad_slugs(session: Session, register_list: RegisterList) -> None:
    with pytest.raises(ValidationError) as caught:
        services.create_list(session, slug="sub-processors", title="Again", now=NOW)
    assert "already exists" in caught.value.errors["slug"]
    with pytest.raises(ValidationError):
        services.create_list(session, slug="Not OK", title="", now=NOW)


def test_drafts_are_private_until_announced(session: Session, register_list: RegisterList) -> None:
    revision = register_list.revision
    _draft(session, register_list, "add", **entry("Stripe"))
    session.commit()
    assert services.upcoming_changes(session, register_list) == []
    assert register_list.revision == revision


def test_announce_needs_the_notice_period(session: Session, register_list: RegisterList) -> None:
    change = _draft(session, register_list, "add", **entry("Stripe"))
    with pytest.raises(ValidationError) as caught:
        workflow.announce(
            session,
            register_list,
            [change],
            reason="New payments provider.",
            effective_at=NOW + timedelta(days=29),
            now=NOW,
        )
    assert "notice period is 30 days" in caught.value.errors["effective_at"]
    assert change.status is ChangeStatus.DRAFT

    notice = workflow.announce(
        session,
        register_list,
        [change],
        reason="New payments provider.",
        effective_at=NOW + timedelta(days=30),
        now=NOW,
    )
    assert notice.short_notice_reason is None
    assert notice.objection_deadline == NOW + timedelta(days=29)
    assert change.status is ChangeStatus.ANNOUNCED
    assert services.upcoming_changes(session, register_list) == [change]


def test_short_notice_needs_and_keeps_a_justification(session: Session, register_list: RegisterList) -> None:
    change = _draft(session, register_list, "add", **entry("Stripe"))
    notice = workflow.announce(
        session,
        register_list,
        [change],
        reason="Urgent.",
        effective_at=NOW + timedelta(days=3),
        now=NOW,
        short_notice_reason="Our previous provider is shutting down.",
    )
    assert notice.short_notice_reason == "Our previous provider is shutting down."
    assert notice.objection_deadline == NOW + timedelta(days=2)


def test_announce_refuses_past_dates_empty_reasons_and_nothing(
    session: Session, register_list: RegisterList
) -> None:
    change = _draft(session, register_list, "add", **entry("Stripe"))
    with pytest.raises(ValidationError, match="future"):
        workflow.announce(
            session,
            register_list,
            [change],
            reason="x",
            effective_at=NOW,
            now=NOW,
            short_notice_reason="urgent",
        )
    with pytest.raises(ValidationError, match="reason"):
        workflow.announce(
            session, register_list, [change], reason="  ", effective_at=NOW + timedelta(days=40), now=NOW
        )
    with pytest.raises(ValidationError, match="at least one"):
        workflow.announce(
            session, register_list, [], reason="x", effective_at=NOW + timedelta(days=40), now=NOW
        )


def test_draft_rules(session: Session, register_list: RegisterList) -> None:
    with pytest.raises(ValidationError, match="already has an entry"):
        _draft(session, register_list, "add", **entry("Microsoft Azure"))
    with pytest.raises(ValidationError, match="no current entry"):
        _draft(session, register_list, "retire", "nobody")
    current = services.latest_version(session, register_list).snapshot[1]  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="Nothing differs"):
        _draft(session, register_list, "update", "microsoft-azure", **current)
    with pytest.raises(ValidationError, match="action"):
        _draft(session, register_list, "delete", "microsoft-azure")
    with pytest.raises(ValidationError, match="Name the entry"):
        _draft(session, register_list, "update", None, **entry("X"))


def test_applying_a_notice_publishes_a_version_once(session: Session, register_list: RegisterList) -> None:
    add = _draft(session, register_list, "add", **entry("Stripe", locations=["IE", "US"]))
    retire = _draft(session, register_list, "retire", "amazon-web-services")
    notice = workflow.announce(
        session,
        register_list,
        [add, retire],
        reason="Payments in, storage out.",
        effective_at=NOW + timedelta(days=31),
        now=NOW,
    )
    session.commit()

    assert workflow.due_notices(session, NOW + timedelta(days=30)) == []
    assert workflow.apply_notice(session, notice.id, NOW + timedelta(days=30)) is None

    later = NOW + timedelta(days=31, minutes=1)
    assert workflow.due_notices(session, later) == [notice.id]
    version = workflow.apply_notice(session, notice.id, later)
    session.commit()
    assert version is not None and version.number == 2 and version.notice_id == notice.id
    assert [e["id"] for e in version.snapshot] == ["microsoft-azure", "stripe"]
    assert add.before is None and add.after["locations"] == ["IE", "US"]  # type: ignore[index]
    # Left empty by the editor, "processing since" is the day the addition took effect.
    assert add.after["since"] == later.date().isoformat()  # type: ignore[index]
    assert retire.before["id"] == "amazon-web-services" and retire.after is None  # type: ignore[index]

    # A second run (or a second worker) finds nothing to do.
    assert workflow.apply_notice(session, notice.id, later) is None
    assert workflow.due_notices(session, later) == []
    assert session.scalar(select(func.count()).select_from(Version)) == 2


def test_replace_retires_one_and_adds_the_other(session: Session, register_list: RegisterList) -> None:
    replace = _draft(session, register_list, "replace", "amazon-web-services", **entry("Hetzner"))
    version = workflow.publish_version(session, register_list, [replace], reason="Moved.", now=NOW)
    assert [e["id"] for e in version.snapshot] == ["hetzner", "microsoft-azure"]
    assert replace.before["name"] == "Amazon Web Services"  # type: ignore[index]
    assert replace.after["name"] == "Hetzner"  # type: ignore[index]
    old = session.scalar(select(Processor).where(Processor.slug == "amazon-web-services"))
    assert old is not None and not old.active and old.retired_at == NOW


def test_an_update_keeps_a_correction_published_since_its_draft(
    session: Session, register_list: RegisterList
) -> None:
    current = {e["id"]: e for e in services.latest_version(session, register_list).snapshot}  # type: ignore[union-attr]
    announced = _draft(
        session,
        register_list,
        "update",
        "microsoft-azure",
        **{**current["microsoft-azure"], "locations": ["DE", "US"]},
    )
    notice = workflow.announce(
        session,
        register_list,
        [announced],
        reason="US region.",
        effective_at=NOW + timedelta(days=30),
        now=NOW,
    )
    typo = _draft(
        session,
        register_list,
        "update",
        "microsoft-azure",
        **{**current["microsoft-azure"], "purpose": current["microsoft-azure"]["purpose"] + " Fixed."},
    )
    workflow.correct(session, register_list, [typo], reason="Typo.", now=NOW)

    version = workflow.apply_notice(session, notice.id, NOW + timedelta(days=30))
    azure = next(e for e in version.snapshot if e["id"] == "microsoft-azure")  # type: ignore[union-attr]
    assert azure["locations"] == ["DE", "US"]
    assert azure["purpose"] == current["microsoft-azure"]["purpose"] + " Fixed."


def test_withdrawal_is_a_notice_and_stops_the_change(session: Session, register_list: RegisterList) -> None:
    change = _draft(session, register_list, "add", **entry("Stripe"))
    notice = workflow.announce(
        session, register_list, [change], reason="Payments.", effective_at=NOW + timedelta(days=30), now=NOW
    )
    withdrawal = workflow.withdraw(
        session, notice, reason="We chose another provider.", now=NOW + timedelta(days=1)
    )
    session.commit()
    assert withdrawal.kind is NoticeKind.WITHDRAWAL and withdrawal.withdraws is notice
    assert change.status is ChangeStatus.WITHDRAWN
    assert services.upcoming_changes(session, register_list) == []
    assert workflow.due_notices(session, NOW + timedelta(days=60)) == []
    with pytest.raises(workflow.ConflictError):
        workflow.withdraw(session, notice, reason="again", now=NOW + timedelta(days=2))


def test_version_at_a_moment(session: Session, register_list: RegisterList) -> None:
    change = _draft(session, register_list, "retire", "amazon-web-services")
    workflow.publish_version(session, register_list, [change], reason="Gone.", now=NOW + timedelta(days=5))
    assert services.version_at(session, register_list, NOW - timedelta(seconds=1)) is None
    assert services.version_at(session, register_list, NOW).number == 1  # type: ignore[union-attr]
    assert services.version_at(session, register_list, NOW + timedelta(days=4)).number == 1  # type: ignore[union-attr]
    assert services.version_at(session, register_list, NOW + timedelta(days=5)).number == 2  # type: ignore[union-attr]


def test_readding_a_retired_entry_revives_it(session: Session, register_list: RegisterList) -> None:
    retire = _draft(session, register_list, "retire", "amazon-web-services")
    workflow.publish_version(session, register_list, [retire], reason="Gone.", now=NOW)
    back = _draft(session, register_list, "add", **entry("Amazon Web Services", purpose="Back again."))
    version = workflow.publish_version(session, register_list, [back], reason="Back.", now=NOW)
    assert [e["id"] for e in version.snapshot] == ["amazon-web-services", "microsoft-azure"]
    assert session.scalar(select(func.count()).select_from(Processor)) == 2


def test_every_visible_change_bumps_the_revision(session: Session, register_list: RegisterList) -> None:
    seen = [register_list.revision]
    change = _draft(session, register_list, "add", **entry("Stripe"))
    notice = workflow.announce(
        session, register_list, [change], reason="x", effective_at=NOW + timedelta(days=30), now=NOW
    )
    seen.append(register_list.revision)
    workflow.withdraw(session, notice, reason="y", now=NOW)
    seen.append(register_list.revision)
    fix = _draft(session, register_list, "retire", "microsoft-azure")
    workflow.publish_version(session, register_list, [fix], reason="z", now=NOW)
    seen.append(register_list.revision)
    assert seen == sorted(set(seen))
