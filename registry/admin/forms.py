"""Forms of the change workflow pages (Flask-WTF: every form carries a CSRF token).

The forms only carry what a person typed; the rules live in ``registry.lists.workflow`` and
``registry.lists.fields``. What those raise (``ValidationError.errors``, keyed by field name) is
put back next to the fields by ``show_errors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, DateInput, ListWidget, TimeInput

from registry.countries import country_code, country_name
from registry.lists.fields import FIELD_LABELS, FIELDS, KIND_LABELS, LIST_FIELDS, TRANSFER_MECHANISMS
from registry.validation import ValidationError

# Generous caps on what is read from a request at all; the real limits are the services'.
_MAX = 5000
_ITEM_SPLIT = re.compile(r"[\r\n;]+")
_PLACE_SPLIT = re.compile(r"[\r\n;,]+")
_CODES = re.compile(r"[A-Za-z]{2}(?:\s+[A-Za-z]{2})+")
# Empty boxes offered after the chosen countries: several can be added in one save, without
# JavaScript.
SPARE_COUNTRIES = 3


def _items(text: str | None, pattern: re.Pattern[str]) -> list[str]:
    return [item.strip() for item in pattern.split(text or "") if item.strip()]


class WorkflowForm(FlaskForm):
    """Refuses NUL characters in any field: no text we store may hold one (PostgreSQL refuses it)."""

    def validate(self, extra_validators: Mapping[str, Any] | None = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and "\x00" in field.data:
                message = f"{field.label.text} must not contain NUL characters: remove them."
                field.errors = [*list(field.errors or []), message]
                valid = False
        return valid


class ErrorsMixin:
    """Put a service's ``ValidationError`` messages next to the fields they are about."""

    # Error keys that name no field of the form, and where their messages go instead.
    form_errors_extra: list[str]

    def show_errors(
        self,
        errors: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
        not_shown: tuple[str, ...] = (),
    ) -> None:
        """Attach each message to its field; ``not_shown`` names fields the page does not render."""
        self.form_errors_extra = []
        for key, message in errors.items():
            name = (aliases or {}).get(key, key)
            field = getattr(self, name, None)
            if isinstance(field, Field) and name not in ("csrf_token", "row_version", *not_shown):
                field.errors = [*list(field.errors or []), message]
            elif key in FIELD_LABELS:
                self.form_errors_extra.append(f"{FIELD_LABELS[key]}: {message}")
            else:  # about the whole thing ("processor", "change", "notice"...)
                self.form_errors_extra.append(message[:1].upper() + message[1:])

    @property
    def general_errors(self) -> list[str]:
        """Messages for the form as a whole (no field of its own), including a stale CSRF token."""
        messages = list(getattr(self, "form_errors_extra", []))
        if getattr(self, "csrf_token", None) is not None and self.csrf_token.errors:  # type: ignore[attr-defined]
            messages.append("This form expired. Please try again.")
        return messages


class RowVersionMixin:
    """The ``row_version`` of what the editor opened, sent back for optimistic locking."""

    row_version: HiddenField

    def expected_row_version(self) -> int:
        value = (self.row_version.data or "").strip()
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise ValidationError({"row_version": "This form lost its version stamp: reload the page."})
        return int(value)


def _places(values: list[str]) -> list[str]:
    """Countries as typed, one per box or several in one ("DE; US", "Germany, France", "DE US")."""
    places: list[str] = []
    for value in values:
        for part in _items(value, _PLACE_SPLIT):
            # Codes separated by spaces alone ("DE US"); a name keeps its spaces.
            places += part.split() if _CODES.fullmatch(part) else [part]
    return places


class CountriesField(Field):
    """Countries, each in a box of its own with type-ahead over names (``<datalist>``): every
    box named alike is read, and a box may hold several separated by ; or commas."""

    data: list[str]

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = _places([str(value) for value in valuelist])

    def _value(self) -> str:
        return "; ".join(self.data or [])

    def boxes(self) -> list[str]:
        """What each box shows: the chosen countries by name, then empty boxes to add more."""
        return [country_name(place) for place in self.data or []] + [""] * SPARE_COUNTRIES


