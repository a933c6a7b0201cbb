"""The audit trail's filter: a GET form (it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms import ValidationError as FieldError
from wtforms.validators import Length
from wtforms.widgets import DateInput, HiddenInput

from registry.audit.services import AuditFilter
from registry.timeutil import start_of_day

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_PAGE = 1_000_000


class IsoDateField(Field):
    """A day written YYYY-MM-DD (what a browser's date input sends), or nothing."""

    widget = DateInput()

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return self.data.isoformat() if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            self.data = date.fromisoformat(text)
        except ValueError:
            raise ValueError("Enter a date written YYYY-MM-DD, for example 2027-01-31.") from None


class PageField(Field):
    """The page number: a whole number from 1; absent means the first page."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = 1
        if not text:
            return
        if not text.isascii() or not text.isdigit() or len(text) > 7 or not 1 <= int(text) <= MAX_PAGE:
            raise ValueError(f"the page must be a whole number from 1 to {MAX_PAGE}")
        self.data = int(text)


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = StringField("Action starts with", validators=[Length(max=64)])
    actor = StringField("Actor contains", validators=[Length(max=320)])
    since = IsoDateField("From")
    until = IsoDateField("Until (inclusive)")
    page = PageField()

    def validate_until(self, field: Field) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise FieldError("Enter a date on or after the From date.")

    @property
    def page_number(self) -> int:
        return int(self.page.data or 1)

    def audit_filter(self) -> AuditFilter:
        """What to look for; the until day is included whole."""
        return AuditFilter(
            action=(self.action.data or "").strip(),
            # Labels are addresses kept in lowercase (or "system", "cli:<name>"): match them so on
            # every database (SQLite's LIKE ignores case, PostgreSQL's does not).
            actor=(self.actor.data or "").strip().lower(),
            since=start_of_day(self.since.data) if self.since.data else None,
            until=start_of_day(self.until.data + timedelta(days=1))
            if self.until.data and self.until.data < date.max
            else None,
        )

    def query_args(self) -> dict[str, str]:
        """The filters as query-string values, for links to other pages and to the CSV."""
        values = {
            "action": (self.action.data or "").strip(),
            "actor": (self.actor.data or "").strip(),
            "since": self.since.data.isoformat() if self.since.data else "",
            "until": self.until.data.isoformat() if self.until.data else "",
        }
        return {name: value for name, value in values.items() if value}

    def messages(self) -> list[str]:
        """Every problem, each with the field it is about."""
        return [
            f"{getattr(self, name).label.text or name.capitalize()}: {message}"
            for name, errors in self.errors.items()
            for message in errors
        ]
