"""The PDF annex of a version: every entry of that version and no other, the SHA-256 of the
version's JSON as served, the company, list, version and permanent URL on every page; stored
like the JSON (a second worker renders nothing), revalidated with a 304, refusing what is not a
version with a 4xx, and never fetching anything while it is laid out.

The PDF is read back with poppler's ``pdftotext -layout``: what a reader of the file sees.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from registry.caching import RenderCache
from registry.lists import annex
from tests.checkers import pdf_text, words

BASE = "https://registry.example"


def _renders(app: Flask) -> int:
    cache: RenderCache = app.extensions["render_cache"]
    return cache.renders


@pytest.fixture
def demo(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0


def _names(client: FlaskClient, url: str) -> set[str]:
    return {p["name"] for p in client.get(url).get_json()["processors"]}


def check_annex(client: FlaskClient, text: str, prefix: str, number: int, title: str) -> None:
    """What every annex must say: the facts in the title block and on every page's footer."""
    json_bytes = client.get(f"{prefix}/versions/{number}.json").data
    digest = hashlib.sha256(json_bytes).hexdigest()
    flat = words(text)
    pages = [int(total) for _, total in re.findall(r"Page (\d+) of (\d+)", flat)]
    assert pages and len(pages) == pages[0], f"not every page says 'Page X of Y':\n{text}"
    # The footer, on every page: company, list, version, effective date, permanent URL, SHA-256.
    assert flat.count(f"SHA-256 {digest}") == len(pages), text
    footer = re.findall(
        rf"Example Cloud Ltd · {re.escape(title)} · Version {number} · in effect from \d+ \w+ \d{{4}}", flat
    )
    assert len(footer) == len(pages), text
    assert flat.count(f"Permanent URL: {BASE}{prefix}/versions/{number} ") == len(pages), text
    # The title block.
    assert f"{title}: Version {number}" in flat and "In effect from" in flat


def test_the_annex_of_each_demo_version_holds_its_entries_and_the_hash_of_its_json(
    client: FlaskClient, demo: None, pdftotext: str, tmp_path: Path
) -> None:
    latest = client.get("/processors.json").get_json()["version"]
    assert latest >= 4
    every = [_names(client, f"/processors/versions/{n}.json") for n in range(1, latest + 1)]
    reasons = {
        v["number"]: v["reason"] for v in client.get("/processors/versions.json").get_json()["versions"]
    }
    for number, names in enumerate(every, start=1):
        response = client.get(f"/processors/versions/{number}.pdf")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF-")
        assert response.headers["Content-Disposition"] == f'inline; filename="sub-processors-v{number}.pdf"'
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        text = pdf_text(pdftotext, response.data, tmp_path)
        check_annex(client, text, "/processors", number, "Sub-processors")
        # The reason may name what left ("Zendesk replaced by Intercom"): the entries are after it.
        flat = words(text).replace(words(reasons[number]), "")
        for name in names:
            assert re.search(rf"(^|\s){re.escape(name)}\s", flat), (
                f"version {number}: {name} missing:\n{text}"
            )
        for name in set().union(*every) - names:
            assert name not in flat, f"version {number} names {name}, not one of its entries:\n{text}"


def test_the_version_page_shows_the_same_hash_and_links_the_annex(client: FlaskClient, demo: None) -> None:
    page = client.get("/processors/versions/2").get_data(as_text=True)
    digest = hashlib.sha256(client.get("/processors/versions/2.json").data).hexdigest()
    assert f'<code class="digest">{digest}</code>' in page
    assert 'href="/processors/versions/2.pdf"' in page and "Download as PDF (DPA annex)" in page
    # The current list links the annex of its current version.
    latest = client.get("/processors.json").get_json()["version"]
    assert f'href="/processors/versions/{latest}.pdf"' in client.get("/processors").get_data(as_text=True)


def test_the_annex_of_another_list_lives_under_its_slug(
    client: FlaskClient, demo: None, pdftotext: str, tmp_path: Path
) -> None:
    response = client.get("/lists/website/versions/1.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'inline; filename="website-v1.pdf"'
    document = client.get("/lists/website/versions/1.json").get_json()
    text = pdf_text(pdftotext, response.data, tmp_path)
    check_annex(client, text, "/lists/website", 1, document["list"]["title"])
    for processor in document["processors"]:
        assert processor["name"] in words(text)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/processors/versions/99.pdf", 404),
        ("/processors/versions/0.pdf", 404),
        ("/processors/versions/one.pdf", 400),
        ("/processors/versions/-1.pdf", 400),
        ("/processors/versions/1234567890123.pdf", 400),
        ("/lists/no-such-list/versions/1.pdf", 404),
    ],
)
def test_what_is_not_a_version_is_a_4xx(client: FlaskClient, demo: None, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "text/html" and "Traceback" not in response.get_data(as_text=True)


def test_a_second_worker_serves_the_stored_annex_without_rendering(
    app: Flask, demo: None, app_factory: Callable[..., Flask]
) -> None:
    first = app.test_client().get("/processors/versions/3.pdf")
    assert first.status_code == 200 and _renders(app) == 1
    # The same worker again: from its own memory.
    assert app.test_client().get("/processors/versions/3.pdf").data == first.data
    assert _renders(app) == 1
    other = app_factory()
    again = other.test_client().get("/processors/versions/3.pdf")
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]
    assert _renders(other) == 0


def test_a_conditional_request_is_a_304_without_rendering(
    app: Flask, demo: None, app_factory: Callable[..., Flask]
) -> None:
    first = app.test_client().get("/processors/versions/1.pdf")
    cold = app_factory()
    client = cold.test_client()
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/processors/versions/1.pdf", headers={"If-None-Match": etag}).status_code == 304
    assert (
        client.get("/processors/versions/1.pdf", headers={"If-Modified-Since": modified}).status_code == 304
    )
    assert _renders(cold) == 0
    assert client.get("/processors/versions/1.pdf", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_server_without_weasyprint_says_so_with_a_503(
    client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a server where WeasyPrint (or Pango) cannot be loaded: importing it fails.
    for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    response = client.get("/processors/versions/2.pdf")
    assert response.status_code == 503
    assert "JSON and CSV" in response.get_data(as_text=True)
    assert client.get("/processors/versions/2.json").status_code == 200


@pytest.fixture
def outside() -> Iterator[tuple[str, list[str]]]:
    """A web server on this machine recording every path asked of it: what WeasyPrint would reach."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_laying_out_an_annex_fetches_nothing(app: Flask, outside: tuple[str, list[str]]) -> None:
    base, asked = outside
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/sheet.css">'
        f"<style>@import url({base}/imported.css);</style></head>"
        f'<body><img src="{base}/logo.png"><p style="background: url({base}/bg.png)">Text</p></body></html>'
    )
    with app.app_context():
        pdf = annex.render_pdf(html)
    assert pdf.startswith(b"%PDF-")
    assert asked == []
