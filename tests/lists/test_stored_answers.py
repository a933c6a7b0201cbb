"""Public answers rendered once per installation: stored for every worker, byte for byte what a
fresh rendering gives, never rendered for a 304, and invalidated by a change of the code."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from registry.caching import RenderCache
from registry.extensions import db
from registry.rendered import RenderedAnswer, code_revision, fetch_or_store
from tests.conftest import NOW, Registry, entry

# Every public answer about a version or a pair of versions, and what moves with the list.
URLS = [
    "/processors",
    "/processors.json",
    "/processors.csv",
    "/processors/versions/1",
    "/processors/versions/2",
    "/processors/versions/1.json",
    "/processors/versions/2.csv",
    "/processors/diff?from=1&to=3",
    "/processors/diff.json?from=1&to=3",
    "/processors/changes",
    "/processors/versions",
    "/processors/versions.json",
    "/processors/feed.atom",
    "/processors/feed.rss",
]


@pytest.fixture
def three_versions(registry: Registry) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    registry.publish("sub-processors", entry("Datadog"), reason="Monitoring.", now=NOW + timedelta(days=1))
    registry.publish("sub-processors", entry("Fastly"), reason="CDN.", now=NOW + timedelta(days=2))
    return registry


def _renders(app: Flask) -> int:
    cache: RenderCache = app.extensions["render_cache"]
    return cache.renders


def _stored(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(RenderedAnswer)) or 0)


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_another_worker_serves_the_stored_bytes_without_rendering(
    three_versions: Registry, app: Flask, app_factory: Callable[..., Flask]
) -> None:
    first = app.test_client()
    bodies = {url: first.get(url) for url in URLS}
    assert all(response.status_code == 200 for response in bodies.values())
    assert _stored(app) > 0

    other = app_factory()  # another process: an empty memory cache, the same database
    client = other.test_client()
    for url in ("/processors/versions/1.json", "/processors/diff.json?from=1&to=3", "/processors/versions"):
        again = client.get(url)
        assert again.data == bodies[url].data
        assert again.headers["ETag"] == bodies[url].headers["ETag"]
        assert again.content_type == bodies[url].content_type
    assert _renders(other) == 0


def test_stored_answers_are_byte_identical_to_fresh_ones(
    three_versions: Registry, app: Flask, app_factory: Callable[..., Flask]
) -> None:
    client = app.test_client()
    stored = {url: client.get(url).data for url in URLS}
    stored_again = {url: app_factory().test_client().get(url).data for url in URLS}
    # Another code revision renders everything afresh, without reading a stored byte.
    fresh_app = app_factory(RENDER_REVISION="another deploy")
    fresh = {url: fresh_app.test_client().get(url).data for url in URLS}
    assert _renders(fresh_app) >= len(URLS)
    for url in URLS:
        assert stored[url] == stored_again[url] == fresh[url], url


def test_a_code_revision_change_invalidates(
    three_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    old = app_factory(RENDER_REVISION="one")
    response = old.test_client().get("/processors/diff.json?from=1&to=3")
    stored = _stored(old)
    new = app_factory(RENDER_REVISION="two")
    again = new.test_client().get("/processors/diff.json?from=1&to=3")
    assert _renders(new) == 1 and _stored(new) == stored + 1
    # The validators move with it: a client's copy from the old code is not confirmed.
    assert again.headers["ETag"] != response.headers["ETag"]
    assert (
        new.test_client()
        .get("/processors/diff.json?from=1&to=3", headers={"If-None-Match": response.headers["ETag"]})
        .status_code
        == 200
    )


def test_the_code_revision_follows_the_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "registry").mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("<p>{{ a }}</p>")
    (tmp_path / "registry" / "views.py").write_text("x = 1\n")
    settings = {"COMPANY_NAME": "Example"}
    before = code_revision(tmp_path, settings)
    assert code_revision(tmp_path, settings) == before
    page.write_text("<p>{{ b }}</p>")
    after = code_revision(tmp_path, settings)
    assert after != before
    assert code_revision(tmp_path, {"COMPANY_NAME": "Other"}) != after


@pytest.mark.parametrize("url", URLS)
def test_a_304_renders_and_loads_nothing(
    three_versions: Registry, app: Flask, app_factory: Callable[..., Flask], url: str
) -> None:
    etag = app.test_client().get(url).headers["ETag"]
    cold = app_factory()  # nothing in its memory
    with statements(cold) as seen:
        response = cold.test_client().get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert _renders(cold) == 0
    # Neither the entries of a version nor a stored answer were read: only stamps.
    assert not [s for s in seen if "snapshot" in s or "rendered_answers" in s], seen
    assert len(seen) <= 3, seen


def test_a_stored_answer_is_read_not_rendered(
    three_versions: Registry, app: Flask, app_factory: Callable[..., Flask]
) -> None:
    app.test_client().get("/processors/diff.json?from=1&to=3")
    cold = app_factory()
    with statements(cold) as seen:
        assert cold.test_client().get("/processors/diff.json?from=1&to=3").status_code == 200
    assert _renders(cold) == 0
    assert not [s for s in seen if "snapshot" in s]


def test_concurrent_first_requests_both_answer(
    three_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    """Two workers render the same diff at once: the second INSERT does nothing, both answer."""
    url = "/processors/diff.json?from=1&to=3"
    workers = [app_factory(), app_factory()]
    start = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def fetch(index: int) -> None:
        client = workers[index].test_client()
        start.wait()
        results[index] = client.get(url)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in results] == [200, 200]
    assert results[0].data == results[1].data
    with workers[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(RenderedAnswer)) == 1


def test_a_second_insert_of_the_same_answer_does_nothing(
    app: Flask, app_factory: Callable[..., Flask]
) -> None:
    """Deterministically: while one worker renders, another stores the same key first."""
    other = app_factory()
    key = ("test", 1)

    def render_there() -> bytes:
        with other.test_request_context():
            return fetch_or_store(db.session, key, "text/plain", lambda: b"same bytes")

    def render_here() -> bytes:
        render_there()  # the other worker finishes first
        return b"same bytes"

    with app.test_request_context():
        assert fetch_or_store(db.session, key, "text/plain", render_here) == b"same bytes"
        db.session.rollback()
        assert fetch_or_store(db.session, key, "text/plain", lambda: b"not rendered") == b"same bytes"
    assert _stored(app) == 1


def test_headers_of_the_normal_path_run_on_stored_answers(
    three_versions: Registry, app: Flask, app_factory: Callable[..., Flask]
) -> None:
    url = "/processors/versions/1.csv"
    first = app.test_client().get(url, headers={"Origin": "https://elsewhere.example"})
    served = app_factory().test_client().get(url, headers={"Origin": "https://elsewhere.example"})
    assert served.data == first.data
    assert served.headers["Access-Control-Allow-Origin"] == "*"
    assert served.headers["Content-Disposition"] == first.headers["Content-Disposition"]
    assert "X-Content-Type-Options" in served.headers or "Content-Security-Policy" in served.headers


def test_filtered_views_are_not_stored(three_versions: Registry, app: Flask) -> None:
    """Readers choose filters freely: they stay in the process's memory, never in the table."""
    client = app.test_client()
    client.get("/processors/versions/1.json")
    stored = _stored(app)
    for q in ("a", "b", "c"):
        assert client.get(f"/processors/versions/1.json?q={q}").status_code == 200
    assert _stored(app) == stored


