"""The PDF annex of a long version is made by the scheduler, never during a request: until it is
stored, its reader gets a 503 with ``Retry-After`` (not a 500, not minutes of waiting); after the
job, the very bytes a request would have laid out. Two runs, or two schedulers, store it once.

"Long" here is above ``ANNEX_INLINE_MAX_ENTRIES``, lowered so that three entries are long.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from registry import rendered, scheduler
from registry.caching import RenderCache, stored_key
from registry.extensions import db
from registry.jobs import Schedule
from registry.lists import annex, services
from registry.rendered import RenderedAnswer
from tests.conftest import Registry, entry

LONG = {"ANNEX_INLINE_MAX_ENTRIES": 2}


def _renders(app: Flask) -> int:
    cache: RenderCache = app.extensions["render_cache"]
    return cache.renders


def _prepare(app: Flask) -> object:
    """One run of the scheduler's job, as its timer runs it."""
    (job,) = [s for s in scheduler.schedules() if s.name == "prepare-annexes"]
    assert isinstance(job, Schedule)
    return scheduler._run(app, job)


def _stored_annexes(app: Flask) -> int:
    with app.app_context():
        query = (
            select(func.count()).select_from(RenderedAnswer).where(RenderedAnswer.name.like("%version.pdf%"))
        )
        return int(db.session.scalar(query) or 0)


def _inline(app: Flask, slug: str, number: int) -> bytes:
    """The annex laid out here and now, as a request under the limit would."""
    with app.test_request_context():
        register_list = services.get_list(db.session, slug)
        assert register_list is not None
        version = services.get_version(db.session, register_list, number)
        assert version is not None
        return annex.version_pdf(register_list, version)


@pytest.fixture
def long_app(app_factory: Callable[..., Flask]) -> Flask:
    app = app_factory(**LONG)
    registry = Registry(app)
    registry.create_list("long", "Long list")
    registry.publish("long", entry("Alpha"), entry("Bravo"), entry("Charlie"))
    return app


def test_a_long_version_not_yet_made_answers_503_then_the_jobs_annex(long_app: Flask) -> None:
    client = long_app.test_client()
    waiting = client.get("/lists/long/versions/1.pdf")
    assert waiting.status_code == 503
    assert waiting.headers["Retry-After"] == str(long_app.config["ANNEX_RETRY_AFTER_SECONDS"])
    text = waiting.get_data(as_text=True)
    assert "The PDF of version 1 is being prepared" in text and "JSON and CSV" in text
    # The same list is there now in the other formats.
    assert client.get("/lists/long/versions/1.json").status_code == 200
    tried = _renders(long_app)

    assert _prepare(long_app) == 1
    ready = client.get("/lists/long/versions/1.pdf")
    assert ready.status_code == 200 and ready.mimetype == "application/pdf"
    assert ready.headers["Content-Disposition"] == 'inline; filename="long-v1.pdf"'
    assert _renders(long_app) == tried  # from the store, not laid out by the request
    assert ready.data == _inline(long_app, "long", 1)


def test_the_job_makes_a_newly_published_version_ahead_of_its_first_reader(
    long_app: Flask, app_factory: Callable[..., Flask]
) -> None:
    assert _prepare(long_app) == 1
    Registry(long_app).publish("long", entry("Delta"), reason="Delta added.")
    assert _prepare(long_app) == 1
    # A worker that never laid anything out serves both from the store.
    other = app_factory(**LONG)
    for number in (1, 2):
        response = other.test_client().get(f"/lists/long/versions/{number}.pdf")
        assert response.status_code == 200, number
        assert response.data == _inline(other, "long", number)
    assert _renders(other) == 0
    # A short list's annex is still laid out on its first request.
    Registry(other).create_list("short", "Short list")
    Registry(other).publish("short", entry("Echo"))
    assert _prepare(other) == 0  # the job leaves it to its first reader
    assert other.test_client().get("/lists/short/versions/1.pdf").status_code == 200
    assert _renders(other) == 1


def test_an_older_version_asked_for_is_made_too_newest_first(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(**LONG, ANNEX_PREPARE_PER_RUN=1)
    registry = Registry(app)
    registry.create_list("long", "Long list")
    registry.publish("long", entry("Alpha"), entry("Bravo"), entry("Charlie"))
    registry.publish("long", entry("Delta"), reason="Delta added.")
    client = app.test_client()
    assert _prepare(app) == 1
    assert client.get("/lists/long/versions/2.pdf").status_code == 200
    assert client.get("/lists/long/versions/1.pdf").status_code == 503
    assert _prepare(app) == 1
    assert client.get("/lists/long/versions/1.pdf").status_code == 200
    assert _prepare(app) == 0


def test_two_runs_or_two_schedulers_store_an_annex_once(
    long_app: Flask, app_factory: Callable[..., Flask]
) -> None:
    other = app_factory(**LONG)
    assert _prepare(long_app) == 1
    assert _prepare(long_app) == 0
    assert _prepare(other) == 0
    assert _stored_annexes(long_app) == 1
    # Two schedulers laying the same annex out at once: both store, one row is kept.
    body = _inline(long_app, "long", 1)
    with long_app.app_context():
        register_list = services.get_list(db.session, "long")
        assert register_list is not None
        version = services.get_version(db.session, register_list, 1, snapshot=False)
        assert version is not None
        key = annex.annex_key(register_list.id, register_list.title, 1, version.published_at)
    for app in (long_app, other):
        with app.app_context():
            rendered.store(stored_key(key), annex.MIMETYPE, body)
    assert _stored_annexes(long_app) == 1
