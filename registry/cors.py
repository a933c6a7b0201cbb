"""Reading from another origin: the public representations a customer's own tools fetch (JSON,
CSV, feeds, text diffs) say ``Access-Control-Allow-Origin: *``; nothing else does.

A view opts in with ``@shared``; one hook adds the headers, so the set of shared endpoints is the
set of decorated views and nothing is shared by accident. Anonymous reads only: no
``Access-Control-Allow-Credentials``, so a browser never sends its cookies along, and pages that
hold a session, a token or a form (admin, accounts, subscriptions, the API) are never decorated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request

View = TypeVar("View", bound=Callable[..., Any])

_MARK = "registry_shared_with_any_origin"
# Scripts revalidate (ETag, Last-Modified), follow pagination (Link) and back off (Retry-After).
EXPOSED_HEADERS = "ETag, Last-Modified, Link, Retry-After"
# A conditional request sends these, which are not CORS-safelisted: the browser asks first.
ALLOWED_HEADERS = "If-None-Match, If-Modified-Since"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
PREFLIGHT_MAX_AGE = 86400


def shared(view: View) -> View:
    """Mark a public GET view as readable by scripts of any origin."""
    setattr(view, _MARK, True)
    return view


def is_shared(endpoint: str | None) -> bool:
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return bool(getattr(view, _MARK, False))


def register(app: Flask) -> None:
    @app.after_request
    def share_public_reads(response: Response) -> Response:
        # Errors and redirects of a shared view are shared too: a script must be able to read
        # why its request failed, and a browser checks every hop of a redirect it follows.
        if request.method not in ("GET", "HEAD", "OPTIONS") or not is_shared(request.endpoint):
            return response
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        else:
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
