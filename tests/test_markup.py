"""Markup every page shares: unique ids, one ``h1``, valid ``<time datetime>`` values, the
footer's sign-in link, and error pages titled in sentences a reader understands."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from registry.errors import PAGE_TITLES
from registry.extensions import db
from registry.lists.models import Notice, NoticeKind
from registry.timeutil import utcnow
from tests.crawl import crawl, demo_admin, parse

# HTML's "valid global date and time string" (seconds, at most three decimals, Z or an offset),
# and its "valid date string": what a <time datetime> of a moment or of a day may hold.
GLOBAL_DATE_AND_TIME = re.compile(
    r"^\d{4,}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$"
)
DATE = re.compile(r"^\d{4,}-\d{2}-\d{2}$")


def test_no_page_of_the_demo_repeats_an_id_lacks_one_h1_or_has_an_invalid_time(
    runner: FlaskCliRunner, client: FlaskClient, app: Flask
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    public = crawl(app.test_client(), "/", "/processors", "/subscribe", "/sign-in")
    demo_admin(runner, client, app)
    pages = {**public, **crawl(client, "/admin/", "/admin/users", "/account")}
    assert "/admin/users/1" in pages, "the crawl reaches the user pages"
    assert len(pages) > 40, sorted(pages)
    repeated = {
        path: sorted(name for name, count in Counter(markup.ids).items() if count > 1)
        for path, markup in pages.items()
    }
    assert {path: ids for path, ids in repeated.items() if ids} == {}
    # One h1 a page: its title. (A policy's own headings sit one level below it.)
    assert "/documents/privacy-policy" in pages, "the crawl reaches a policy document"
    assert {path: markup.h1s for path, markup in pages.items() if markup.h1s not in (None, 1)} == {}
    times = [(path, value) for path, markup in pages.items() for value in markup.times]
    assert len(times) > 20
    invalid = [
        (path, value) for path, value in times if not (GLOBAL_DATE_AND_TIME.match(value) or DATE.match(value))
    ]
    assert invalid == []


def test_times_are_given_to_the_second_in_utc(runner: FlaskCliRunner, client: FlaskClient) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    for path in ("/processors", "/processors/changes", "/processors/versions", "/documents/privacy-policy"):
        times = parse(client.get(path).get_data(as_text=True)).times
        assert times, path
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value) for value in times), (
            path,
            times,
        )


def test_the_public_footer_offers_account_managers_a_sign_in(
    runner: FlaskCliRunner, client: FlaskClient, app: Flask
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    for path in ("/", "/processors", "/documents", "/subscribe", "/nothing-here"):
        footer = client.get(path).get_data(as_text=True).split('<footer class="site-footer">')[1]
        assert 'For account managers: <a href="/sign-in">Sign in</a>' in footer, path
    demo_admin(runner, client, app)
    footer = client.get("/admin/").get_data(as_text=True).split('<footer class="site-footer">')[1]
    assert "Sign in" not in footer  # signed in: the header offers the account and signing out


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """The app with one more route that answers any status, to see every error page."""

    def fail(code: int) -> str:
        if code == 500:
            raise RuntimeError("a bug")
        abort(code)

    app.add_url_rule("/fail/<int:code>", view_func=fail)
    return app


@pytest.mark.parametrize("code", sorted(PAGE_TITLES))
def test_error_pages_are_titled_in_plain_words(failing_app: Flask, code: int) -> None:
    response = failing_app.test_client().get(f"/fail/{code}")
    assert response.status_code == code
    page = response.get_data(as_text=True)
    title = PAGE_TITLES[code]
    assert f"<title>{title} · " in page
    assert f"<h1>{title}</h1>" in page
    # The API and .json URLs keep HTTP's reason phrase, which programs may compare.
    json_title = failing_app.test_client().get(f"/fail/{code}", headers={"Accept": "application/json"})
    assert json_title.get_json()["error"]["title"] not in ("", title)


@pytest.mark.parametrize(
    ("method", "path", "title"),
    [
        ("get", "/nothing-here", "Page not found"),
        ("get", "/processors/versions/abc", "Something in the request was wrong"),
        ("get", "/processors?q=" + "a" * 3000, "The address is too long"),
        ("post", "/processors", "This page cannot be used that way"),
    ],
)
def test_real_errors_get_plain_titles(
    runner: FlaskCliRunner, client: FlaskClient, method: str, path: str, title: str
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    response = getattr(client, method)(path)
    assert response.status_code >= 400
    page = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in page
    assert not re.search(r"<title>(Bad Request|Not Found|Gone|Method Not Allowed)", page)


def test_an_objection_link_past_its_deadline_says_it_has_expired(
    runner: FlaskCliRunner, client: FlaskClient, app: Flask
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        closed = db.session.scalars(
            select(Notice.uuid).where(
                Notice.kind == NoticeKind.ANNOUNCEMENT, Notice.objection_deadline < utcnow()
            )
        ).first()
    assert closed is not None, "the demo has a notice whose objection window closed"
    response = client.get(f"/notices/{closed}/object")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "<title>This link has expired · " in page and "<h1>This link has expired</h1>" in page
    assert "Gone" not in page
