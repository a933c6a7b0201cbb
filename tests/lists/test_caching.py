"""Conditional requests: every public representation revalidates, and never serves a stale body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from registry.extensions import db
from tests.conftest import NOW, Registry, entry

URLS = [
    "/",
    "/processors",
    "/processors.json",
    "/processors.csv",
    "/processors?country=DE",
    "/processors/changes",
    "/processors/versions",
    "/processors/versions/1",
    "/processors/versions/1.json",
    "/processors/versions/1.csv",
    "/processors/diff?from=1&to=1",
    "/processors/diff.json?from=1&to=1",
]


@pytest.fixture
def published(registry: Registry) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    return registry


@pytest.mark.parametrize("url", URLS)
def test_validators_and_304(client: FlaskClient, published: Registry, url: str) -> None:
    first = client.get(url)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    assert "max-age=" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # If-None-Match wins: a mismatching ETag is a 200 even with a current date.
    assert (
        client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code
        == 200
    )


def test_a_change_gives_a_new_etag_and_body(client: FlaskClient, published: Registry) -> None:
    before = client.get("/processors.json")
    published.announce(
        "sub-processors",
        [("add", None, entry("Datadog"))],
        effective_at=NOW + timedelta(days=40),
        now=NOW + timedelta(seconds=5),
    )
    after = client.get("/processors.json", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.get_json()["upcoming"][0]["processor"]["name"] == "Datadog"


def test_filtered_views_have_their_own_etag(client: FlaskClient, published: Registry) -> None:
    assert client.get("/processors?country=DE").headers["ETag"] != client.get("/processors").headers["ETag"]
    assert client.get("/processors.json").headers["ETag"] != client.get("/processors.csv").headers["ETag"]


def _bump_revision_elsewhere(app: Flask) -> None:
    """Another worker's change: straight to the database, no commit seen by this process's sessions."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE lists SET revision = revision + 1"))


def test_another_workers_change_shows_within_the_stamp_ttl(
    published: Registry, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(LIST_STAMP_TTL=3600)
    client = app.test_client()
    before = client.get("/processors.json").headers["ETag"]
    _bump_revision_elsewhere(app)
    assert client.get("/processors.json").headers["ETag"] == before  # trusted for the TTL
    published.create_list("website", "Website")  # any commit in this process refreshes
    assert client.get("/processors.json").headers["ETag"] != before


def test_with_no_ttl_every_request_asks_the_database(
    published: Registry, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(LIST_STAMP_TTL=0)
    client = app.test_client()
    before = client.get("/processors.json").headers["ETag"]
    _bump_revision_elsewhere(app)
    assert client.get("/processors.json").headers["ETag"] != before
