"""Conditional responses and the per-process cache of rendered representations.

A list is read constantly and changes rarely, so each representation is rendered once per list
revision and then served as bytes. Keys include the revision, which every visible change bumps:
a cached entry is never stale, it is only unreachable, and the LRU bound drops it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from functools import lru_cache

from flask import Response, current_app, request

# What can never change (a past version, a diff between two named versions) may be kept for a
# year without asking again (RFC 8246); its key must then name only the thing itself.
IMMUTABLE = "public, max-age=31536000, immutable"


class RenderCache:
    """A small thread-safe LRU of rendered bodies."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

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


def conditional(
    key: Hashable,
    last_modified: datetime,
    render: Callable[[], bytes],
    mimetype: str,
    *,
    max_age: int | None = None,
    immutable: bool = False,
) -> Response:
    """Answer 304 when the client's copy is current, else the (cached) representation.

    ``key`` must identify the representation completely: the list's revision for what moves
    with the list; for an ``immutable`` one, only what its bytes are made of (a version's list,
    number and publication time), so that its ETag never moves, and ``last_modified`` its
    publication time.
    """
    etag = etag_for(key)
    last_modified = last_modified.replace(microsecond=0)
    if max_age is None:
        max_age = current_app.config["CACHE_MAX_AGE"]
    headers = {
        "ETag": f'"{etag}"',
        "Last-Modified": _http_date(last_modified),
        "Cache-Control": IMMUTABLE if immutable else f"public, max-age={max_age}",
    }
    if _not_modified(etag, last_modified):
        return Response(status=304, headers=headers)
    body = render_cache().get_or_render(key, render)
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
