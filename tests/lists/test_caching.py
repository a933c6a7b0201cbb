"""Conditional requests: every public representation revalidates, and never serves a stale body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from registry.extensions import db
from registry.timeutil import utcnow
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
    "/processors/calendar.ics",
    "/calendar.ics",
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


# --- permanent versions and past diffs --------------------------------------------------------

PERMANENT = [
    "/processors/versions/1.json",
    "/processors/versions/1.csv",
    "/processors/diff.json?from=1&to=2",
    "/lists/sub-processors/versions/1.json",
]


@pytest.fixture
def two_versions(published: Registry) -> Registry:
    published.publish("sub-processors", entry("Datadog"), reason="Monitoring.", now=NOW + timedelta(days=1))
    return published


def _validators(client: FlaskClient, url: str) -> tuple[str, str, str]:
    response = client.get(url)
    assert response.status_code == 200
    return response.headers["ETag"], response.headers["Last-Modified"], response.headers["Cache-Control"]


@pytest.mark.parametrize("url", PERMANENT)
def test_a_permanent_representation_keeps_its_validators(
    client: FlaskClient, two_versions: Registry, url: str
) -> None:
    """What a version holds never changes, so neither may its ETag and Last-Modified: a cache
    that kept it must not download it again because the list moved on."""
    etag, modified, cache_control = _validators(client, url)
    assert cache_control == "public, max-age=31536000, immutable"
    # The list moves on: an announcement, a new version, a new setting.
    two_versions.announce(
        "sub-processors",
        [("add", None, entry("Sentry"))],
        effective_at=NOW + timedelta(days=60),
        now=NOW + timedelta(days=2),
    )
    two_versions.publish("sub-processors", entry("Fastly"), reason="CDN.", now=NOW + timedelta(days=3))
    assert _validators(client, url) == (etag, modified, cache_control)
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304


def test_last_modified_is_the_publication_time(client: FlaskClient, two_versions: Registry) -> None:
    assert (
        client.get("/processors/versions/1.json").headers["Last-Modified"] == "Sun, 10 Jan 2027 12:00:00 GMT"
    )
    assert (
        client.get("/processors/versions/2.csv").headers["Last-Modified"] == "Mon, 11 Jan 2027 12:00:00 GMT"
    )
    # A diff changed when its newer version was published.
    diff = client.get("/processors/diff.json?from=1&to=2")
    assert diff.headers["Last-Modified"] == "Mon, 11 Jan 2027 12:00:00 GMT"


def test_two_versions_have_their_own_etags(client: FlaskClient, two_versions: Registry) -> None:
    etags = {
        client.get(url).headers["ETag"]
        for url in (
            "/processors/versions/1.json",
            "/processors/versions/2.json",
            "/processors/versions/1.csv",
            "/processors/versions/1.json?country=DE",
            "/processors/diff.json?from=1&to=2",
            "/processors/diff.json?from=2&to=2",
        )
    }
    assert len(etags) == 6


def test_two_lists_versions_have_their_own_etags(client: FlaskClient, two_versions: Registry) -> None:
    two_versions.create_list("website", "Website")
    two_versions.publish("website", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    assert (
        client.get("/lists/website/versions/1.csv").headers["ETag"]
        != client.get("/processors/versions/1.csv").headers["ETag"]
    )


def test_a_renamed_list_gives_its_versions_json_a_new_etag(
    client: FlaskClient, two_versions: Registry, app: Flask
) -> None:
    """The JSON of a version names its list: the bytes change with the title, so must the ETag."""
    from registry.audit.services import SYSTEM
    from registry.lists import services

    before = client.get("/processors/versions/1.json")
    csv_etag = client.get("/processors/versions/1.csv").headers["ETag"]
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        services.update_settings(db.session, register_list, {"title": "Processors"}, actor=SYSTEM, now=NOW)
        db.session.commit()
    after = client.get("/processors/versions/1.json", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.get_json()["list"]["title"] == "Processors"
    assert after.headers["ETag"] != before.headers["ETag"]
    # The CSV holds no title: it keeps its ETag.
    assert client.get("/processors/versions/1.csv").headers["ETag"] == csv_etag


@pytest.mark.parametrize("url", ["/processors.json", "/processors.csv", "/processors/diff.json"])
def test_what_moves_is_not_immutable(client: FlaskClient, two_versions: Registry, url: str) -> None:
    """The current list, and a diff whose versions are not both named, mean something new tomorrow."""
    cache_control = client.get(url).headers["Cache-Control"]
    assert "immutable" not in cache_control and "max-age=31536000" not in cache_control


@pytest.mark.parametrize("url", [*URLS, "/processors/embed", "/documents", "/schemas/list.json"])
def test_an_answer_carrying_a_session_cookie_is_never_public(
    published: Registry, app: Flask, admin: FlaskClient, url: str
) -> None:
    """A signed-in manager reading a public page may get their session cookie refreshed in the
    answer: a shared cache must then not keep that answer (with the cookie) for the next reader."""
    later = utcnow() + timedelta(minutes=5)
    app.config["SESSION_CLOCK"] = lambda: later  # past the precision of "last seen": a new cookie
    response = admin.get(url)
    assert response.status_code == 200
    assert "session=" in response.headers.get("Set-Cookie", "")
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert "public" not in directives and "private" in directives
    assert "immutable" not in directives
    # A reader without a session still gets the answer any cache may keep.
    assert "public" in app.test_client().get(url).headers["Cache-Control"]
