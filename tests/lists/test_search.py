"""Searching a list finds what a reader sees on it (labels, country names, accents aside), in the
list in effect and in the changes announced for it, on the page, in JSON and in CSV alike."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.lists.fields import FIELDS
from registry.lists.search import SEPARATOR, Query, fold, searchable_text
from tests.conftest import NOW, Registry, entry

# Purposes are written out: the helper's default ("... does things for us.") contains "us".
SENDGRID = entry(
    "Twilio SendGrid",
    legal_entity="Twilio Inc.",
    purpose="Sends transactional email.",
    locations=["US"],
    corporate_location="US",
    transfer_mechanism="dpf",
    website="https://sendgrid.com/legal",
)
AWS = entry(
    "AWS",
    legal_entity="Amazon Web Services EMEA SARL",
    purpose="Hosting of the application.",
    data_categories=["Customer content"],
    locations=["IE", "US"],
    corporate_location="LU",
    transfer_mechanism="scc",
)
SOCIETE = entry(
    "Société Générale",
    legal_entity="Société Générale S.A.",
    purpose="Banking.",
    data_categories=["Bank details"],
    locations=["FR"],
    corporate_location="FR",
)
PLAUSIBLE = entry(
    "Plausible",
    purpose="Usage analytics for business customers.",
    data_categories=["Usage events"],
    locations=["EE"],
    corporate_location="EE",
    scope="Only where analytics are switched on.",
)
NORTHWIND = entry(
    "Northwind",
    kind="subcontractor",
    purpose="Contract engineers.",
    locations=["CZ"],
    corporate_location="CZ",
)
STRIPE = entry(
    "Stripe",
    purpose="Payment processing.",
    data_categories=["Payment card data"],
    locations=["IE", "US"],
    corporate_location="US",
    transfer_mechanism="scc",
)
EFFECTIVE = NOW + timedelta(days=45)


@pytest.fixture
def searchable(registry: Registry) -> Registry:
    """Five entries in effect; announced: Stripe to be added, Northwind to be removed."""
    registry.create_list()
    registry.publish("sub-processors", SENDGRID, AWS, SOCIETE, PLAUSIBLE, NORTHWIND)
    registry.announce(
        "sub-processors",
        [("add", None, STRIPE), ("retire", "northwind", None)],
        effective_at=EFFECTIVE,
        reason="Card payments; contract ended.",
    )
    return registry


def found(client: FlaskClient, q: str, **filters: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The names in effect, and the (action, name) of upcoming changes,
    soonest first, that a JSON search returns."""
    response = client.get("/processors.json", query_string={"q": q, **filters})
    assert response.status_code == 200, response.get_data(as_text=True)
    document = response.get_json()
    upcoming = [(change["action"], change["processor"]["name"]) for change in document["upcoming"]]
    return [p["name"] for p in document["processors"]], upcoming


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ("United States", ["Twilio SendGrid", "AWS"]),
        ("united states", ["Twilio SendGrid", "AWS"]),
        ("  UNITED   STATES ", ["Twilio SendGrid", "AWS"]),
        ("Standard Contractual Clauses", ["AWS"]),
        ("standard contractual", ["AWS"]),
        ("scc", ["AWS"]),
        ("SCC", ["AWS"]),
        # The code still works, as a whole word: not "usage", "business" or "customers".
        ("US", ["Twilio SendGrid", "AWS"]),
        ("Data Privacy Framework", ["Twilio SendGrid"]),
        ("dpf", ["Twilio SendGrid"]),
        # Accents and case aside, either way round.
        ("Societe Generale", ["Société Générale"]),
        ("SOCIÉTÉ", ["Société Générale"]),
        ("societé générale s.a.", ["Société Générale"]),
        ("France", ["Société Générale"]),
        ("Luxembourg", ["AWS"]),
        ("Amazon Web Services", ["AWS"]),
        ("sendgrid.com", ["Twilio SendGrid"]),
        ("customer content", ["AWS"]),
        ("Bank details", ["Société Générale"]),
        ("switched on", ["Plausible"]),
        ("Estonia", ["Plausible"]),
        ("Subcontractors", ["Northwind"]),
        ("subcontractor", ["Northwind"]),
        ("Third-party sub-processor", ["Twilio SendGrid", "AWS", "Société Générale", "Plausible"]),
        ("No transfer", ["Société Générale", "Plausible", "Northwind"]),
        # Every word, in any field: the name in one, the country in another.
        ("aws ireland", ["AWS"]),
        ("email united", ["Twilio SendGrid"]),
        ("hosting france", []),
        ('"states united"', []),
        ('"united states" email', ["Twilio SendGrid"]),
        # A word is found at the start of a word, not inside one.
        ("grid", []),
        ("sta", ["Twilio SendGrid", "AWS"]),
    ],
)
def test_search_finds_what_the_page_shows(
    client: FlaskClient, searchable: Registry, q: str, names: list[str]
) -> None:
    in_effect, _ = found(client, q)
    assert sorted(in_effect) == sorted(names)


