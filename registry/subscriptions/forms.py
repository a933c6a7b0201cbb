"""Forms of the public subscription pages. They only carry what a person sent; the rules (a valid
address, known lists and documents, a frequency) live in ``registry.subscriptions.services``, whose
``ValidationError`` messages the views put back next to the fields.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField


class SubscribeForm(FlaskForm):
    """The sign-up form, on /subscribe and embedded in the list and document pages.

    No CSRF field of its own: the embedded copy sits in pages cached for everyone, so the view
    checks either the session's token or the browser's proof that the post came from this site
    (``registry.security.same_origin_request``).
    """

    class Meta:
        csrf = False

    email = StringField("Email address")
    lists = SelectMultipleField("Lists", validate_choice=False)
    documents = SelectMultipleField("Documents", validate_choice=False)
    frequency = StringField("How often")


class PreferencesForm(FlaskForm):
    """The manage page's choice of lists, documents and frequency (with a CSRF token)."""

    lists = SelectMultipleField("Lists", validate_choice=False)
    documents = SelectMultipleField("Documents", validate_choice=False)
    frequency = StringField("How often")


class ConfirmForm(FlaskForm):
    """A button that confirms: only its CSRF token is checked."""


class AddressForm(FlaskForm):
    """One address: to ask for a fresh manage link, or the new address of a correction."""

    email = StringField("Email address")
