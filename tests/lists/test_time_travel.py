"""``?at=``: the list as it was at a day or a moment, on the list page, its JSON and its CSV, for
every list; a bad moment is a clear 400, one before the first version a clear 404, and never the
current list in silence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from tests.conftest import NOW, Registry, entry

FIRST = NOW - timedelta(days=30)  # 2026-12-11T12:00:00Z
SECOND = NOW - timedelta(days=10)  # 2026-12-31T12:00:00Z


@pytest.fixture
def history(registry: Registry) -> Registry:
    """Two lists with two versions each: the first on 11 December, the second on 31 December."""
    for slug, title in (("sub-processors", "Sub-processors"), ("website", "Website subcontractors")):
        registry.create_list(slug, title, now=FIRST)
        registry.publish(slug, entry("Microsoft Azure"), entry("Stripe", locations=["US"]), now=FIRST)
        registry.publish(slug, entry("Datadog", locations=["US"]), reason="Monitoring.", now=SECOND)
    return registry


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/processors?at=2026-12-31", "/processors/versions/2"),
        ("/processors.json?at=2026-12-31", "/processors/versions/2.json"),
        ("/processors.csv?at=2026-12-31", "/processors/versions/2.csv"),
        ("/processors?at=2026-12-30", "/processors/versions/1"),
        ("/processors.json?at=2026-12-11", "/processors/versions/1.json"),
        ("/lists/website?at=2026-12-30", "/lists/website/versions/1"),
        ("/lists/website.json?at=2026-12-30", "/lists/website/versions/1.json"),
        ("/lists/website.csv?at=2027-01-01", "/lists/website/versions/2.csv"),
        ("/processors/versions?at=2026-12-30", "/processors/versions/1"),
        # A full RFC 3339 time: the version in force at that very moment.
        ("/processors.json?at=2026-12-31T11:59:59Z", "/processors/versions/1.json"),
        ("/processors.json?at=2026-12-31T12:00:00Z", "/processors/versions/2.json"),
        ("/processors.json?at=2026-12-31t12:00:00.5z", "/processors/versions/2.json"),
        ("/processors.json?at=2026-12-31T13:00:00%2B02:00", "/processors/versions/1.json"),
        ("/processors.csv?at=2026-12-31T07:00:00-05:00", "/processors/versions/2.csv"),
        ("/lists/website.json?at=2026-12-31T12:00:00Z", "/lists/website/versions/2.json"),
    ],
)
def test_at_redirects_to_the_version_in_force(
    client: FlaskClient, history: Registry, url: str, location: str
) -> None:
    response = client.get(url)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location == location


def test_the_answer_is_that_version(client: FlaskClient, history: Registry) -> None:
    then = client.get("/processors.json?at=2026-12-30", follow_redirects=True).get_json()
    assert then["version"] == 1
    assert [p["name"] for p in then["processors"]] == ["Microsoft Azure", "Stripe"]
    now = client.get("/processors.json").get_json()
    assert now["version"] == 2 and len(now["processors"]) == 3
    csv = client.get("/processors.csv?at=2026-12-30", follow_redirects=True).get_data(as_text=True)
    assert "Stripe" in csv and "Datadog" not in csv
    page = client.get("/lists/website?at=2026-12-30", follow_redirects=True).get_data(as_text=True)
    assert "version 1" in page and "Datadog" not in page


def test_filters_go_along(client: FlaskClient, history: Registry) -> None:
    """``?at=`` with a filter answers the filtered past, not the whole of it (nor today's)."""
    response = client.get("/processors.json?at=2026-12-31&country=US&kind=subprocessor")
    assert response.status_code == 302
    assert response.location == "/processors/versions/2.json?kind=subprocessor&country=US"
    document = client.get(response.location).get_json()
    assert [p["name"] for p in document["processors"]] == ["Datadog", "Stripe"]
    csv = client.get("/processors.csv?at=2026-12-30&q=azure", follow_redirects=True).get_data(as_text=True)
    assert "Microsoft Azure" in csv and "Stripe" not in csv
    page = client.get("/processors?at=2026-12-30&country=US").location
    assert page == "/processors/versions/1?country=US"


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/processors.json?at=", 400, "YYYY-MM-DD"),
        ("/processors.json?at=tomorrow", 400, "YYYY-MM-DD"),
        ("/processors.json?at=2026-13-01", 400, "YYYY-MM-DD"),
        ("/processors.json?at=2026-12-31T25:00:00Z", 400, "RFC 3339"),
        ("/processors.json?at=2026-12-31T12:00:00", 400, "time zone"),
        ("/processors.json?at=31/12/2026", 400, "YYYY-MM-DD"),
        ("/processors.csv?at=2026-12-31X", 400, "YYYY-MM-DD"),
        ("/processors?at=2026-12-31%20junk", 400, "YYYY-MM-DD"),
        ("/processors?at=%EF%BC%92026-12-31", 400, "YYYY-MM-DD"),  # a full-width digit
        ("/processors.json?at=2026-12-10", 404, "first version"),
        ("/processors.json?at=2026-12-11T11:59:59Z", 404, "2026-12-11"),
        ("/processors.json?at=0001-01-01", 404, "first version"),
        ("/lists/website.csv?at=2026-12-10", 404, "first version"),
        ("/processors/versions?at=2026-12-10", 404, "first version"),
        ("/lists/nope.json?at=2026-12-31", 404, "no list called"),
    ],
)
def test_a_bad_or_too_early_at_is_a_clear_4xx(
    client: FlaskClient, history: Registry, url: str, status: int, words: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert words.lower() in body.lower()
    if ".json" in url:
        assert response.get_json()["error"]["status"] == status


@pytest.mark.parametrize(
    "at", ["9999-12-31", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
)
def test_the_edges_of_the_calendar_are_no_500(client: FlaskClient, history: Registry, at: str) -> None:
    for url in ("/processors", "/processors.json", "/processors.csv", "/processors/versions"):
        response = client.get(f"{url}?at={at.replace('+', '%2B')}")
        assert response.status_code in (302, 400, 404), (url, at, response.status_code)


def test_a_list_with_no_version_yet(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    response = client.get("/processors.json?at=2026-12-31")
    assert response.status_code == 404
    assert "no published version" in response.get_json()["error"]["message"]
