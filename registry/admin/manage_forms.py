"""Forms of the admin-only pages: users, their API tokens, list settings (Flask-WTF: CSRF on each).

The forms only carry what a person typed; the rules (a valid address, a long enough password, the
roles, the ranges of days) are the services'. What those raise (``ValidationError.errors``, keyed by
field name) is put back next to the fields by ``show_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import ValidationError as FieldError
from wtforms.validators import DataRequired, Length

from registry.accounts.models import Role

ROLE_CHOICES = [
    SelectChoice(Role.EDITOR.value, "Editor: drafts and announces changes"),
    SelectChoice(Role.ADMIN.value, "Admin: also manages users, lists and the audit trail"),
]


def no_nul(_form: FlaskForm, field: Field) -> None:
    """No text we store may contain NUL (PostgreSQL refuses it outright): a message, not a 500."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise FieldError(f"{field.label.text} must not contain a NUL character: remove it.")


class ErrorsMixin:
    """Messages of a service's ``ValidationError`` next to the fields they are about."""

    def show_errors(self, errors: Mapping[str, str]) -> None:
        self.form_errors_extra: list[str] = []
        for name, message in errors.items():
            field = getattr(self, name, None)
            if isinstance(field, Field) and name != "csrf_token":
                field.errors = [*field.errors, message]
            else:
                self.form_errors_extra.append(f"{name.replace('_', ' ').capitalize()}: {message}")

    @property
    def general_errors(self) -> list[str]:
        """Messages about the form as a whole (no field of its own)."""
        return list(getattr(self, "form_errors_extra", []))


class NewUserForm(ErrorsMixin, FlaskForm):
    email = EmailField("Email address", validators=[Length(max=320), no_nul])
    # The service says which roles exist, with its own message; the form does not second-guess it.
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.EDITOR.value, validate_choice=False)
    password = PasswordField("Initial password", validators=[Length(max=1024)])


class UserForm(ErrorsMixin, FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=False)
    active = BooleanField("Active: may sign in and use API tokens")
    second_factor_required = BooleanField("Require a second factor (TOTP) to use the admin pages")


class PasswordResetForm(ErrorsMixin, FlaskForm):
    password = PasswordField("New password", validators=[Length(max=1024)])


class TokenForm(ErrorsMixin, FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Give the token a name, for example what will use it."),
            Length(max=100, message="The name must be 100 characters or fewer."),
            no_nul,
        ],
    )


class DaysField(IntegerField):
    """A whole number of days. What is not one is handed to the service as typed, which refuses
    it with its message (and its range) next to the field, together with every other problem of
    the form: never an exception, and never one message at a time."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = str(valuelist[0]).strip()
        digits = text.removeprefix("-")
        # ASCII digits only: int() would also take "٣" or "1_0", and fail on "²" although isdigit().
        self.data = int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 6 else text


class ListSettingsForm(ErrorsMixin, FlaskForm):
    title = StringField("Title", validators=[Length(max=1000), no_nul])
    introduction = TextAreaField("Introduction", validators=[Length(max=20_000), no_nul])
    notice_period_days = DaysField("Notice period (days)")
    objection_closes_days_before = DaysField("Objections close (days before the effective date)")
    requires_approval = BooleanField("Four eyes: an announcement needs a second editor's approval")
    remind_on_effective = BooleanField("Remind subscribers on the day an announced change takes effect")

    SETTINGS = (
        "title",
        "introduction",
        "notice_period_days",
        "objection_closes_days_before",
        "requires_approval",
        "remind_on_effective",
    )

    def values(self) -> dict[str, Any]:
        """The settings as ``create_list`` and ``update_settings`` take them."""
        return {name: getattr(self, name).data for name in self.SETTINGS}


class NewListForm(ListSettingsForm):
    slug = StringField("Slug", validators=[Length(max=200), no_nul])


class WebhookForm(ErrorsMixin, FlaskForm):
    """A new webhook endpoint: its URL, what it is for, and the lists and documents it hears of.

    The choices are filled by the view; which slugs exist is the service's to check.
    """

    url = StringField("Endpoint URL", validators=[no_nul, Length(max=2000)])
    description = StringField("Description (optional)", validators=[no_nul, Length(max=200)])
    lists = SelectMultipleField("Lists", choices=[], validate_choice=False)
    documents = SelectMultipleField("Documents", choices=[], validate_choice=False)
