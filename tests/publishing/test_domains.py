"""The publication core's rules held through each domain: a list's notices and a document's
revisions obey the same rule, checked here once per domain (``test_rules`` holds the rules)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from blinker import NamedSignal
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.accounts import services as accounts
from registry.audit.services import SYSTEM, Actor
from registry.documents import services as documents
from registry.documents import workflow as document_workflow
from registry.documents.models import Document, RevisionStatus
from registry.events import Namespace, NobodyListening, emit
from registry.lists import services, workflow
from registry.lists.models import ChangeStatus, NoticeKind, NoticeStatus, RegisterList
from registry.lists.wording import notice_title
from registry.notifications.models import Notification
from registry.objections import events as objection_events
from registry.publishing import events
from registry.publishing.rules import ConflictError
from registry.subscriptions import events as subscription_events
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from registry.validation import ValidationError
from tests.conftest import NOW, PASSWORD, entry

LATER = NOW + timedelta(days=31)
FIRST = "# Privacy policy\n\nWe keep your email address.\n\nYou may ask us to delete it.\n"


@pytest.fixture
def people(session: Session) -> dict[str, Actor]:
    made = {
        name: accounts.create_user(session, f"{name}@example.com", PASSWORD, "editor", actor=SYSTEM, now=NOW)
        for name in ("alice", "bob", "carol")
    }
    session.commit()
    return {name: Actor(user.id, user.email) for name, user in made.items()}


@pytest.fixture
def register_list(session: Session) -> RegisterList:
    register_list = services.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    first = workflow.draft_change(
        session,
        register_list,
        "add",
        fields=entry("AWS", locations=["DE", "IE"], since=NOW.date().isoformat()),
        now=NOW,
    )
    workflow.publish_first_version(session, register_list, [first], reason="First.", now=NOW)
    subscriber = Subscriber(
        email="ada@example.com", status=SubscriberStatus.CONFIRMED, created_at=NOW, confirmed_at=NOW
    )
    subscriber.subscriptions.append(
        Subscription(list_id=register_list.id, frequency=Frequency.EACH, created_at=NOW)
    )
    session.add(subscriber)
    session.commit()
    return register_list


@pytest.fixture
def document(session: Session) -> Document:
    document = documents.create_document(session, slug="privacy-policy", title="Privacy policy", now=NOW)
    first = document_workflow.draft_revision(session, document, body=FIRST, summary="First.", now=NOW)
    document_workflow.correct(session, first, now=NOW)
    session.commit()
    return document


def _update(session: Session, register_list: RegisterList, actor: Actor = SYSTEM, **fields: object):  # type: ignore[no-untyped-def]
    current = services.latest_version(session, register_list).snapshot[0]  # type: ignore[union-attr]
    return workflow.draft_change(
        session, register_list, "update", processor="aws", fields={**current, **fields}, now=NOW, actor=actor
    )


def _notifications(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Notification)) or 0


# --- corrections cannot widen processing ------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"locations": ["DE", "IE", "US"]},
        {"data_categories": ["Email address", "Payment card data"]},
        {"transfer_mechanisms": ["scc"]},
        {"corporate_location": "US"},
        {"kind": "affiliate"},
        {"locations": ["DE"]},  # narrowed: still news to customers
    ],
)
def test_a_list_correction_that_alters_processing_is_refused(
    session: Session, register_list: RegisterList, fields: dict[str, object]
) -> None:
    change = _update(session, register_list, **fields)
    with pytest.raises(ValidationError, match="a correction may only fix wording and links"):
        workflow.correct(session, register_list, [change], reason="Typo.", now=NOW)
    session.rollback()
    assert register_list.current_version == 1 and _notifications(session) == 0


def test_a_list_correction_is_never_an_addition_or_a_retirement(
    session: Session, register_list: RegisterList
) -> None:
    added = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    with pytest.raises(ValidationError, match="Adding Stripe is not a correction"):
        workflow.correct(session, register_list, [added], reason="Typo.", now=NOW)
    session.rollback()
    retired = workflow.draft_change(session, register_list, "retire", processor="aws", now=NOW)
    with pytest.raises(ValidationError, match="Retiring AWS is not a correction"):
        workflow.correct(session, register_list, [retired], reason="Typo.", now=NOW)


def test_a_list_correction_is_published_logged_and_told(
    session: Session, register_list: RegisterList
) -> None:
    change = _update(session, register_list, purpose="AWS does things for all of us.")
    notice = workflow.correct(session, register_list, [change], reason="Clearer purpose.", now=NOW)
    session.commit()
    assert notice.kind is NoticeKind.CORRECTION and notice.status is NoticeStatus.PUBLISHED
    version = services.latest_version(session, register_list)
    assert version is not None and version.number == 2 and version.notice_id == notice.id
    assert version.reason == "Clearer purpose."
    assert _notifications(session) == 1  # the subscriber's short correction email


def test_a_document_correction_is_held_to_the_size_of_a_fix(session: Session, document: Document) -> None:
    small = FIRST.replace("delete", "erase")
    fix = document_workflow.draft_revision(session, document, body=small, summary="A word.", now=NOW)
    assert document_workflow.correct(session, fix, now=NOW).status is RevisionStatus.PUBLISHED
    session.commit()
    large = small + "\n" + " ".join(f"word{i}" for i in range(40)) + "\n"
    rewrite = document_workflow.draft_revision(session, document, body=large, summary="New.", now=NOW)
    with pytest.raises(ValidationError, match="changes 40 words of Privacy policy"):
        document_workflow.correct(session, rewrite, now=NOW)


# --- four eyes --------------------------------------------------------------------------------


def test_on_a_list_with_four_eyes_a_correction_needs_a_second_person(
    session: Session, register_list: RegisterList, people: dict[str, Actor]
) -> None:
    register_list.requires_approval = True
    change = _update(session, register_list, actor=people["alice"], purpose="AWS does things for us all.")
    notice = workflow.correct(
        session, register_list, [change], reason="Typo.", now=NOW, actor=people["alice"]
    )
    session.commit()
    assert notice.status is NoticeStatus.PENDING_APPROVAL and register_list.current_version == 1
    assert _notifications(session) == 0  # nothing public, nobody told
    with pytest.raises(ValidationError, match="another person must approve it"):
        workflow.approve(session, notice, actor=people["alice"], now=NOW)
    workflow.approve(session, notice, actor=people["bob"], now=NOW + timedelta(hours=1))
    session.commit()
    assert register_list.current_version == 2 and _notifications(session) == 1
    assert change.status is ChangeStatus.APPLIED


def test_on_a_document_with_four_eyes_a_correction_needs_a_second_person(
    session: Session, document: Document, people: dict[str, Actor]
) -> None:
    document.requires_approval = True
    fix = document_workflow.draft_revision(
        session,
        document,
        body=FIRST.replace("delete", "erase"),
        summary="A word.",
        now=NOW,
        actor=people["alice"],
    )
    document_workflow.correct(session, fix, now=NOW, actor=people["alice"])
    assert (
        fix.status is RevisionStatus.PENDING_APPROVAL and fix.is_correction and document.current_number == 1
    )
    with pytest.raises(ValidationError, match="another person must approve it"):
        document_workflow.approve(session, fix, actor=people["alice"], now=NOW)
    document_workflow.approve(session, fix, actor=people["bob"], now=NOW)
    assert fix.status is RevisionStatus.PUBLISHED and document.current_number == 2


def test_whoever_drafted_or_edited_a_change_cannot_approve_its_notice(
    session: Session, register_list: RegisterList, people: dict[str, Actor]
) -> None:
    register_list.requires_approval = True
    change = workflow.draft_change(
        session, register_list, "add", fields=entry("Stripe"), now=NOW, actor=people["alice"]
    )
    workflow.edit_draft(
        session,
        change,
        entry("Stripe", purpose="Payments."),
        expected_row_version=change.row_version,
        actor=people["carol"],
        now=NOW,
    )
    # Bob announces what Alice drafted and Carol edited: none of the three may approve it.
    notice = workflow.announce(
        session, register_list, [change], reason="Payments.", effective_at=LATER, now=NOW, actor=people["bob"]
    )
    for name in ("alice", "bob", "carol"):
        with pytest.raises(ValidationError, match="another person must approve it"):
            workflow.approve(session, notice, actor=people[name], now=NOW)
    dave = accounts.create_user(session, "dave@example.com", PASSWORD, "editor", actor=SYSTEM, now=NOW)
    workflow.approve(session, notice, actor=Actor(dave.id, dave.email), now=NOW)
    assert notice.status is NoticeStatus.PUBLISHED


def test_whoever_wrote_edited_or_announced_a_revision_cannot_approve_it(
    session: Session, document: Document, people: dict[str, Actor]
) -> None:
    document.requires_approval = True
    revision = document_workflow.draft_revision(
        session, document, body=FIRST + "\nMore.\n", summary="More.", now=NOW, actor=people["alice"]
    )
    document_workflow.edit_draft(
        session, revision, body=FIRST + "\nMore text.\n", summary="More.", now=NOW, actor=people["carol"]
    )
    document_workflow.announce(session, revision, effective_at=LATER, now=NOW, actor=people["bob"])
    for name in ("alice", "bob", "carol"):
        with pytest.raises(ValidationError, match="another person must approve it"):
            document_workflow.approve(session, revision, actor=people[name], now=NOW)


# --- one check of public texts ----------------------------------------------------------------


def test_a_short_notice_reason_with_a_control_character_is_refused_by_both(
    session: Session, register_list: RegisterList, document: Document
) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    soon = NOW + timedelta(days=3)
    with pytest.raises(ValidationError, match="control characters"):
        workflow.announce(
            session,
            register_list,
            [change],
            reason="x",
            effective_at=soon,
            now=NOW,
            short_notice_reason="Outage\x07",
        )
    session.rollback()
    revision = document_workflow.draft_revision(
        session, document, body=FIRST + "\nMore.\n", summary="S.", now=NOW
    )
    with pytest.raises(ValidationError, match="control characters"):
        document_workflow.announce(
            session, revision, effective_at=soon, now=NOW, short_notice_reason="Outage\x07"
        )


# --- conflicts with the current state ---------------------------------------------------------


def test_acting_on_what_has_moved_on_is_a_conflict_in_both(
    session: Session, register_list: RegisterList, document: Document
) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    notice = workflow.announce(session, register_list, [change], reason="x", effective_at=LATER, now=NOW)
    with pytest.raises(ConflictError, match="is announced, not draft"):
        workflow.discard_draft(session, change, actor=SYSTEM, now=NOW)
    with pytest.raises(ConflictError, match="is published, not pending approval"):
        workflow.approve(session, notice, actor=SYSTEM, now=NOW)
    revision = document_workflow.draft_revision(
        session, document, body=FIRST + "\nMore.\n", summary="S.", now=NOW
    )
    document_workflow.announce(session, revision, effective_at=LATER, now=NOW)
    with pytest.raises(ConflictError, match="is announced, not draft"):
        document_workflow.discard_draft(session, revision, now=NOW)
    with pytest.raises(ConflictError, match="can no longer be withdrawn"):
        document_workflow.withdraw(session, revision, reason="Late.", now=LATER)


# --- events -----------------------------------------------------------------------------------


def test_a_notice_and_its_outbox_rows_commit_or_roll_back_together(
    session: Session, register_list: RegisterList
) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    workflow.announce(session, register_list, [change], reason="x", effective_at=LATER, now=NOW)
    assert _notifications(session) == 1  # written by the notification side, in this session
    session.rollback()
    assert _notifications(session) == 0 and services.announced_notices(session, register_list) == []


def test_an_event_nobody_handles_fails_loudly(session: Session) -> None:
    unheard = Namespace().signal("unheard")
    with pytest.raises(NobodyListening, match="unheard"):
        emit(unheard, object(), session=session, now=NOW)


@pytest.mark.usefixtures("app")
def test_the_app_handles_every_event_the_domains_send() -> None:
    signals = [
        value
        for module in (events, subscription_events, objection_events)
        for value in vars(module).values()
        if isinstance(value, NamedSignal)
    ]
    assert len(signals) == 13
    assert [s.name for s in signals if not s.receivers] == []


# --- found in review ----------------------------------------------------------------------------


def test_two_announced_updates_of_one_entry_both_take_effect(
    session: Session, register_list: RegisterList
) -> None:
    """One notice removes a location, a later one adds another: the removed one never returns."""
    removal = _update(session, register_list, locations=["DE"])
    first = workflow.announce(session, register_list, [removal], reason="No IE.", effective_at=LATER, now=NOW)
    # Drafted while the first is announced, against the list as it is published: [DE, IE].
    current = services.latest_version(session, register_list).snapshot[0]  # type: ignore[union-attr]
    assert current["locations"] == ["DE", "IE"]
    addition = workflow.draft_change(
        session,
        register_list,
        "update",
        processor="aws",
        fields={**current, "locations": ["DE", "IE", "FR"]},
        now=NOW,
    )
    later = LATER + timedelta(days=1)
    second = workflow.announce(session, register_list, [addition], reason="FR.", effective_at=later, now=NOW)
    workflow.apply_notice(session, first.id, LATER)
    version = workflow.apply_notice(session, second.id, later)
    assert version is not None and version.snapshot[0]["locations"] == ["DE", "FR"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Palantir"}, "rewrites its name"),
        ({"purpose": "Profiling of customers' end users for advertising."}, "rewrites its purpose"),
        ({"legal_entity": "Palantir Technologies Inc."}, "alters its legal entity"),
        ({"since": "2020-01-01"}, "moves the date it processes since earlier"),
    ],
)
def test_a_correction_cannot_swap_the_sub_processor(
    session: Session, register_list: RegisterList, fields: dict[str, object], message: str
) -> None:
    change = _update(session, register_list, **fields)
    with pytest.raises(ValidationError, match=message):
        workflow.correct(session, register_list, [change], reason="Typo.", now=NOW)


def test_a_typo_in_a_name_is_a_correction(session: Session, register_list: RegisterList) -> None:
    change = _update(session, register_list, name="AWS Inc")
    workflow.correct(session, register_list, [change], reason="As they write it.", now=NOW)
    assert services.latest_version(session, register_list).snapshot[0]["name"] == "AWS Inc"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "added",
    [
        # A sentence written as one "word" of Markdown source: it reads as a sentence.
        "&#32;".join(
            ["We", "also", "share", "your", "email", "address", "with", "our", "advertising", "partners."]
        ),
        "We also share your address with advertising partners in the United States.",
    ],
)
def test_a_document_correction_cannot_add_a_sentence(
    session: Session, document: Document, added: str
) -> None:
    body = FIRST.replace("We keep your email address.", f"We keep your email address. {added}")
    revision = document_workflow.draft_revision(session, document, body=body, summary="Typo.", now=NOW)
    assert document_workflow.changed_words(session, revision) > document_workflow.CORRECTION_MAX_WORDS
    with pytest.raises(ValidationError, match="a correction may change at most"):
        document_workflow.correct(session, revision, now=NOW)


def test_a_pending_correction_is_not_dated_before_it_is_approved(
    session: Session, register_list: RegisterList, people: dict[str, Actor]
) -> None:
    register_list.requires_approval = True
    change = _update(session, register_list, actor=people["alice"], purpose="AWS does things for us all.")
    notice = workflow.correct(
        session, register_list, [change], reason="Typo.", now=NOW, actor=people["alice"]
    )
    assert notice_title(notice) == "Corrected sub-processor: AWS (purpose), to be published when approved"
    workflow.approve(session, notice, actor=people["bob"], now=NOW + timedelta(days=3))
    assert notice_title(notice) == "Corrected sub-processor: AWS (purpose), in effect since 2027-01-13"
