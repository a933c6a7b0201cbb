"""Answers replayed without Flask: the same status, headers and bytes as Flask's own answer, for
the 200, the 304 and HEAD; never for a reader's own requests; never older than the stamps."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, Response
from sqlalchemy import text
from werkzeug.test import TestResponse

from registry import replay as replay_module
from registry.caching import conditional
from registry.extensions import db, limiter
from registry.lists import views as list_views
from registry.replay import Replay
from tests.conftest import NOW, Registry, entry

URLS = [
    "/",
    "/processors",
    "/processors?country=DE",
    "/processors.json",
    "/processors.csv",
    "/processors/embed",
    "/processors/changes",
    "/processors/changes.json",
    "/processors/versions",
    "/processors/versions.json",
    "/processors/versions/1",
    "/processors/versions/2.json",
    "/processors/versions/1.csv",
    "/processors/diff?from=1&to=2",
    "/processors/diff.json?from=1&to=2",
    "/processors/feed.atom",
    "/processors/feed.rss",
    "/feed.atom",
    "/processors/calendar.ics",
    "/calendar.ics",
    "/openapi.json",
]


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """Stamps trusted for an hour: no kept answer expires between two requests of a test (with
    the default second, a slow step could cross the boundary); expiry is tested on its own."""
    return app_factory(LIST_STAMP_TTL=3600)


@pytest.fixture
def two_versions(registry: Registry) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    registry.publish("sub-processors", entry("Datadog"), reason="Monitoring.", now=NOW + timedelta(days=1))
    return registry


def _replay(app: Flask) -> Replay:
    replay: Replay = app.extensions["replay"]
    return replay


def _seen(response: TestResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    return response.status, list(response.headers.items()), response.data


@pytest.mark.parametrize("url", URLS)
def test_a_replayed_answer_is_flasks_own(
    two_versions: Registry, app: Flask, app_factory: Callable[..., Flask], url: str
) -> None:
    flask_only = app_factory(REPLAY_ANSWERS=0).test_client()
    assert "replay" not in flask_only.application.extensions
    client = app.test_client()
    replay = _replay(app)

    first = client.get(url)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    asked = [
        ("GET", {}),
        ("GET", {"If-None-Match": etag}),
        ("GET", {"If-Modified-Since": modified}),
        ("GET", {"If-None-Match": '"another"'}),
        ("GET", {"If-None-Match": f'W/"x", {etag}'}),
        # A header that names no tag is, as Flask reads it, no If-None-Match: the date decides.
        ("GET", {"If-None-Match": ",", "If-Modified-Since": modified}),
        ("HEAD", {}),
    ]
    for method, headers in asked:
        client.open(url, method=method, headers=headers)  # what Flask answers is kept
        before = replay.replayed
        again = client.open(url, method=method, headers=headers)
        assert replay.replayed == before + 1, (method, headers)
        expected = flask_only.open(url, method=method, headers=headers)
        assert _seen(again) == _seen(expected), (method, headers)


def test_a_readers_own_requests_go_to_flask(two_versions: Registry, app: Flask) -> None:
    client = app.test_client()
    replay = _replay(app)
    client.get("/processors")
    assert client.get("/processors").status_code == 200
    kept = replay.replayed
    assert kept == 1
    # The test client would replace a Cookie header with its own jar's (empty) one.
    app.test_client(use_cookies=False).get("/processors", headers={"Cookie": "session=x"})
    for headers in ({"Authorization": "Bearer x"}, {"Range": "bytes=0-10"}):
        client.get("/processors", headers=headers)
    client.post("/processors")
    client.get("/admin/")
    client.get("/admin/")
    client.get("/processors/versions/99")
    client.get("/processors/versions/99")
    assert replay.replayed == kept


def test_a_rate_limited_view_is_never_replayed(app: Flask) -> None:
    @app.get("/limited")
    @limiter.limit("1000/minute")
    def limited() -> Response:
        return conditional(("limited",), NOW, lambda: b"counted", "text/plain")

    with app.app_context():
        limiter.reset()
    client = app.test_client()
    for _ in range(3):
        assert client.get("/limited").data == b"counted"
    assert _replay(app).replayed == 0


def test_a_commit_in_this_process_ends_the_replay(two_versions: Registry, app: Flask) -> None:
    client = app.test_client()
    client.get("/processors")
    assert b"Fastly" not in client.get("/processors").data
    assert _replay(app).replayed == 1
    two_versions.publish("sub-processors", entry("Fastly"), reason="CDN.", now=NOW + timedelta(days=2))
    assert b"Fastly" in client.get("/processors").data


def test_another_process_change_shows_once_the_stamps_expire(
    two_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    ttl = 0.3
    app = app_factory(LIST_STAMP_TTL=ttl)
    client = app.test_client()
    assert b"Renamed list" not in client.get("/processors").data
    # Another process's edit: this process sees no commit of its own.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE lists SET title = 'Renamed list', revision = revision + 1 WHERE slug = 'sub-processors'"
            )
        )
    time.sleep(ttl * 1.5)
    assert b"Renamed list" in client.get("/processors").data


def test_the_replay_keeps_a_bounded_number_of_answers(
    two_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(REPLAY_ANSWERS=3, LIST_STAMP_TTL=3600)
    client = app.test_client()
    for country in ("DE", "US", "FR", "IE", "NL"):
        client.get(f"/processors?country={country}")
    assert len(_replay(app)._answers) == 3
    before = _replay(app).replayed
    client.get("/processors?country=DE")  # the oldest went first
    assert _replay(app).replayed == before
    client.get("/processors?country=NL")
    assert _replay(app).replayed == before + 1


def test_an_address_kept_again_and_again_leaves_room_for_others(
    two_versions: Registry, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address is kept anew each time what it was kept for ends (its stamps' TTL, a commit
    here: all day long on a busy worker): the answer it replaces leaves the count of bytes, or
    answers long gone would soon fill the bound and nothing would be kept any more."""
    client = app.test_client()
    size = len(client.get("/processors").data)
    monkeypatch.setattr(replay_module, "_MOST_BYTES", 10 * size)
    for _ in range(20):
        with app.app_context():
            db.session.commit()  # any commit in this process: the kept answer is over
        client.get("/processors")  # and kept anew
    assert _replay(app)._bytes == size
    before = _replay(app).replayed
    client.get("/processors")
    assert _replay(app).replayed == before + 1


def test_a_calendar_is_not_sent_again_past_midnight(
    two_versions: Registry, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calendar's window moves at midnight: its answer of 23:59 is not the one of 00:00, even
    while the stamps are trusted."""
    moment = [datetime(2027, 1, 10, 23, 59, 59, 900000, tzinfo=UTC)]
    monkeypatch.setattr(list_views, "utcnow", lambda: moment[0])
    client = app.test_client()
    before = client.get("/processors/calendar.ics").headers["ETag"]
    time.sleep(0.2)
    moment[0] = datetime(2027, 1, 11, 0, 0, 0, 100000, tzinfo=UTC)
    assert client.get("/processors/calendar.ics").headers["ETag"] != before
