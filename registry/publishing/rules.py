"""The rules of a publication: public texts, the notice period, four eyes, withdrawal, conflicts.

Each rule is a plain function of plain values, so a list's notice and a document's revision are
held to exactly the same rule, and a test of the rule holds for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from registry.limits import MAX_REASON
from registry.validation import ValidationError, text_problem


class ConflictError(ValueError):
    """The request is at odds with the current state (someone acted first, or it has moved on).

    Answered with 409 and ``current``, what the thing holds now, so the caller can decide again.
    """

    def __init__(self, message: str, current: Any = None):
        super().__init__(message)
        self.current = current


def public_text(value: str | None, field: str, *, missing: str | None = None, limit: int = MAX_REASON) -> str:
    """A text that will be published (a reason, a justification, a summary), trimmed.

    ``missing`` is the message when it is empty; None makes it optional. The same check for every
    public text, so a character one domain refuses is refused by the other too.
    """
    value = (value or "").strip()
    problem = text_problem(value)
    if problem:
        raise ValidationError({field: f"This text {problem}."})
    if not value and missing is not None:
        raise ValidationError({field: missing})
    if len(value) > limit:
        raise ValidationError({field: f"This text is {len(value)} characters long; the limit is {limit}."})
    return value


def public_reason(value: str | None, field: str = "reason") -> str:
    """The public reason of a notice, a withdrawal, a rejection or a correction: required."""
    return public_text(value, field, missing="Give the public reason for this.")


# --- the notice period ------------------------------------------------------------------------


def earliest_effective_date(notice_period_days: int, now: datetime) -> datetime:
    """The first moment a change announced ``now`` may take effect without a justification."""
    return now + timedelta(days=notice_period_days)


def check_effective_date(
    effective_at: datetime,
    *,
    notice_period_days: int,
    short_notice_reason: str | None,
    now: datetime,
    what: str,
) -> str | None:
    """Validate an effective date against the notice period; the short-notice reason to keep.

    ``what`` names the publication in the message ("list", "document"). The period counts from
    publication, so an approval checks it again. A reason given with enough notice is dropped:
    nothing short needs justifying.
    """
    reason = public_text(short_notice_reason, "short_notice_reason") or None
    if effective_at.tzinfo is None:
        raise ValidationError({"effective_at": "Give the effective date with a time zone."})
    if effective_at <= now:
        raise ValidationError({"effective_at": "The effective date must be in the future."})
    earliest = earliest_effective_date(notice_period_days, now)
    if effective_at >= earliest:
        return None
    if reason is None:
        raise ValidationError(
            {
                "effective_at": (
                    f"The {what}'s notice period is {notice_period_days} days: choose a date on or "
                    f"after {earliest:%Y-%m-%d %H:%M} UTC, or give a short-notice justification."
                )
            }
        )
    return reason


def objection_deadline(effective_at: datetime, closes_days_before: int, now: datetime) -> datetime:
    """The last moment to object to a change that takes effect at ``effective_at``: the given
    number of days before it, and never before the moment it is published."""
    return max(effective_at - timedelta(days=closes_days_before), now)


# --- four eyes --------------------------------------------------------------------------------


def check_approver(approver_id: int | None, contributors: Iterable[int | None], *, what: str) -> None:
    """Four eyes: nobody who drafted, edited or announced any part of ``what`` may approve it.

    ``contributors`` are the user ids of everyone who did; the system and tokens without a user
    (``None``) cannot approve at all.
    """
    if approver_id is None:
        raise ValidationError({"approval": f"The {what} must be approved by a signed-in person."})
    if approver_id in set(contributors):
        raise ValidationError(
            {
                "approval": (
                    f"You drafted, edited or announced part of this {what}, so another person must "
                    "approve it."
                )
            }
        )


def contributors_with(contributors: Iterable[int] | None, user_id: int | None) -> list[int]:
    """The contributor ids after ``user_id`` touched the thing: sorted, each once."""
    ids = set(contributors or [])
    if user_id is not None:
        ids.add(user_id)
    return sorted(ids)


# --- states -----------------------------------------------------------------------------------


def require_state(actual: Any, expected: Any, *, what: str, current: Any = None) -> None:
    """Refuse to act on something that is no longer in the state the action needs.

    This is a conflict with the current state (409), not bad input: the same request would have
    been right a moment earlier, and the answer says where the thing stands now.
    """
    allowed = expected if isinstance(expected, tuple | list | set | frozenset) else (expected,)
    if actual not in allowed:
        wanted = " or ".join(str(state).replace("_", " ") for state in allowed)
        raise ConflictError(
            f"The {what} is {str(actual).replace('_', ' ')}, not {wanted}.",
            current if current is not None else {"status": str(actual)},
        )


def check_withdrawable(
    announced: bool, effective_at: datetime | None, now: datetime, *, what: str, current: Any = None
) -> None:
    """Only an announced publication that has not taken effect can be withdrawn (409 otherwise,
    with ``current``, where it stands now)."""
    if not announced or effective_at is None:
        raise ConflictError(f"Only an announced {what} that has not taken effect can be withdrawn.", current)
    if effective_at <= now:
        raise ConflictError(
            f"This {what} took effect on {effective_at:%Y-%m-%d %H:%M} UTC and can no longer be "
            "withdrawn: announce a new change instead.",
            current,
        )
