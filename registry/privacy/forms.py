"""Forms of the admin privacy pages: an address to look up, and an erasure with its reason."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField


class LookupForm(FlaskForm):
    """An exact address: posted, never in a URL, so it stays out of logs and browser history."""

    email = StringField("Email address")


class EraseForm(FlaskForm):
    email = HiddenField()
    reason = TextAreaField("Reason (the request, e.g. its date and how it reached us)")
    confirm = BooleanField("I understand that this erases the address everywhere and cannot be undone")
