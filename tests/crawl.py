"""Following the demo's links as a reader clicks them: every HTML page of the site, kept with its
markup (ids, ``h1`` headings, ``<time datetime>`` values, links) and its text, for the tests that
check what every page shares (``tests/test_markup.py``, ``tests/test_html_validity.py``)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import sign_in

# Not pages: downloads, feeds and files; and the one link that ends the session being crawled.
NOT_PAGES = re.compile(r"(\.(json|csv|atom|rss|txt|svg|css)$|^/static/|^/api/|^/sign-out)")
MOST_PAGES = 400


class Markup(HTMLParser):
    """The ids, ``h1`` headings, ``<time datetime>`` values and links of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.h1s: int | None = None  # None: not a page (an error, a download)
        self.times: list[str] = []
        self.links: list[str] = []
        self.html = ""  # the page as served

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "h1":
            self.h1s = (self.h1s or 0) + 1
        if tag == "time" and "datetime" in values:
            self.times.append(values["datetime"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")


def parse(html: str) -> Markup:
    markup = Markup()
    markup.h1s = 0
    markup.feed(html)
    return markup


class Client(Protocol):
    """What the crawl needs of a client: Flask's test client, or ``HttpClient`` for a server."""

    def get(self, path: str) -> Any: ...


@dataclass
class HttpResponse:
    """The few parts of a Flask test response the crawl reads, from a real HTTP answer."""

    status_code: int
    mimetype: str
    body: bytes

    def get_data(self, as_text: bool = False) -> Any:
        return self.body.decode("utf-8") if as_text else self.body


@dataclass
class HttpClient:
    """Reads the pages of a running server (the browser tests' ``live_server``) over HTTP."""

    base_url: str

    def get(self, path: str) -> HttpResponse:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as answer:
                mimetype = answer.headers.get_content_type()
                return HttpResponse(answer.status, mimetype, answer.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, error.headers.get_content_type(), error.read())


def crawl(client: Client, *starts: str) -> dict[str, Markup]:
    """Every HTML page of this site reachable by links from ``starts``, as a reader clicks."""
    seen: dict[str, Markup] = {}
    queue = list(starts)
    while queue and len(seen) < MOST_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            seen[path] = Markup()
            continue
        html = response.get_data(as_text=True)
        markup = parse(html)
        markup.html = html
        seen[path] = markup
        for href in markup.links:
            target = urlsplit(urljoin(f"http://localhost{path}", href))
            if target.scheme not in ("http", "https") or target.netloc not in ("localhost", ""):
                continue  # mailto: links, other sites
            if NOT_PAGES.search(target.path):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link not in seen:
                queue.append(link)
    return seen


def demo_admin(runner: FlaskCliRunner, client: FlaskClient, app: Flask) -> None:
    """Load the demo and sign ``client`` in as its admin, with the password it was given."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    for line in (Path(app.instance_path) / "demo-users.txt").read_text().splitlines():
        email, role, password = line.split()
        if role == "admin":
            assert sign_in(client, email, password).status_code == 302
            return
    raise AssertionError("the demo has no admin")