def test_old_search_of_stored_values_would_miss_what_readers_type(searchable: Registry) -> None:
    """The stored snapshot holds codes, not labels: a search of its raw values cannot find
    "United States" or "Standard Contractual Clauses", nor "Societe" without its accents."""
    stored = " ".join(str(value) for value in AWS.values()).casefold()
    assert "united states" not in stored and "standard contractual clauses" not in stored
    text = searchable_text({field: AWS.get(field) for field in FIELDS})
    assert (
        "united states" in text
        and "standard contractual clauses" in text
        and f"{SEPARATOR}scc{SEPARATOR}" in text
    )


def test_an_upcoming_addition_is_found_and_marked_upcoming(client: FlaskClient, searchable: Registry) -> None:
    assert found(client, "payment") == ([], [("add", "Stripe")])
    # Found through what it will be: its countries and mechanism as labels.
    assert found(client, "United States") == (["AWS", "Twilio SendGrid"], [("add", "Stripe")])
    assert found(client, "standard contractual clauses") == (["AWS"], [("add", "Stripe")])

    document = client.get("/processors.json?q=payment").get_json()
    (change,) = document["upcoming"]
    assert change["effective_at"] == "2027-02-24T12:00:00Z"
    assert change["processor"]["transfer_mechanism"] == "scc"

    page = client.get("/processors?q=payment").get_data(as_text=True)
    status = page.split('role="status">')[1].split("</p>")[0]
    assert status == "No entry matches “payment”. 1 upcoming change matches."
    assert "No entry in effect matches “payment”." in page
    upcoming = page.split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "Upcoming changes that match" in upcoming
    assert "New: <strong>Stripe</strong>" in upcoming and "24 February 2027" in upcoming
    # Upcoming, so not among the entries in effect.
    assert 'table class="entries"' not in page


def test_an_entry_to_be_removed_is_found_as_such(client: FlaskClient, searchable: Registry) -> None:
    assert found(client, "northwind") == (["Northwind"], [("retire", "Northwind")])
    page = client.get("/processors?q=Czechia").get_data(as_text=True)
    assert 'id="p-northwind"' in page
    upcoming = page.split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "Removed: <strong>Northwind</strong>" in upcoming and "Stripe" not in upcoming


def test_the_other_filters_apply_to_upcoming_changes_too(client: FlaskClient, searchable: Registry) -> None:
    assert found(client, "", kind="subcontractor") == (["Northwind"], [("retire", "Northwind")])
    assert found(client, "", country="IE") == (["AWS"], [("add", "Stripe")])
    assert found(client, "payment", country="DE") == ([], [])
    # Unfiltered, every announced change is there.
    document = client.get("/processors.json").get_json()
    assert [change["action"] for change in document["upcoming"]] == ["add", "retire"]


def test_page_says_what_matched_and_keeps_the_search(client: FlaskClient, searchable: Registry) -> None:
    page = client.get("/processors?q=United+States").get_data(as_text=True)
    status = page.split('role="status">')[1].split("</p>")[0]
    assert status == "2 of 5 entries match “United States”. 1 upcoming change matches."
    assert 'name="q" value="United States"' in page
    assert 'id="p-twilio-sendgrid"' in page and 'id="p-aws"' in page
    assert 'id="p-plausible"' not in page
    # Unfiltered, the upcoming changes lead the page as ever; filtered, they follow the entries.
    assert page.index('id="upcoming-heading"') > page.index('id="p-aws"')

    page = client.get("/processors?q=aws&country=IE").get_data(as_text=True)
    assert "1 of 5 entries matches “aws” and the other filters." in page


