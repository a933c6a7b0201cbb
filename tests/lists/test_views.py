"""The public URLs: a contract with every customer who links to them or reads them by machine."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import NOW, Registry, entry


@pytest.fixture
def published(registry: Registry) -> Registry:
    """A default list at version 2 (one correction after the first publication), one announced addition."""
    registry.create_list(introduction="Who processes your data.")
    registry.publish(
        "sub-processors",
        entry("Microsoft Azure", locations=["NL", "IE"], data_categories=["Customer content"]),
        entry("Twilio SendGrid", locations=["US"], transfer_mechanisms=["dpf"], purpose="Sends email."),
        entry("Northwind", kind="subcontractor", locations=["CZ"], purpose="Contract engineers."),
    )
    registry.announce(
        "sub-processors",
        [("retire", "northwind", None)],
        effective_at=NOW - timedelta(days=1),
        now=NOW - timedelta(days=40),
        reason="Contract ended.",
    )
    assert registry.apply_due(NOW) == 1
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe", locations=["IE", "US"], purpose="Payment processing."))],
        effective_at=NOW + timedelta(days=45),
        reason="Card payments.",
    )
    return registry


def test_index_shows_every_list(client: FlaskClient, published: Registry) -> None:
    published.create_list("website", "Website subcontractors")
    page = client.get("/").get_data(as_text=True)
    assert "Sub-processors" in page and "Website subcontractors" in page
    assert 'href="/processors"' in page and 'href="/lists/website"' in page


def test_list_page(client: FlaskClient, published: Registry) -> None:
    response = client.get("/processors")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Sub-processors</h1>" in page
    assert "Version 2" in page
    assert "Microsoft Azure" in page and "Netherlands, Ireland" in page
    assert "Northwind" not in page.split("Upcoming changes")[-1]
    # The announced addition is upcoming, with its effective date, not yet in the list.
    upcoming = page.split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "Stripe" in upcoming and "24 February 2027" in upcoming
    assert '<main id="main"' in page and '<th scope="col">Name</th>' in page


def test_list_json_contract(client: FlaskClient, published: Registry) -> None:
    response = client.get("/processors.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["list"] == {"slug": "sub-processors", "title": "Sub-processors"}
    assert document["version"] == 2
    assert document["updated_at"] == "2027-01-10T12:00:00Z"
    names = [p["name"] for p in document["processors"]]
    assert names == ["Microsoft Azure", "Twilio SendGrid"]
    azure = document["processors"][0]
    for key in (
        "id",
        "name",
        "legal_entity",
        "purpose",
        "data_categories",
        "locations",
        "kind",
        "website",
        "transfer_mechanisms",
        "since",
        "corporate_location",
        "safeguards_url",
        "scope",
    ):
        assert key in azure
    assert azure["id"] == "microsoft-azure" and azure["locations"] == ["NL", "IE"]
    [upcoming] = document["upcoming"]
    assert upcoming["action"] == "add"
    assert upcoming["processor"]["name"] == "Stripe"
    assert upcoming["effective_at"] == "2027-02-24T12:00:00Z"
    assert upcoming["announced_at"] == "2027-01-10T12:00:00Z"
    assert isinstance(upcoming["id"], int)


def test_list_csv(client: FlaskClient, published: Registry) -> None:
    response = client.get("/processors.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["name"] for r in rows] == ["Microsoft Azure", "Twilio SendGrid"]
    assert rows[0]["locations"] == "NL; IE"


def test_every_list_also_under_lists_slug(client: FlaskClient, published: Registry) -> None:
    for default, by_slug in [
        ("/processors", "/lists/sub-processors"),
        ("/processors.json", "/lists/sub-processors.json"),
        ("/processors.csv", "/lists/sub-processors.csv"),
        ("/processors/changes", "/lists/sub-processors/changes"),
        ("/processors/versions/1.json", "/lists/sub-processors/versions/1.json"),
        ("/processors/diff?from=1&to=2", "/lists/sub-processors/diff?from=1&to=2"),
    ]:
        assert client.get(default).data == client.get(by_slug).data, by_slug


def test_default_list_is_a_setting(published: Registry, app_factory: Callable[..., Flask]) -> None:
    published.create_list("website", "Website subcontractors")
    published.publish("website", entry("Plausible"))
    client = app_factory(DEFAULT_LIST="website").test_client()
    assert client.get("/processors.json").get_json()["list"]["slug"] == "website"


def test_versions_are_permanent(client: FlaskClient, published: Registry) -> None:
    first = client.get("/processors/versions/1.json").get_json()
    assert first["version"] == 1
    assert [p["name"] for p in first["processors"]] == ["Microsoft Azure", "Twilio SendGrid", "Northwind"]
    assert "upcoming" not in first
    published.publish("sub-processors", entry("Datadog"), reason="Monitoring.")
    assert client.get("/processors/versions/1.json").get_json() == first
    assert client.get("/processors.json").get_json()["version"] == 3
    page = client.get("/processors/versions/1").get_data(as_text=True)
    assert "version 1" in page and "Northwind" in page and "see the current list (version 3)" in page
    assert client.get("/processors/versions/1.csv").status_code == 200


def test_version_on_a_date_redirects(client: FlaskClient, published: Registry) -> None:
    response = client.get("/processors/versions?at=2027-01-10")
    assert response.status_code == 302 and response.location.endswith("/processors/versions/2")
    assert client.get("/processors/versions?at=2027-01-09").status_code == 404
    assert client.get("/processors/versions?at=tomorrow").status_code == 400
    page = client.get("/processors/versions").get_data(as_text=True)
    assert "Version 2" in page and "Contract ended." in page


def test_diff(client: FlaskClient, published: Registry) -> None:
    document = client.get("/processors/diff.json?from=1&to=2").get_json()
    assert document["from"] == 1 and document["to"] == 2
    assert [e["name"] for e in document["removed"]] == ["Northwind"]
    assert document["added"] == [] and document["changed"] == []
    page = client.get("/processors/diff?from=1&to=2").get_data(as_text=True)
    assert "Removed (1)" in page and "Northwind" in page
    # Without parameters: the latest version against the one before.
    assert client.get("/processors/diff").data == client.get("/processors/diff?from=1&to=2").data


def test_changes_page(client: FlaskClient, published: Registry) -> None:
    page = client.get("/processors/changes").get_data(as_text=True)
    assert "Contract ended." in page and "Removed" in page and "Northwind" in page
    assert "Card payments." in page  # the upcoming change
    assert page.index("Version 2") < page.index("Version 1")


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/lists/nope", 404, "no list called"),
        ("/lists/nope.json", 404, "no list called"),
        ("/processors/versions/99", 404, "has no version 99"),
        ("/processors/versions/abc", 400, "version number"),
        ("/processors/versions/-1.json", 400, "version number"),
        ("/processors/versions/99999999999999999999", 400, "version number"),
        ("/processors/diff?from=2&to=1", 400, "must not be newer"),
        ("/processors/diff?from=x", 400, "version number"),
        ("/processors/diff.json?to=7", 404, "no version 7"),
        ("/processors?kind=friend", 400, "kind must be one of"),
        ("/processors.json?country=Narnia", 400, "ISO 3166"),
        ("/processors.csv?q=" + "a" * 300, 400, "at most 200"),
        ("/processors?q=" + "a" * 3000, 414, "too long"),
        ("/nothing-here", 404, "Not Found"),
        ("/processors?q=a%00b", 400, "NUL character"),
        ("/lists/sub%00processors", 400, "NUL character"),
        ("/lists/Sub-Processors", 404, "no list called"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    client: FlaskClient, published: Registry, url: str, status: int, words: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert words.lower() in body.lower()
    assert "Traceback" not in body
    if ".json" in url:
        assert response.get_json()["error"]["status"] == status


def test_filters_in_the_query_string(client: FlaskClient, published: Registry) -> None:
    assert [p["name"] for p in client.get("/processors.json?country=us").get_json()["processors"]] == [
        "Twilio SendGrid"
    ]
    assert [
        p["name"] for p in client.get("/processors.json?q=customer+content").get_json()["processors"]
    ] == ["Microsoft Azure"]
    assert client.get("/processors.json?kind=affiliate").get_json()["processors"] == []
    page = client.get("/processors?country=US").get_data(as_text=True)
    assert "Showing 1 of 2 entries" in page
    assert '<option value="US" selected>' in page
    assert "Microsoft Azure" not in page.split('role="status"')[1]


def test_names_are_escaped(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("<script>alert(1)</script> & Co", id="evil"))
    page = client.get("/processors").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    assert client.get("/processors.json").get_json()["processors"][0]["name"].startswith("<script>")


def test_security_headers(client: FlaskClient, published: Registry) -> None:
    response = client.get("/processors")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_empty_list(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    assert client.get("/processors").status_code == 200
    document = client.get("/processors.json").get_json()
    assert document["version"] == 0 and document["processors"] == [] and document["upcoming"] == []
    assert client.get("/processors/diff").status_code == 404
