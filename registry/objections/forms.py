"""Forms of objections (Flask-WTF: every form carries a CSRF token): the public objection form,
the admin's "mark handled" form, and the filters of the admin list.

The forms only carry what a person typed; the rules (required fields, lengths, the address) live
in ``registry.objections.services``, whose ``ValidationError`` messages ``show_errors`` puts back
next to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, StringField, TextAreaField

from registry.limits import MAX_EMAIL
from registry.objections.models import ObjectionStatus
from registry.objections.services import (
    MAX_CONTACT_NAME,
    MAX_NOTE,
    MAX_ORGANISATION,
    MAX_REASON,
    ObjectionFilter,
    normal_reference,
)
from registry.validation import ValidationError


class MessagesForm(FlaskForm):
    """Shows a service's messages next to the fields they name, and the rest above the form."""

    def show_errors(self, errors: Mapping[str, str]) -> None:
        self.general: list[str] = []
        for name, message in errors.items():
            field = getattr(self, name, None)
            message = message[:1].upper() + message[1:]
            if isinstance(field, Field) and name != "csrf_token":
                field.errors = [*list(field.errors or []), message]
            else:
                self.general.append(message)

    @property
    def general_errors(self) -> list[str]:
        messages = list(getattr(self, "general", []))
        if self.csrf_token.errors:
            messages.append("This form expired. Please send it again.")
        return messages


class ObjectionForm(MessagesForm):
    organisation = StringField("Organisation")
    contact_name = StringField("Your name")
    email = EmailField("Email address")
    reason = TextAreaField("Why do you object?")

    LIMITS: ClassVar[dict[str, int]] = {
        "organisation": MAX_ORGANISATION,
        "contact_name": MAX_CONTACT_NAME,
        "email": MAX_EMAIL,
        "reason": MAX_REASON,
    }


class HandleForm(MessagesForm):
    note = TextAreaField("Note")

    LIMITS: ClassVar[dict[str, int]] = {"note": MAX_NOTE}


_STATUSES = {"": None, "all": None, **{str(status): status for status in ObjectionStatus}}


def objection_filter(args: Mapping[str, str]) -> ObjectionFilter:
    """The filters of the admin list from its query string; ValidationError for what cannot be."""
    notice = (args.get("notice") or "").strip()
    status = (args.get("status") or "").strip().lower()
    typed = (args.get("reference") or "").strip()[:64]
    reference = normal_reference(typed) if typed else None
    errors = {}
    if typed and reference is None:
        errors["reference"] = "the reference must be eight letters and digits, such as K7QX-3M9P"
    if notice and not (notice.isascii() and notice.isdigit() and len(notice) <= 9):
        errors["notice"] = "the notice must be a notice number such as 12"
    if status not in _STATUSES:
        errors["status"] = "the status must be open, handled or all"
    if errors:
        raise ValidationError(errors)
    return ObjectionFilter(
        notice_id=int(notice) if notice else None, status=_STATUSES[status], reference=reference
    )