class EntryForm(ErrorsMixin, RowVersionMixin, WorkflowForm):
    """Every public field of a processor, for an addition, an update or a replacement."""

    id = StringField(FIELD_LABELS["id"], validators=[Length(max=200)])
    name = StringField(FIELD_LABELS["name"], validators=[Length(max=_MAX)])
    legal_entity = StringField(FIELD_LABELS["legal_entity"], validators=[Length(max=_MAX)])
    purpose = TextAreaField(FIELD_LABELS["purpose"], validators=[Length(max=_MAX)])
    data_categories = TextAreaField(FIELD_LABELS["data_categories"], validators=[Length(max=20_000)])
    locations = CountriesField(FIELD_LABELS["locations"])
    corporate_location = StringField(FIELD_LABELS["corporate_location"], validators=[Length(max=200)])
    # Checkboxes, one per mechanism: several may be ticked, and it works without JavaScript.
    transfer_mechanisms = SelectMultipleField(
        FIELD_LABELS["transfer_mechanisms"],
        choices=dict(TRANSFER_MECHANISMS),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the service says what is allowed, with its own message
    )
    kind = SelectField(
        FIELD_LABELS["kind"], choices={str(k): v for k, v in KIND_LABELS.items()}, validate_choice=False
    )
    website = StringField(FIELD_LABELS["website"], validators=[Length(max=_MAX)])
    safeguards_url = StringField(FIELD_LABELS["safeguards_url"], validators=[Length(max=_MAX)])
    scope = TextAreaField(FIELD_LABELS["scope"], validators=[Length(max=_MAX)])
    since = StringField(FIELD_LABELS["since"], widget=DateInput(), validators=[Length(max=200)])
    # The row_version of what the editor opened: the entry (a new draft) or the draft (an edit).
    row_version = HiddenField()

    # The form has one field per public field of an entry, named alike.
    FIELD_NAMES = FIELDS
    # Messages that do not stop a save but that the editor should read, by field name
    # (``fields.transfer_warning``); shown next to their fields.
    warnings: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings = {}

    def fill(self, fields: Mapping[str, Any] | None) -> None:
        """Show canonical fields (an entry, a draft's proposal): lists one item per line."""
        for name in self.FIELD_NAMES:
            value = (fields or {}).get(name)
            if name in ("transfer_mechanisms", "locations"):
                getattr(self, name).data = list(value or [])
                continue
            if name == "corporate_location" and value:
                value = country_name(value)
            if name in LIST_FIELDS:
                value = "\n".join(value or [])
            getattr(self, name).data = value or ""

    def processor_data(self, *, with_id: bool = True) -> dict[str, Any]:
        """What was typed, in the shape ``clean_processor`` takes."""
        data: dict[str, Any] = {name: getattr(self, name).data or "" for name in self.FIELD_NAMES}
        data["data_categories"] = _items(self.data_categories.data, _ITEM_SPLIT)
        # Compared with what is stored (a conflict's "differs"): a country read as its code.
        data["locations"] = [country_code(place) or place for place in self.locations.data or []]
        if not with_id:
            del data["id"]
        return data


class ChangesForm(ErrorsMixin, WorkflowForm):
    """Drafts of one list, chosen by checkboxes (rendered by the template next to each draft)."""

    changes = SelectMultipleField(
        "Changes",
        coerce=int,
        validate_choice=False,  # the workflow checks each one: unknown, not a draft, other list
        invalid_value_message="Choose changes from the list.",
    )
    reason = TextAreaField("Public reason", validators=[Length(max=_MAX)])


class CorrectionForm(ChangesForm):
    """Drafts to publish as a correction; ``action`` "preview" shows it without saving."""

    action = HiddenField()


class AnnounceForm(ChangesForm):
    effective_date = StringField("Effective date (UTC)", widget=DateInput(), validators=[Length(max=40)])
    effective_time = StringField("Time (UTC, optional)", widget=TimeInput(), validators=[Length(max=40)])
    short_notice_reason = TextAreaField("Short-notice justification", validators=[Length(max=_MAX)])
    action = HiddenField()

    def effective_at(self) -> datetime:
        """The effective moment typed as a date and an optional time, in UTC."""
        text = (self.effective_date.data or "").strip()
        try:
            day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        except ValueError:
            day = None
        if day is None:
            raise ValidationError(
                {"effective_at": "Enter the effective date as YYYY-MM-DD, for example 2027-01-31."}
            )
        clock = (self.effective_time.data or "").strip()
        moment = time(0, 0)
        if clock:
            try:
                if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", clock):
                    raise ValueError(clock)
                moment = time.fromisoformat(clock)
            except ValueError:
                raise ValidationError(
                    {"effective_time": "Enter the time as HH:MM (24-hour, UTC), for example 09:30."}
                ) from None
        return datetime.combine(day, moment, tzinfo=UTC)


class ReasonForm(ErrorsMixin, WorkflowForm):
    """A decision with a public reason: reject, withdraw."""

    reason = TextAreaField("Reason", validators=[Length(max=_MAX)])


class ButtonForm(ErrorsMixin, RowVersionMixin, WorkflowForm):
    """A button that changes something (approve, discard): only its CSRF token is checked."""

    row_version = HiddenField()
