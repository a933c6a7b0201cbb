"""History in pages: stable page URLs, rel links, every version once, older pages that never move."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.extensions import db
from registry.lists import workflow
from registry.lists.history import page_of
from registry.lists.models import Notice
from tests.conftest import NOW, Registry, entry
from tests.lists.test_contract import assert_keeps_to_its_schema

SIZE = 3


@pytest.fixture
def paged(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(HISTORY_PAGE_SIZE=SIZE)


def _publish(registry: Registry, count: int, start: int = 1) -> None:
    for number in range(start, start + count):
        registry.publish(
            "sub-processors",
            entry(f"Vendor {number:03d}"),
            reason=f"Reason {number}.",
            now=NOW + timedelta(days=number),
        )


@pytest.fixture
def eight_versions(paged: Flask) -> Registry:
    registry = Registry(paged)
    registry.create_list()
    _publish(registry, 8)
    return registry


def _versions_on(html: str) -> list[int]:
    return [
        int(n) for n in re.findall(r'<th scope="row" data-label="Version"><a [^>]*>Version (\d+)</a>', html)
    ]


def _changes_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="entry" id="version-(\d+)">', html)]


def _rel(html: str, rel: str) -> str | None:
    found = re.search(rf'<link rel="{rel}" href="([^"]+)">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _walk(client: FlaskClient, url: str, read: Callable[[str], list[int]]) -> list[list[int]]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        pages.append(read(html))
        url = _rel(html, "next") or ""
    return pages


def test_page_arithmetic() -> None:
    # The first page holds what the full older pages do not: one to two pages' worth.
    assert page_of(2, None, 3) == page_of(2, None, 3)
    first = page_of(8, None, 3)
    assert first is not None and (first.lowest, first.highest, first.older) == (4, 8, 4)
    older = page_of(8, 4, 3)
    assert older is not None and (older.lowest, older.highest, older.older, older.newer) == (1, 3, None, 7)
    assert page_of(8, 7, 3) is None  # not complete yet: its versions are on the first page
    only = page_of(0, None, 3)
    assert only is not None and list(only.numbers) == []


@pytest.mark.parametrize(
    ("url", "read"),
    [("/processors/versions", _versions_on), ("/processors/changes", _changes_on)],
)
def test_every_version_appears_once_across_pages(
    paged: Flask, eight_versions: Registry, url: str, read: Callable[[str], list[int]]
) -> None:
    pages = _walk(paged.test_client(), url, read)
    assert pages == [[8, 7, 6, 5, 4], [3, 2, 1]]


def test_json_pages_link_to_each_other(paged: Flask, eight_versions: Registry) -> None:
    client = paged.test_client()
    answer = client.get("/processors/versions.json")
    assert_keeps_to_its_schema(client, answer, "versions")
    first = answer.get_json()
    assert [v["number"] for v in first["versions"]] == [8, 7, 6, 5, 4]
    assert first["links"]["prev"] is None
    assert first["links"]["next"] == "https://registry.example/processors/versions.json?before=4"
    answer = client.get("/processors/versions.json?before=4")
    assert_keeps_to_its_schema(client, answer, "versions")
    older = answer.get_json()
    assert [v["number"] for v in older["versions"]] == [3, 2, 1]
    assert older["links"]["next"] is None
    assert older["links"]["first"] == "https://registry.example/processors/versions.json"


def test_older_pages_never_move(paged: Flask, eight_versions: Registry) -> None:
    client = paged.test_client()
    before = {
        url: client.get(url) for url in ("/processors/versions?before=4", "/processors/changes?before=4")
    }
    for response in before.values():
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert _rel(response.get_data(as_text=True), "prev") is not None
    # Not complete yet: the page that will hold 6 to 4 redirects to the first page for now.
    assert client.get("/processors/versions?before=7").status_code == 302

    _publish(eight_versions, 1, start=9)
    for url, response in before.items():
        again = client.get(url)
        assert again.data == response.data, url
        assert again.headers["ETag"] == response.headers["ETag"]
    # Now 9 to 7 are on the first page, and the page that stops before 7 is complete and linked.
    pages = _walk(client, "/processors/versions", _versions_on)
    assert pages == [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    assert _rel(client.get("/processors/versions?before=4").get_data(as_text=True), "prev") == (
        "/processors/versions?before=7"
    )


def test_the_first_page_is_todays_url(paged: Flask, eight_versions: Registry) -> None:
    client = paged.test_client()
    html = client.get("/processors/versions").get_data(as_text=True)
    assert _rel(html, "prev") is None and _rel(html, "next") == "/processors/versions?before=4"
    assert "max-age=31536000" not in client.get("/processors/versions").headers["Cache-Control"]
    assert 'id="upcoming-heading"' not in client.get("/processors/changes?before=4").get_data(as_text=True)


@pytest.mark.parametrize("before", ["5", "2", "0", "x", "99999999999"])
def test_a_before_on_no_page_boundary_is_a_400(paged: Flask, eight_versions: Registry, before: str) -> None:
    response = paged.test_client().get(f"/processors/versions?before={before}")
    assert response.status_code == 400


def test_withdrawals_appear_once_between_their_versions(paged: Flask, eight_versions: Registry) -> None:
    """A withdrawal is on the page of the versions around it, never on two pages."""
    registry = eight_versions
    notice_id = registry.announce(
        "sub-processors",
        [("add", None, entry("Withdrawn Vendor"))],
        effective_at=NOW + timedelta(days=60),
        now=NOW + timedelta(days=2, hours=1),
    )
    with paged.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        workflow.withdraw(
            db.session, notice, reason="Not needed after all.", now=NOW + timedelta(days=2, hours=2)
        )
        db.session.commit()
    client = paged.test_client()
    first = client.get("/processors/changes").get_data(as_text=True)
    older = client.get("/processors/changes?before=4").get_data(as_text=True)
    assert "Not needed after all." not in first
    assert older.count("Not needed after all.") == 1

    # The change log's JSON pages hold the same events, each once, and keep to their schema.
    pages = []
    url: str | None = "/processors/changes.json"
    while url:
        answer = client.get(url)
        assert_keeps_to_its_schema(client, answer, "changes")
        page = answer.get_json()
        pages.append([(item["type"], item.get("version")) for item in page["changes"]])
        url = page["links"]["next"]
    assert pages == [
        [("version", n) for n in (8, 7, 6, 5, 4)],
        [("version", 3), ("withdrawal", None), ("version", 2), ("version", 1)],
    ]
    withdrawal = client.get("/processors/changes.json?before=4").get_json()["changes"][1]
    assert withdrawal["reason"] == "Not needed after all."
    assert [(c["action"], c["name"]) for c in withdrawal["changes"]] == [("add", "Withdrawn Vendor")]
    assert "upcoming" in client.get("/processors/changes.json").get_json()
    assert "upcoming" not in client.get("/processors/changes.json?before=4").get_json()


def _statements_for(app: Flask, url: str) -> tuple[list[str], int]:
    """The SQL statements a request sends, and how many versions it loads."""
    from sqlalchemy import event

    from registry.lists.models import Version

    seen: list[str] = []
    loaded: list[object] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    def count(target: object, _context: object) -> None:
        loaded.append(target)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(Version, "load", count)
    try:
        assert app.test_client().get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(Version, "load", count)
    return seen, len(loaded)


@pytest.mark.parametrize(
    "url", ["/processors/versions", "/processors/changes", "/processors/diff.json?from=1&to=2"]
)
def test_the_cost_does_not_grow_with_the_history(app_factory: Callable[..., Flask], url: str) -> None:
    """The same statements, whether there are 8 versions or 17, and at most two pages' worth of
    versions loaded: each page (and a diff) reads a bounded range, never the whole history."""
    app = app_factory(HISTORY_PAGE_SIZE=SIZE)
    registry = Registry(app)
    registry.create_list()
    _publish(registry, 8)
    short, _ = _statements_for(app_factory(HISTORY_PAGE_SIZE=SIZE, RENDER_REVISION="a"), url)
    _publish(registry, 9, start=9)
    long, loaded = _statements_for(app_factory(HISTORY_PAGE_SIZE=SIZE, RENDER_REVISION="b"), url)
    assert len(long) == len(short)
    assert loaded <= 2 * SIZE - 1
    if "diff" in url:
        # A diff loads its two versions, entries and all, and no other.
        assert loaded == 2
        assert len([s for s in long if "versions.snapshot" in s]) == 2


def test_a_page_size_of_its_own_never_serves_another_sizes_stored_pages(
    paged: Flask, eight_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    """The page size shapes every page of history: an installation that changes it (a setting,
    not a deploy of code) must not be served the pages stored under the old size."""
    for url in ("/processors/versions", "/processors/changes", "/processors/versions?before=4"):
        assert paged.test_client().get(url).status_code == 200
    smaller = app_factory(HISTORY_PAGE_SIZE=2).test_client()
    assert _versions_on(smaller.get("/processors/versions").get_data(as_text=True)) == [8, 7]
    assert _changes_on(smaller.get("/processors/changes").get_data(as_text=True)) == [8, 7]
    # ``before=5`` names versions 4 and 3 at this size, whatever was stored before.
    assert _versions_on(smaller.get("/processors/versions?before=5").get_data(as_text=True)) == [4, 3]
