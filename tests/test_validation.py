"""The checks several domains share: one rule for an email address, whoever gives it."""

from __future__ import annotations

import pytest

from registry.limits import MAX_EMAIL
from registry.validation import NOT_ASCII, ValidationError, normalise_email, publishable, storable


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (" Ada@Example.COM ", "ada@example.com"),
        ("  Jane@GLOBEX.Example ", "jane@globex.example"),
        # An internationalised domain is fine: the sender IDNA-encodes it.
        ("ada@bücher.example", "ada@bücher.example"),
        ("Juergen@Bücher.example", "juergen@bücher.example"),
        ("ADA+notices@EXAMPLE.com", "ada+notices@example.com"),
    ],
)
def test_addresses_are_normalised(raw: str, normalised: str) -> None:
    # Lower case everywhere: an address is found in subscribers, objections and users exactly.
    assert normalise_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "jörg@example.com",
        "JÖRG@bücher.example",
        "用户@例子.广告",
        "adaé@example.com",
        "jürgen@bücher.example",
    ],
)
def test_addresses_our_sender_cannot_reach_are_refused(raw: str) -> None:
    # Plain SMTP (no SMTPUTF8) carries no letters beyond ASCII before the @.
    with pytest.raises(ValidationError) as caught:
        normalise_email(raw)
    assert caught.value.errors == {"email": NOT_ASCII}


@pytest.mark.parametrize(
    "raw",
    [
        "a@b.c\r\nBcc: x@y.z",
        "a@b.c\nx",
        "a\x00@b.c",
        "a\u2028@b.c",
        "a\u200b@b.c",
        "a" * 250 + "@b.cd",
        # At either end too: Python's strip() would quietly remove these, a header would not.
        "jane@globex.example\r\n",
        "jane@globex.example\u2028",
        "jane@globex.example\x85",
        "jane@globex.example\ud800",
        "jane@globex.example,bob@globex.example",
        "Jane <jane@globex.example>",
    ],
)
def test_addresses_that_could_break_a_header_or_a_column_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_email(raw)
    assert set(caught.value.errors) == {"email"}


def test_the_messages_say_what_to_do() -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_email("a@b.c\nBcc: x@y.z")
    assert "cannot contain line breaks" in caught.value.errors["email"]
    with pytest.raises(ValidationError) as caught:
        normalise_email("a" * MAX_EMAIL + "@example.com")
    assert f"at most {MAX_EMAIL} characters" in caught.value.errors["email"]
    # What to say about a missing address is the caller's: each form asks in its own words.
    for missing in ("", "   ", None):
        with pytest.raises(ValidationError) as caught:
            normalise_email(missing)
        assert caught.value.errors == {"email": "Enter your email address."}
    with pytest.raises(ValidationError) as caught:
        normalise_email("", missing="give the address")
    assert caught.value.errors == {"email": "give the address"}


def test_storable_and_publishable_text() -> None:
    assert storable("Ünïcode\ttext\n") and publishable("Ünïcode\ttext\n")
    assert not storable("a\x00b") and not storable("\ud800")
    assert storable("bell\x07") and not publishable("bell\x07")
