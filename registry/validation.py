"""The one error every service raises for bad input, mapped to 4xx by every view and the API, and
the checks that several domains share (text fit to store or publish, an email address)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

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


# Characters that change the direction of the text around them (embeddings, overrides, isolates,
# marks) or show as nothing at all. In a name or a subject line they disguise what is written:
# "Acme\u202egnp.exe" shows as "Acmeexe.png", "Goo\u200bgle" looks like "Google". Nobody types
# them on purpose in a processor's name, a reason or an address.
# U+2060-2064 are the word joiner and invisible operators; U+206A-206F deprecated format controls.
_HIDDEN = frozenset(
    [
        0x061C,
        0x200B,
        0x200E,
        0x200F,
        0xFEFF,
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x2070),
    ]
)
_ZWNJ, _ZWJ = 0x200C, 0x200D
# Scripts whose spelling needs a joiner or non-joiner between letters (Persian "می‌خواهم", Hindi
# "क्‍ष", Malayalam chillu, Sinhala...): Arabic and Syriac, N'Ko, the Indic scripts from Devanagari
# to Sinhala, Tibetan, Myanmar, Khmer, Mongolian, and the Arabic presentation forms.
_JOINING_SCRIPTS = (
    (0x0600, 0x08FF),
    (0x0900, 0x0DFF),
    (0x0F00, 0x0FFF),
    (0x1000, 0x109F),
    (0x1780, 0x18AF),
    (0xA8E0, 0xA8FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFE),
)


def _joining_letter(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.category(ch)[0] in "LM" and any(lo <= code <= hi for lo, hi in _JOINING_SCRIPTS)


def _emoji(ch: str) -> bool:
    # Pictographs, skin tones and the emoji presentation selector: ZWJ builds "👩‍💻" from them.
    code = ord(ch)
    return code == 0xFE0F or (code >= 0x2190 and unicodedata.category(ch) in ("So", "Sk"))


def _joiner_needed(text: str, index: int) -> bool:
    """Whether the ZWJ or ZWNJ at ``index`` sits where a script needs it: between two letters of
    a joining script, or (ZWJ only) inside an emoji sequence. Anywhere else it only hides."""
    if index == 0 or index == len(text) - 1:
        return False
    before, after = text[index - 1], text[index + 1]
    if _joining_letter(before) and _joining_letter(after):
        return True
    return ord(text[index]) == _ZWJ and _emoji(before) and _emoji(after)


def hidden_characters(text: str) -> list[str]:
    """The invisible or direction-changing characters in ``text``, as "U+202E", each once, in the
    order found; empty when there are none."""
    found: dict[str, None] = {}
    for index, ch in enumerate(text):
        code = ord(ch)
        if code in _HIDDEN or (code in (_ZWNJ, _ZWJ) and not _joiner_needed(text, index)):
            found[f"U+{code:04X}"] = None
    return list(found)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be published, as the end of a sentence a person can act on ("This text
    ..."); None when it can. Says which hidden characters were found: they cannot be seen, so
    "invalid characters" alone would leave the person searching."""
    if not storable(text) or _CONTROL.search(text):
        return "contains control characters or other invalid characters; remove them"
    hidden = hidden_characters(text)
    if hidden:
        return f"contains invisible or direction-changing characters ({', '.join(hidden)}); remove them"
    return None


def publishable(text: str) -> bool:
    """Text fit for the public pages, feeds and emails: storable, without control characters other
    than tab and line breaks, and without characters that hide or reorder what is shown."""
    return text_problem(text) is None


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
    hidden = hidden_characters(text)
    if hidden:
        raise ValidationError(
            {
                "email": "An email address cannot contain invisible or direction-changing characters "
                f"({', '.join(hidden)}); please retype it."
            }
        )
    text = text.strip()
    if not text:
        raise ValidationError({"email": missing})
    too_long = f"This email address is too long: at most {MAX_EMAIL} characters."
    if len(text) > MAX_EMAIL:
        raise ValidationError({"email": too_long})
    if not text.rpartition("@")[0].isascii():
        raise ValidationError({"email": NOT_ASCII})
    # Imported here: its tables and patterns take 20 ms, which a process that reads no address
    # (the scheduler, a page view) need not pay at start.
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(text, check_deliverability=False, allow_smtputf8=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValidationError({"email": str(error)}) from None
    if len(address) > MAX_EMAIL:  # normalising (IDNA) can lengthen a domain
        raise ValidationError({"email": too_long})
    return address
