"""Answers replayed without Flask: the public bytes a process has just answered, sent again.

A public answer (a list page, a version's JSON, a diff, a feed) is a fixed sequence of bytes for
as long as the process trusts the stamps it was made from (``LIST_STAMP_TTL``). Flask's request
handling around those bytes (the request context, routing, a dozen hooks, the response's headers)
costs several times what sending them does, so the WSGI layer keeps the last answers it sent and,
for a request of the same address, sends them again before Flask sees the request: the status,
every header the hooks added (security headers, CORS, ``Content-Disposition``) and the body, byte
for byte, and a 304 for a client that already holds them.

What may be replayed is chosen by the view, never guessed: ``caching.conditional`` marks its
answer (``allow``), and only on an endpoint no rate limit names. The WSGI layer then keeps it
only for a GET without a cookie, credentials or a range, answered 200 or 304 without a cookie
and varying on nothing but the cookie. A replayed answer is never older than the stamps: it
expires ``LIST_STAMP_TTL`` seconds after the oldest stamp it was made from was read, and at any
commit in this process (an editor sees their change at once, as with the stamps).

Only bytes live here: the module knows no list, no view and no table.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context, request
from werkzeug.http import parse_date, parse_etags, unquote_etag

from registry import rate_limits
from registry.database import commits

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Set in a request's WSGI environment by ``allow``: the monotonic time its answer expires.
_ALLOWED = "registry.replay.expires"
# Set by ``made_from``: the monotonic time the oldest stamp the answer was made from was read.
_OLDEST = "registry.replay.oldest"
# Set by ``changes_in``: the monotonic time the answer's bytes move with the clock alone.
_UNTIL = "registry.replay.until"
# A request carrying any of these may be answered for its sender alone: always to Flask.
_PERSONAL = ("HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_RANGE")
_READS = ("GET", "HEAD")
# Headers an answer may vary on and still be replayed: a request with a cookie is never replayed,
# so the answer for one without is the same for every reader.
_REPLAYABLE_VARY = frozenset({"cookie"})
# Most bytes kept at once; bodies are mostly the render cache's own objects, shared, not copied.
_MOST_BYTES = 64 * 1024 * 1024


def made_from(read_at: float) -> None:
    """Note that the current answer was made from something read at ``read_at`` (monotonic) and
    trusted for ``LIST_STAMP_TTL`` from then (the list stamps call this)."""
    if not has_request_context():
        return
    environ = request.environ
    oldest = environ.get(_OLDEST)
    if oldest is None or read_at < oldest:
        environ[_OLDEST] = read_at


def changes_in(seconds: float) -> None:
    """Note that the current answer moves with the clock in ``seconds`` (a calendar's window, at
    midnight): it is never sent again past that, however long its stamps are trusted."""
    if not has_request_context():
        return
    environ = request.environ
    until = time.monotonic() + seconds
    environ[_UNTIL] = min(environ.get(_UNTIL, until), until)


def allow() -> None:
    """Let the WSGI layer replay the current answer while what it was made from is trusted.

    For answers whose bytes depend only on the address (path and query) and what the stamps say:
    ``caching.conditional`` calls it. An endpoint with a rate limit is never replayed, since its
    every request must be counted.
    """
    if not rate_limits.no_limit_applies():
        return
    environ = request.environ
    now = time.monotonic()
    read_at = min(environ.get(_OLDEST, now), now)
    environ[_ALLOWED] = min(read_at + current_app.config["LIST_STAMP_TTL"], environ.get(_UNTIL, math.inf))


@dataclass
class _Answer:
    """What was sent for one address: the full answer and the 304 as Flask made them."""

    expires: float
    commits: int
    etag: str | None
    last_modified: str | None
    full: tuple[str, list[tuple[str, str]], bytes] | None = None
    not_modified: tuple[str, list[tuple[str, str]]] | None = None
    size: int = field(default=0)

    def current(self) -> bool:
        return self.commits == commits() and time.monotonic() < self.expires

    def unchanged_for(self, environ: WSGIEnvironment) -> bool | None:
        """Whether the client's copy is this answer (True/False), None for an unconditional GET.

        As ``caching.conditional`` decides: If-None-Match wins over If-Modified-Since."""
        # Read as Flask reads it: a header that names no tag (",") is no If-None-Match at all.
        sent = environ.get("HTTP_IF_NONE_MATCH")
        if_none_match = parse_etags(sent) if sent else None
        if if_none_match:
            if self.etag is None:
                return False
            return if_none_match.contains_weak(unquote_etag(self.etag)[0])
        if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if not if_modified_since:
            return None
        since = parse_date(if_modified_since)
        modified = parse_date(self.last_modified) if self.last_modified else None
        return since is not None and modified is not None and modified <= since


def _address(environ: WSGIEnvironment) -> tuple[Any, ...]:
    """Everything of a request that shapes a public answer: where the app is mounted, the path and
    query as sent, and the host and scheme (as the client and any proxy name them)."""
    get = environ.get
    return (
        get("SCRIPT_NAME", ""),
        get("PATH_INFO", ""),
        get("QUERY_STRING", ""),
        get("HTTP_HOST"),
        get("SERVER_NAME"),
        get("SERVER_PORT"),
        get("wsgi.url_scheme"),
        get("HTTP_X_FORWARDED_PROTO"),
        get("HTTP_X_FORWARDED_HOST"),
        get("HTTP_X_FORWARDED_PORT"),
        get("HTTP_X_FORWARDED_PREFIX"),
    )


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _replayable_headers(headers: list[tuple[str, str]]) -> bool:
    for key, value in headers:
        lower = key.lower()
        if lower == "set-cookie":
            return False
        if lower == "vary" and not {v.strip().lower() for v in value.split(",")} <= _REPLAYABLE_VARY:
            return False
    return True


class Replay:
    """The WSGI layer in front of Flask that replays allowed answers (see the module)."""

    def __init__(self, app: WSGIApplication, size: int):
        self.app = app
        self.size = size
        self._answers: dict[tuple[Any, ...], _Answer] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        # How many requests were answered here without Flask: what the tests read.
        self.replayed = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in _READS or any(name in environ for name in _PERSONAL):
            return self.app(environ, start_response)
        address = _address(environ)
        answer = self._answers.get(address)
        if answer is not None and answer.current():
            sent = self._send(answer, environ, start_response, head=method == "HEAD")
            if sent is not None:
                self.replayed += 1
                return sent
        if method == "HEAD":
            return self.app(environ, start_response)
        return self._record(address, environ, start_response)

    def _send(
        self, answer: _Answer, environ: WSGIEnvironment, start_response: StartResponse, *, head: bool
    ) -> list[bytes] | None:
        unchanged = answer.unchanged_for(environ)
        if unchanged:
            if answer.not_modified is None:
                return None
            status, headers = answer.not_modified
            start_response(status, list(headers))
            return []
        if answer.full is None:
            return None
        status, headers, body = answer.full
        start_response(status, list(headers))
        return [] if head else [body]

    def _record(
        self, address: tuple[Any, ...], environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        seen: dict[str, Any] = {}
        started = commits()

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        expires = environ.get(_ALLOWED)
        status: str | None = seen.get("status")
        headers: list[tuple[str, str]] = seen.get("headers", [])
        if status is None or expires is None or status[:3] not in ("200", "304"):
            return result
        if not _replayable_headers(headers):
            return result
        try:
            body = b"".join(result)  # one bytes object: the same object, not a copy
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        self._keep(address, expires, started, status, headers, body)
        return [body]

    def _keep(
        self,
        address: tuple[Any, ...],
        expires: float,
        started: int,
        status: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        etag, last_modified = _header(headers, "etag"), _header(headers, "last-modified")
        with self._lock:
            answer = self._answers.pop(address, None)
            if answer is None or answer.etag != etag or not answer.current():
                if answer is not None:  # replaced: its bytes leave the count with it
                    self._bytes -= answer.size
                answer = _Answer(expires, started, etag, last_modified)
            answer.expires, answer.commits = expires, started
            if status.startswith("304"):
                answer.not_modified = (status, list(headers))
            else:
                self._bytes += len(body) - answer.size
                answer.full, answer.size = (status, list(headers), body), len(body)
            self._answers[address] = answer  # newest last: the oldest go first
            while self._answers and (len(self._answers) > self.size or self._bytes > _MOST_BYTES):
                oldest = next(iter(self._answers))
                self._bytes -= self._answers.pop(oldest).size

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._bytes = 0


def register(app: Flask) -> None:
    """Put the replay in front of the app (outermost, so it sees the request as sent)."""
    size = app.config["REPLAY_ANSWERS"]
    if size <= 0:
        return
    replay = Replay(app.wsgi_app, size)
    app.extensions["replay"] = replay
    app.wsgi_app = replay  # type: ignore[method-assign]