def test_what_moves_with_the_list_is_stored_once_per_list(three_versions: Registry, app: Flask) -> None:
    """The current list's answers replace their previous revision's rows: the table does not grow
    with every change, while past versions' rows stay."""
    client = app.test_client()
    moving = ["/processors", "/processors.json", "/processors/changes", "/processors/feed.atom"]
    for url in [*moving, "/processors/versions/1.json"]:
        client.get(url)
    stored = _stored(app)
    for day in range(3, 6):
        three_versions.publish("sub-processors", entry(f"Vendor {day}"), now=NOW + timedelta(days=day))
        for url in moving:
            assert client.get(url).status_code == 200
    assert _stored(app) == stored
    assert app.test_client().get("/processors/versions/1.json").status_code == 200


def test_init_db_forgets_what_older_code_rendered(
    three_versions: Registry, app_factory: Callable[..., Flask]
) -> None:
    old = app_factory(RENDER_REVISION="before the deploy")
    old.test_client().get("/processors/diff.json?from=1&to=3")
    new = app_factory(RENDER_REVISION="after the deploy")
    new.test_client().get("/processors/versions/1.json")
    result = new.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with new.app_context():
        revisions = set(db.session.scalars(select(RenderedAnswer.code_revision)))
    assert revisions == {"after the deploy"}


# What each worker process does in the test below: asks for the answers, prints what it got and
# how many it rendered itself.
_WORKER = """
import hashlib, json, sys
from pathlib import Path
from tests.conftest import make_app
app = make_app(sys.argv[1], Path(sys.argv[2]))
client = app.test_client()
cache = app.extensions["render_cache"]
answers, renders = {}, {}
for url in json.loads(sys.argv[3]):
    before = cache.renders
    answers[url] = hashlib.sha256(client.get(url).data).hexdigest()
    renders[url] = cache.renders - before
print(json.dumps({"renders": renders, "answers": answers}))
"""


def test_two_processes_compute_a_diff_a_history_page_and_a_version_once(
    three_versions: Registry, db_url: str, tmp_path: Path
) -> None:
    """Real processes, as two workers are: the second renders nothing and answers the same bytes."""
    urls = ["/processors/diff?from=1&to=3", "/processors/changes", "/processors/versions/2"]

    def worker(name: str) -> dict[str, Any]:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, db_url, str(folder), json.dumps(urls)],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return found

    first, second = worker("first"), worker("second")
    assert all(first["renders"][url] >= 1 for url in urls), first
    assert second["renders"] == dict.fromkeys(urls, 0), second
    assert second["answers"] == first["answers"]
