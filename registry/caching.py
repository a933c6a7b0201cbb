"""Conditional responses and the per-process cache of rendered representations.

A list is read constantly and changes rarely, so each representation is rendered once per list
revision and then served as bytes. Keys include the revision, which every visible change bumps:
a cached entry is never stale, it is only unreachable, and the LRU bound drops it. What the
caller marks ``store`` is also kept in the database for every worker (``registry.rendered``).

The validators (ETag, Last-Modified) come from the key and a stored time alone, so a conditional
request is answered before anything is rendered, diffed or loaded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Response, current_app, has_request_context, request
from markupsafe import Markup

from registry import rendered, replay
from registry.extensions import db

# What can never change (a past version, a diff between two named versions) may be kept for a
# year without asking again (RFC 8246); its key must then name only the thing itself.
IMMUTABLE = "public, max-age=31536000, immutable"


class RenderCache:
    """A small thread-safe LRU of rendered bodies."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        # How many times a representation was actually rendered (not served from a cache): what
        # the tests read to show that a 304 or a stored answer renders nothing.
        self.renders = 0

    def counted(self, render: Callable[[], bytes]) -> Callable[[], bytes]:
        def run() -> bytes:
            with self._lock:
                self.renders += 1
            return render()

        return run

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
                return body
        body = render()
        with self._lock:
            self._entries[key] = body
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return body

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def render_cache() -> RenderCache:
    return current_app.extensions["render_cache"]


@lru_cache(maxsize=4096)
def etag_for(key: Hashable) -> str:
    return hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()


def _full_key(key: Hashable) -> tuple[str, str, Hashable]:
    """The key with what else shapes the bytes: the code revision and the app's mount point."""
    return rendered.current_revision(), mount_point(), key


def mount_point() -> str:
    """Where the app is mounted: the request's, or outside a request (a job preparing what a
    reader will ask for) the path of ``PUBLIC_BASE_URL``, which is where readers reach it."""
    if has_request_context():
        return request.script_root
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).path.rstrip("/")


def stored_key(key: Hashable) -> Hashable:
    """What ``body_of(key, ..., store=True)`` keeps ``key``'s body under in ``registry.rendered``."""
    return (mount_point(), key)


def body_of(
    key: Hashable,
    render: Callable[[], bytes],
    content_type: str,
    *,
    store: bool = False,
    family: Hashable | None = None,
) -> bytes:
    """The bytes of ``key``: from this process's cache, else (``store``) the database, else rendered."""
    cache = render_cache()
    full = _full_key(key)
    if not store:
        return cache.get_or_render(full, cache.counted(render))

    def load() -> bytes:
        # The mount point is part of what the bytes are; the code revision is added by the store.
        stored_family = (full[1], family) if family is not None else None
        counted = cache.counted(render)
        return rendered.fetch_or_store(
            db.session, stored_key(key), content_type, counted, family=stored_family
        )

    return cache.get_or_render(full, load)


def fragment(key: Hashable, render: Callable[[], str], *, store: bool = True) -> Markup:
    """A piece of a page that never changes (a version's entries, a diff), rendered once per
    installation and stored; the page around it may change with the list and is cached apart.
    Without ``store`` it is kept in this process only (shared with pages that do store it)."""
    body = body_of(("fragment", key), lambda: render().encode(), "text/html; fragment", store=store)
    return Markup(body.decode())  # noqa: S704  # our own template's output, escaped when rendered


def conditional(
    key: Hashable,
    last_modified: datetime,
    render: Callable[[], bytes],
    mimetype: str,
    *,
    max_age: int | None = None,
    immutable: bool = False,
    store: bool = False,
    family: Hashable | None = None,
) -> Response:
    """Answer 304 when the client's copy is current, else the (cached) representation.

    ``key`` must identify the representation completely: the list's revision for what moves
    with the list; for an ``immutable`` one, only what its bytes are made of (a version's list,
    number and publication time), so that its ETag never moves, and ``last_modified`` its
    publication time. ``store`` also keeps the body in the database for every worker: for what
    anyone may ask for (no reader-chosen filters), so that readers cannot fill the table.
    ``family`` (for what moves with a list) names the thing without its revision: storing a new
    revision replaces the older one's row.
    """
    etag = etag_for(_full_key(key))
    last_modified = last_modified.replace(microsecond=0)
    if max_age is None:
        max_age = current_app.config["CACHE_MAX_AGE"]
    headers = {
        "ETag": f'"{etag}"',
        "Last-Modified": _http_date(last_modified),
        "Cache-Control": IMMUTABLE if immutable else f"public, max-age={max_age}",
    }
    # Its bytes (and its 304) depend on the key alone: the WSGI layer may send them again.
    replay.allow()
    if _not_modified(etag, last_modified):
        return Response(status=304, headers=headers)
    body = body_of(key, render, mimetype, store=store, family=family)
    return Response(body, mimetype=mimetype, headers=headers)


def _not_modified(etag: str, last_modified: datetime) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2).
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and last_modified <= since


@lru_cache(maxsize=1024)
def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
