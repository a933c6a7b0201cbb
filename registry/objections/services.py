"""Objections: received from customers while a notice's objection window is open, handled by an
editor with a note, exported as CSV for the DPO. Callers commit.

GDPR Art. 28(2): a customer may object to a new or replaced sub-processor before it takes
effect. The window is open while the notice is a published announcement whose changes are still
to take effect, until its objection deadline (inclusive).

The audit trail is append-only and cannot forget, so it holds nothing of the objector (address,
name, reason, IP address) nor the handling note: only the organisation, the objection's reference
and its status. Those stay in the objections table, where erasure and retention reach them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, selectinload

from registry import limits
from registry.audit.services import Actor, record
from registry.csvsafe import EXPORT_BATCH, export_chunks
from registry.lists.models import ChangeStatus, Notice, NoticeKind, NoticeStatus
from registry.lists.wording import change_headline
from registry.objections import events
from registry.objections.models import REFERENCE_ALPHABET, Objection, ObjectionStatus, random_reference
from registry.validation import ValidationError, normalise_email, storable, text_problem

# Limits of what an objector types (the columns allow 200, 200 and 320 characters).
MAX_ORGANISATION = limits.MAX_NAME
MAX_CONTACT_NAME = limits.MAX_NAME
MAX_REASON = limits.MAX_LONG_TEXT  # an objection's reason may take several paragraphs
MAX_NOTE = limits.MAX_REASON
MAX_ID = 2**31 - 1

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Control characters, CR and LF included: none belongs in a one-line field, least of all in a
# field that ends up in an email header (the receipt goes to this address, to this name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Tabs and line breaks are fine in a reason; other control characters are not.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class Window(enum.StrEnum):
    """Whether a notice takes objections now, and if not, why not."""

    OPEN = "open"
    CLOSED = "closed"  # the objection deadline passed (or the changes took effect)
    WITHDRAWN = "withdrawn"  # the announcement was withdrawn: nothing left to object to
    NOT_PUBLIC = "not_public"  # awaiting approval, rejected, or a withdrawal: no objection form


class ObjectionsClosed(ValueError):
    """The notice takes no objections now; ``window`` says why."""

    def __init__(self, notice: Notice, window: Window):
        super().__init__(f"notice {notice.id} takes no objections: {window}")
        self.notice = notice
        self.window = window


# --- receiving ------------------------------------------------------------------------------


def new_reference(session: Session) -> str:
    """A readable reference no objection has yet, e.g. "K7QX-3M9P" (the unique column is the
    last word if two are drawn at the same moment)."""
    while True:
        reference = random_reference()
        if session.scalar(select(Objection.id).where(Objection.reference == reference)) is None:
            return reference


def normal_reference(text: str) -> str | None:
    """A reference as someone typed it ("k7qx 3m9p", "K7QX3M9P") in its stored form, None if it
    cannot be one."""
    code = "".join(ch for ch in text.upper() if not ch.isspace() and ch != "-")
    if len(code) != 8 or not set(code) <= set(REFERENCE_ALPHABET):
        return None
    return f"{code[:4]}-{code[4:]}"


def find_notice(session: Session, reference: str) -> Notice | None:
    """The notice with this public reference (its uuid); None for anything malformed or unknown."""
    reference = reference.strip().lower()
    if not _UUID.fullmatch(reference):
        return None
    return session.scalar(select(Notice).where(Notice.uuid == reference))


def window(notice: Notice, now: datetime) -> Window:
    """Whether ``notice`` takes objections at ``now``."""
    if (
        notice.kind is not NoticeKind.ANNOUNCEMENT
        or notice.status is not NoticeStatus.PUBLISHED
        or notice.objection_deadline is None
    ):
        return Window.NOT_PUBLIC
    statuses = {change.status for change in notice.changes}
    if ChangeStatus.ANNOUNCED not in statuses:
        return Window.WITHDRAWN if ChangeStatus.WITHDRAWN in statuses else Window.CLOSED
    return Window.OPEN if now <= notice.objection_deadline else Window.CLOSED


def _line(value: str | None, field: str, limit: int, what: str) -> str:
    value = value or ""
    if not storable(value) or _CONTROL.search(value):
        raise ValidationError({field: "Write this on one line, without control characters."})
    if problem := text_problem(value):
        raise ValidationError({field: f"This text {problem}."})
    value = " ".join(value.split())
    if not value:
        raise ValidationError({field: f"Enter {what}."})
    if len(value) > limit:
        raise ValidationError({field: f"Shorten this to at most {limit} characters."})
    return value


def _reason(value: str | None, field: str, limit: int, what: str) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if not storable(value) or _CONTROL_IN_TEXT.search(value):
        raise ValidationError({field: "Remove the control characters (such as NUL) from this text."})
    if problem := text_problem(value):
        raise ValidationError({field: f"This text {problem}."})
    if not value:
        raise ValidationError({field: f"Enter {what}."})
    if len(value) > limit:
        raise ValidationError({field: f"Shorten this to at most {limit} characters (it has {len(value)})."})
    return value


def _cleaned(organisation: str, contact_name: str, email: str, reason: str) -> dict[str, str]:
    """Every field checked, every problem reported at once."""
    cleaned, errors = {}, {}
    checks = {
        "organisation": lambda: _line(organisation, "organisation", MAX_ORGANISATION, "your organisation"),
        "contact_name": lambda: _line(contact_name, "contact_name", MAX_CONTACT_NAME, "your name"),
        "email": lambda: normalise_email(
            email, missing="Enter the address the acknowledgement should go to."
        ),
        "reason": lambda: _reason(reason, "reason", MAX_REASON, "the reason for your objection"),
    }
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except ValidationError as error:
            errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def receive(
    session: Session,
    notice: Notice,
    *,
    organisation: str,
    contact_name: str,
    email: str,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Objection:
    """Record an objection to ``notice`` and owe the objector a receipt, in one transaction.

    Raises ``ObjectionsClosed`` outside the objection window and ``ValidationError`` for bad input.
    """
    state = window(notice, now)
    if state is not Window.OPEN:
        raise ObjectionsClosed(notice, state)
    objection = Objection(
        notice=notice,
        created_at=now,
        reference=new_reference(session),
        **_cleaned(organisation, contact_name, email, reason),
    )
    session.add(objection)
    session.flush()
    events.emit(events.objection_received, objection, session=session, now=now)
    record(
        session,
        "objection.receive",
        # The objector's IP address is theirs as much as their email address: not in the trail.
        replace(actor, ip=None),
        now=now,
        target=("objection", objection.id),
        list_id=notice.list_id,
        summary=objection.organisation,
        after={"reference": objection.reference, "notice_id": notice.id},
    )
    return objection


def find_objection(session: Session, reference: str) -> Objection | None:
    """The objection with this reference (its uuid, as quoted to the objector); None if unknown."""
    reference = reference.strip().lower()
    if not _UUID.fullmatch(reference):
        return None
    return session.scalar(select(Objection).where(Objection.uuid == reference))


# --- handling -------------------------------------------------------------------------------


def get_objection(session: Session, objection_id: int) -> Objection | None:
    """By id, for the admin pages; ids beyond a 32-bit integer do not exist."""
    return session.get(Objection, objection_id) if 0 < objection_id <= MAX_ID else None


def handle(session: Session, objection: Objection, *, note: str, actor: Actor, now: datetime) -> Objection:
    """Mark an objection handled, with a note on what was done (kept internal, required)."""
    note = _reason(note, "note", MAX_NOTE, "a note on how the objection was handled")
    # Guarded by the status, so two editors handling it at the same moment cannot both succeed.
    done = session.execute(
        update(Objection)
        .where(Objection.id == objection.id, Objection.status == ObjectionStatus.OPEN)
        .values(
            status=ObjectionStatus.HANDLED, handled_at=now, handled_by_id=actor.user_id, handled_note=note
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(objection)
    if not done:
        who = objection.handled_by.email if objection.handled_by else "someone"
        raise ValidationError(
            {
                "objection": f"this objection was handled already, by {who} at {objection.handled_at:%Y-%m-%d %H:%M} UTC"
            }
        )
    record(
        session,
        "objection.handle",
        actor,
        now=now,
        target=("objection", objection.id),
        list_id=objection.notice.list_id,
        summary=objection.organisation,
        before={"status": str(ObjectionStatus.OPEN)},
        # The note stays in the objection (erasure and retention clean it there); the trail,
        # which cannot forget, only says that one was written.
        after={"status": str(ObjectionStatus.HANDLED), "note_length": len(note)},
    )
    return objection


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectionFilter:
    """What an editor narrowed the objections to: one notice, open or handled ones, or the one
    objection whose reference an objector quoted."""

    notice_id: int | None = None
    status: ObjectionStatus | None = None
    reference: str | None = None

    def query(self) -> Select[Objection]:
        query = select(Objection).options(selectinload(Objection.notice), selectinload(Objection.handled_by))
        if self.notice_id is not None:
            query = query.where(Objection.notice_id == self.notice_id)
        if self.status is not None:
            query = query.where(Objection.status == self.status)
        if self.reference is not None:
            query = query.where(Objection.reference == self.reference)
        return query.order_by(Objection.notice_id.desc(), Objection.created_at, Objection.id)


def find_objections(session: Session, objection_filter: ObjectionFilter | None = None) -> list[Objection]:
    """Objections, newest notice first, oldest objection first within a notice."""
    return list(session.scalars((objection_filter or ObjectionFilter()).query()))


@dataclass(frozen=True)
class Counts:
    """How many objections to one notice are open and handled."""

    open: int = 0
    handled: int = 0

    @property
    def total(self) -> int:
        return self.open + self.handled


def counts(session: Session, notice_ids: Iterable[int] | None = None) -> dict[int, Counts]:
    """Open and handled objections per notice (notices without objections are left out)."""
    query = select(Objection.notice_id, Objection.status, func.count()).group_by(
        Objection.notice_id, Objection.status
    )
    if notice_ids is not None:
        query = query.where(Objection.notice_id.in_(list(notice_ids)))
    found: dict[int, dict[str, int]] = {}
    for notice_id, status, number in session.execute(query):
        found.setdefault(notice_id, {})[str(status)] = number
    return {i: Counts(open=c.get("open", 0), handled=c.get("handled", 0)) for i, c in found.items()}


def notices_with_objections(session: Session) -> list[Notice]:
    """Notices anyone objected to, newest first (for the filter of the objections page)."""
    with_objections = select(Objection.notice_id).distinct()
    return list(
        session.scalars(select(Notice).where(Notice.id.in_(with_objections)).order_by(Notice.id.desc()))
    )


# --- export ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "reference",
    "list",
    "notice",
    "changes",
    "effective_at",
    "objection_deadline",
    "organisation",
    "contact_name",
    "email",
    "reason",
    "received_at",
    "status",
    "handled_at",
    "handled_by",
    "handled_note",
)


def _moment(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def objections_csv(objections: Iterable[Objection]) -> Iterator[str]:
    """Every objection with what it objects to, for the DPO; one row each, header first, in
    chunks to stream (``csvsafe.export_chunks``)."""
    return export_chunks(CSV_COLUMNS, (_row(objection) for objection in objections))


def stream_objections(session: Session, objection_filter: ObjectionFilter) -> Iterator[Objection]:
    """The objections the filter keeps, read EXPORT_BATCH at a time, for an export."""
    yield from session.scalars(objection_filter.query().execution_options(yield_per=EXPORT_BATCH))


def _row(objection: Objection) -> tuple[object, ...]:
    notice = objection.notice
    return (
        objection.reference,
        notice.register_list.title,
        notice.id,
        "; ".join(change_headline(change) for change in notice.changes),
        _moment(notice.effective_at),
        _moment(notice.objection_deadline),
        objection.organisation,
        objection.contact_name,
        objection.email,
        objection.reason,
        _moment(objection.created_at),
        str(objection.status),
        _moment(objection.handled_at),
        objection.handled_by.email if objection.handled_by else "",
        objection.handled_note or "",
    )
