"""Hostile text: characters that reorder or hide what a name or reason shows are refused wherever
text is published and in addresses, with a message that names what was found; a script that needs
a joiner (Persian, Hindi, emoji sequences) keeps it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.lists import services, workflow
from registry.lists.fields import FIELD_LABELS
from registry.lists.models import Change, Notice, RegisterList
from registry.subscriptions import services as subscriptions
from registry.subscriptions.models import Subscriber
from registry.validation import ValidationError, hidden_characters, normalise_email, publishable, text_problem
from tests.conftest import NOW, entry

# The usual spoofing strings, and the code points a person must be told about.
SPOOFS = [
    ("Acme\u202egnp.exe", "U+202E"),  # shows as "Acmeexe.png"
    ("Goo\u200bgle", "U+200B"),  # looks like "Google"
    ("\u2066evil\u2069", "U+2066, U+2069"),
    ("Pay\u2060Pal", "U+2060"),
    ("\ufeffStripe", "U+FEFF"),
    ("Acme\u200f Ltd", "U+200F"),
    ("Goo\u200cgle", "U+200C"),  # a non-joiner between Latin letters only hides
    ("Amazon\u200d", "U+200D"),
]
PERSIAN = "می\u200cخواهم"  # "I want": the ZWNJ is part of the spelling
LEGITIMATE = [PERSIAN, "क्\u200dष", "\U0001f469\u200d\U0001f4bb", "Zürich AG", "Acme\tLtd"]


@pytest.mark.parametrize(("text", "codes"), SPOOFS)
def test_the_core_check_names_what_it_found(text: str, codes: str) -> None:
    assert not publishable(text)
    assert ", ".join(hidden_characters(text)) == codes
    assert text_problem(text) == f"contains invisible or direction-changing characters ({codes}); remove them"


@pytest.mark.parametrize("text", LEGITIMATE)
def test_scripts_that_need_a_joiner_keep_it(text: str) -> None:
    assert publishable(text) and hidden_characters(text) == []


@pytest.mark.parametrize(("text", "codes"), SPOOFS)
def test_an_address_with_them_is_refused(text: str, codes: str) -> None:
    for address in (f"{text}@example.com", f"ada@{text}.example", f"ada@example.com{text}"):
        with pytest.raises(ValidationError) as caught:
            normalise_email(address)
        assert "invisible or direction-changing characters" in caught.value.errors["email"], address


@pytest.fixture
def register_list(session: Session) -> RegisterList:
    created = services.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    session.commit()
    return created


def _changes(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Change)) or 0


@pytest.mark.parametrize(("text", "codes"), SPOOFS[:3])
def test_a_list_entry_with_them_is_refused(
    session: Session, register_list: RegisterList, text: str, codes: str
) -> None:
    for field, value in (("name", text), ("purpose", f"Hosting {text}"), ("data_categories", [text])):
        with pytest.raises(ValidationError) as caught:
            workflow.draft_change(
                session, register_list, "add", fields={**entry("Acme"), field: value}, now=NOW
            )
        assert caught.value.errors[field] == (
            f"{FIELD_LABELS[field]} contains invisible or direction-changing characters ({codes}); remove them."
        )
        session.rollback()
    assert _changes(session) == 0


def test_a_persian_entry_is_accepted(session: Session, register_list: RegisterList) -> None:
    workflow.draft_change(session, register_list, "add", fields=entry(PERSIAN, purpose=PERSIAN), now=NOW)
    session.commit()
    proposed = session.scalar(select(Change.proposed))
    assert proposed is not None and proposed["name"] == PERSIAN and proposed["purpose"] == PERSIAN


@pytest.mark.parametrize(("text", "codes"), SPOOFS[:3])
def test_a_notice_reason_with_them_is_refused(
    session: Session, register_list: RegisterList, text: str, codes: str
) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    session.commit()
    with pytest.raises(ValidationError) as caught:
        workflow.announce(
            session,
            register_list,
            [change],
            reason=f"We add {text}.",
            effective_at=NOW + timedelta(days=30),
            now=NOW,
        )
    assert caught.value.errors["reason"] == (
        f"This text contains invisible or direction-changing characters ({codes}); remove them."
    )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Notice)) == 0


def test_a_persian_notice_reason_is_accepted(session: Session, register_list: RegisterList) -> None:
    change = workflow.draft_change(session, register_list, "add", fields=entry("Stripe"), now=NOW)
    notice = workflow.announce(
        session, register_list, [change], reason=PERSIAN, effective_at=NOW + timedelta(days=30), now=NOW
    )
    session.commit()
    assert notice.reason == PERSIAN


@pytest.mark.parametrize(("text", "codes"), SPOOFS[:3])
def test_a_subscription_address_with_them_is_refused(
    session: Session, register_list: RegisterList, text: str, codes: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        subscriptions.subscribe(session, f"ada@{text}.example", ["sub-processors"], "each", now=NOW)
    assert caught.value.errors["email"] == (
        f"An email address cannot contain invisible or direction-changing characters ({codes}); please retype it."
    )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
