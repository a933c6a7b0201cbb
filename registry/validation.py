"""The one error every service raises for bad input, mapped to 4xx by every view and the API, and
the checks that several domains share (text fit to store or publish, an email address)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from email_validator import EmailNotValidError, validate_email

from registry.limits import MAX_EMAIL

# Control characters other than tab and line breaks, and the two non-characters XML 1.0 cannot
# hold: nobody types them, and a feed or an email containing one is broken.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


class ValidationError(ValueError):
    """Invalid input; ``errors`` maps each field to a message a person can act on."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in self.errors.items()))


def storable(text: str) -> bool:
    """Text every database can keep: no NUL (PostgreSQL refuses it) and no lone surrogate (which
    no encoding can represent, e.g. from "\\ud800" in JSON)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def publishable(text: str) -> bool:
    """Text fit for the public pages, feeds and emails: storable, and without control characters
    other than tab and line breaks."""
    return storable(text) and not _CONTROL.search(text)


# Our mail server takes no SMTPUTF8: nothing could ever reach such an address.
NOT_ASCII = (
    "We cannot send email to an address with accented or non-Latin letters (such as ä, é or ж) "
    "before the @. Please use another address."
)
# Control characters (CR and LF among them), lone surrogates, and the line and paragraph
# separators: none belongs in an address, which ends up in a mail header.
_NOT_IN_ADDRESS = ("Cc", "Cs", "Zl", "Zp")


def normalise_email(raw: str | None, *, missing: str = "Enter your email address.") -> str:
    """The address as we store and compare it (lower case), or a ``ValidationError`` on "email"
    that a person can act on; ``missing`` is what to say when nothing was given.

    One rule for subscribers, objectors and users, so that an address found in one place is found
    in the others by an exact comparison. Line breaks and control characters are refused before
    anything else, even at either end: in a mail header a CR or LF would let the sender add headers
    of their own. Letters beyond ASCII before the @ are refused too: our sender speaks plain SMTP
    (no SMTPUTF8). An internationalised domain is fine (it is IDNA-encoded when sent).
    """
    text = raw or ""
    if any(unicodedata.category(ch) in _NOT_IN_ADDRESS for ch in text):
        raise ValidationError(
            {"email": "An email address cannot contain line breaks or other control characters."}
        )
    text = text.strip()
    if not text:
        raise ValidationError({"email": missing})
    too_long = f"This email address is too long: at most {MAX_EMAIL} characters."
    if len(text) > MAX_EMAIL:
        raise ValidationError({"email": too_long})
    if not text.rpartition("@")[0].isascii():
        raise ValidationError({"email": NOT_ASCII})
    try:
        address = validate_email(text, check_deliverability=False, allow_smtputf8=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValidationError({"email": str(error)}) from None
    if len(address) > MAX_EMAIL:  # normalising (IDNA) can lengthen a domain
        raise ValidationError({"email": too_long})
    return address
