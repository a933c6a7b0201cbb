"""Reading from another origin: a customer's browser app may read every public representation
(JSON, CSV, feeds, text diffs) and revalidate it, and nothing that holds a session or a token."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.conftest import Registry, Users, entry
from tests.documents.conftest import SECOND, SLUG, Documents

ORIGIN = "https://tools.customer.example"

SHARED = [
    "/processors.json",
    "/processors.csv",
    "/processors.json?country=DE",
    "/processors/versions/1.json",
    "/processors/versions/1.csv",
    "/processors/diff.json?from=1&to=2",
    "/processors/feed.atom",
    "/processors/feed.rss",
    "/processors/calendar.ics",
    "/lists/website.json",
    "/lists/website.csv",
    "/lists/website/versions/1.json",
    "/lists/website/feed.atom",
    "/feed.atom",
    "/feed.rss",
    "/calendar.ics",
    "/lists/website/calendar.ics",
    f"/documents/{SLUG}/diff.txt?from=1&to=2",
    f"/documents/{SLUG}/feed.atom",
    f"/documents/{SLUG}/feed.rss",
    f"/documents/{SLUG}/calendar.ics",
    "/api/v1/openapi.json",
]

# What holds a session, a token or a form: never readable from another origin.
PRIVATE = [
    "/admin",
    "/admin/audit",
    "/sign-in",
    "/account",
    "/subscribe",
    "/subscription",
    "/subscription/some-token",
    "/subscription/some-token/data.json",
    "/unsubscribe/some-token",
    "/api/v1/lists",
    "/api/v1/lists/sub-processors",
]


@pytest.fixture
def published(registry: Registry, documents: Documents) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    registry.publish("sub-processors", entry("Datadog", locations=["US"]), reason="Monitoring.")
    registry.create_list("website", "Website subcontractors")
    registry.publish("website", entry("Fastly", kind="subcontractor"))
    documents.create()
    documents.publish()
    documents.publish(SECOND, summary="Names.")
    return registry


@pytest.fixture
def documents(app: Flask) -> Documents:
    return Documents(app)


def _shared(response: object, *, exposes: bool = True) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("Access-Control-Allow-Origin") == "*"
    # Anonymous reads only: a browser never sends cookies with a wildcard origin, and we never ask it to.
    assert "Access-Control-Allow-Credentials" not in headers
    if exposes:
        exposed = {name.strip().lower() for name in headers["Access-Control-Expose-Headers"].split(",")}
        assert {"etag", "last-modified", "link"} <= exposed


@pytest.mark.parametrize("url", SHARED)
def test_public_representations_are_readable_from_anywhere(
    client: FlaskClient, published: Registry, url: str
) -> None:
    response = client.get(url, headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.get_data(as_text=True)
    _shared(response)
    # A script's conditional request gets the same answer, so it can revalidate what it keeps.
    if "ETag" in response.headers:
        again = client.get(url, headers={"Origin": ORIGIN, "If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
        _shared(again)


@pytest.mark.parametrize("url", SHARED)
def test_preflight_is_answered(client: FlaskClient, published: Registry, url: str) -> None:
    response = client.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match, if-modified-since",
        },
    )
    assert response.status_code in (200, 204)
    _shared(response, exposes=False)
    assert {"GET", "HEAD"} <= {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"if-none-match", "if-modified-since"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert response.data == b""


@pytest.mark.parametrize("url", PRIVATE)
def test_nothing_private_is_shared(client: FlaskClient, published: Registry, url: str) -> None:
    for response in (
        client.get(url, headers={"Origin": ORIGIN}),
        client.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
    ):
        assert response.status_code < 500
        assert not any(name.lower().startswith("access-control-") for name, _value in response.headers)


def test_nor_an_api_route_called_with_a_token(client: FlaskClient, published: Registry, users: Users) -> None:
    users.create("admin@example.com", "admin")
    token = users.token("admin@example.com")
    response = client.get("/api/v1/lists", headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_html_pages_are_not_shared(client: FlaskClient, published: Registry) -> None:
    """Pages are for people; their forms are guarded by the same-origin check, not by CORS."""
    for url in ("/", "/processors", "/processors/versions/1", f"/documents/{SLUG}"):
        assert "Access-Control-Allow-Origin" not in client.get(url, headers={"Origin": ORIGIN}).headers


def test_errors_and_redirects_are_readable_too(client: FlaskClient, published: Registry) -> None:
    """A script that sent a bad filter must be able to read why; one following ``at`` must be
    allowed to follow the redirect (browsers check CORS on every hop)."""
    bad = client.get("/processors.json?country=Narnia", headers={"Origin": ORIGIN})
    assert bad.status_code == 400 and "ISO 3166" in bad.get_json()["error"]["message"]
    _shared(bad)
    missing = client.get("/processors/versions/99.json", headers={"Origin": ORIGIN})
    assert missing.status_code == 404
    _shared(missing)
    moved = client.get("/processors.json?at=2099-01-01", headers={"Origin": ORIGIN})
    assert moved.status_code == 302
    _shared(moved)


def test_over_real_http(app: Flask, published: Registry) -> None:
    """The same through a real server and socket, as a browser app's fetch would see it."""
    with _serving(app) as base:
        request = urllib.request.Request(f"{base}/processors.json", headers={"Origin": ORIGIN})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert "ETag" in response.headers["Access-Control-Expose-Headers"]
            etag = response.headers["ETag"]
        preflight = urllib.request.Request(
            f"{base}/processors.json",
            method="OPTIONS",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        conditional = urllib.request.Request(
            f"{base}/processors.json", headers={"Origin": ORIGIN, "If-None-Match": etag}
        )
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(conditional, timeout=10)
        not_modified.value.close()
        assert not_modified.value.code == 304
        assert not_modified.value.headers["Access-Control-Allow-Origin"] == "*"


class _serving:
    """The app on a real loopback socket, in a thread, for the length of a ``with``."""

    def __init__(self, app: Flask):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