def test_the_page_shows_the_search_as_typed(client: FlaskClient, searchable: Registry) -> None:
    """Two searches that find the same entries are still two pages: each shows its own words."""
    for typed in ("United States", "united states", "UNITED STATES"):
        page = client.get("/processors", query_string={"q": typed}).get_data(as_text=True)
        assert f'name="q" value="{typed}"' in page and f"match “{typed}”" in page


def test_no_match_says_so_and_offers_to_clear(client: FlaskClient, searchable: Registry) -> None:
    page = client.get("/processors?q=nothing+like+this").get_data(as_text=True)
    assert "No entry matches “nothing like this”." in page
    assert '<a href="/processors">Clear the search</a> to see all 5 entries.' in page
    assert 'id="upcoming-heading"' not in page


def test_the_search_text_is_escaped(client: FlaskClient, searchable: Registry) -> None:
    page = client.get("/processors", query_string={"q": "<b>bold</b>"}).get_data(as_text=True)
    assert "<b>bold</b>" not in page
    assert "No entry matches “&lt;b&gt;bold&lt;/b&gt;”." in page


def test_csv_and_versions_search_alike(client: FlaskClient, searchable: Registry) -> None:
    rows = list(
        csv.DictReader(io.StringIO(client.get("/processors.csv?q=united+states").get_data(as_text=True)))
    )
    assert [row["name"] for row in rows] == ["AWS", "Twilio SendGrid"]
    document = client.get("/processors/versions/1.json?q=societe").get_json()
    assert [p["name"] for p in document["processors"]] == ["Société Générale"]
    rows = list(
        csv.DictReader(io.StringIO(client.get("/processors/versions/1.csv?q=scc").get_data(as_text=True)))
    )
    assert [row["name"] for row in rows] == ["AWS"]
    page = client.get("/processors/versions/1?q=Estonia").get_data(as_text=True)
    assert 'id="p-plausible"' in page and 'id="p-aws"' not in page


def test_fold_and_query() -> None:
    assert fold("Société GÉNÉRALE") == "societe generale"
    assert fold("Straße") == "strasse"
    assert fold("ﬁnance") == "finance"
    assert Query.parse('  "United   States"  scc SCC ').terms == ("united states", "scc")
    # An unclosed quote runs to the end rather than being refused.
    assert Query.parse('"standard contractual').terms == ("standard contractual",)
    assert not Query.parse('  "" ')


def test_every_shown_field_is_searchable() -> None:
    """A field is searched through the labels the page shows unless it is one a reader never
    reads as text; a field added later is searched without touching the search."""
    text = searchable_text(PLAUSIBLE | {"since": "2024-03-01", "safeguards_url": "https://dpa.example/x"})
    assert "1 march 2024" in text and "only where analytics are switched on." in text
    assert "dpa.example" not in text and "plausible" in text


def test_texts_are_built_once_per_version_and_never_stale(
    app: Flask, client: FlaskClient, searchable: Registry
) -> None:
    """A version's searchable texts are kept, since its entries never change; the next version
    is searched with its own."""
    texts = app.extensions["search_texts"]
    assert len(texts) == 0
    assert found(client, "united states")[0] == ["AWS", "Twilio SendGrid"]
    assert found(client, "scc")[0] == ["AWS"]
    client.get("/processors.csv?q=scc+ireland")
    client.get("/processors/versions/1?q=france")
    assert len(texts) == 1

    assert searchable.apply_due(EFFECTIVE) == 1
    assert found(client, "payment") == (["Stripe"], [])
    assert found(client, "northwind") == ([], [])
    assert found(client, "united states")[0] == ["AWS", "Stripe", "Twilio SendGrid"]
    assert len(texts) == 2
