"""Response headers that every page gets, and refusal of absurd requests before any work."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session
from werkzeug.exceptions import BadRequest, RequestURITooLarge

from registry.validation import storable

# No inline scripts or styles, nothing from other origins; framing only where ``embeddable``.
_POLICY = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
]
View = TypeVar("View", bound=Callable[..., Any])
_EMBEDDABLE = "registry_embeddable"


def embeddable(view: View) -> View:
    """Mark a public view that the origins of FRAME_ANCESTORS may frame (and no other page)."""
    setattr(view, _EMBEDDABLE, True)
    return view


def _framed_by(app: Flask, endpoint: str | None) -> list[str]:
    """The origins allowed to frame this response: FRAME_ANCESTORS on an embeddable view, else none."""
    view = app.view_functions.get(endpoint) if endpoint else None
    if not getattr(view, _EMBEDDABLE, False):
        return []
    return list(app.config["FRAME_ANCESTORS"])


def page_headers(app: Flask, endpoint: str | None) -> tuple[tuple[str, str], ...]:
    """The headers every response of ``endpoint`` gets unless it sets them itself."""
    origins = _framed_by(app, endpoint)
    policy = content_security_policy(origins) if origins else CONTENT_SECURITY_POLICY
    headers = [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff")]
    if not origins:
        # X-Frame-Options cannot name a list of origins: where some may frame, CSP alone says
        # which (every browser that frames at all reads frame-ancestors).
        headers.append(("X-Frame-Options", "DENY"))
    headers.append(("Referrer-Policy", "strict-origin-when-cross-origin"))
    return tuple(headers)


def content_security_policy(origins: list[str]) -> str:
    """The policy of every page; ``origins`` (checked at start, see ``config.frame_ancestors``)
    may frame it, none when empty."""
    ancestors = " ".join(origins) if origins else "'none'"
    return "; ".join([*_POLICY, f"frame-ancestors {ancestors}"])


# What every page but an embeddable view sends: no framing at all.
CONTENT_SECURITY_POLICY = content_security_policy([])


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-case and without a default port; None if unusable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")


def same_origin_request() -> bool:
    """Whether the browser vouches that this request was sent by a page of this very site.

    For forms that cannot carry a session's CSRF token (the subscribe form inside list pages
    cached for everyone). Browsers send ``Sec-Fetch-Site``, which no page can forge; when it is
    there, only ``same-origin`` counts. Older browsers send ``Origin`` instead, which must then
    be this site's own (as requested, or as PUBLIC_BASE_URL says). No header: no proof.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() == "same-origin"
    origin = request.headers.get("Origin")
    if not origin:
        return False
    # Browsers serialise an origin exactly as ``_origin`` does: compare the text itself.
    own = {_origin(request.host_url), _origin(current_app.config["PUBLIC_BASE_URL"])} - {None}
    return origin.strip().lower() in own


def register(app: Flask) -> None:
    @app.before_request
    def refuse_absurd_query() -> None:
        if len(request.query_string) > app.config["MAX_QUERY_STRING"]:
            raise RequestURITooLarge("This address is too long. Shorten the search or filters and try again.")
        # No text we store or look up may contain NUL (PostgreSQL refuses it outright).
        if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
            raise BadRequest("The address contains a NUL character, which is never valid here.")
        # Without a Content-Type there is no form to read (most requests: parsing none costs).
        if (
            request.environ.get("CONTENT_TYPE")
            and request.mimetype in _FORM_TYPES
            and not all(storable(v) for v in request.form.values())
        ):
            raise BadRequest("The form contains a NUL or an invalid character; please retype that text.")

    # The same for every response of an endpoint, and settings are fixed at start: computed once.
    # (A route added after start, as some tests do, has its headers computed on each response.)
    by_endpoint = {endpoint: page_headers(app, endpoint) for endpoint in app.view_functions}
    unrouted = page_headers(app, None)

    @app.after_request
    def security_headers(response: Response) -> Response:
        endpoint = request.endpoint
        wanted = by_endpoint.get(endpoint) if endpoint else unrouted
        if wanted is None:
            wanted = page_headers(app, endpoint)
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        headers.extend([header for header in wanted if header[0].lower() not in present])
        _keep_cookies_private(app, response)
        return response


def _keep_cookies_private(app: Flask, response: Response) -> None:
    """A public answer that is to carry a reader's session cookie (a signed-in manager's "last
    seen" refreshed while reading the public site) becomes private: a shared cache must never
    keep that cookie for the next reader. Only the headers change; the body is everyone's."""
    # Whether a cookie goes out first: it is rare, and reading Cache-Control means parsing it.
    if not app.session_interface.should_set_cookie(app, session):
        return
    control = response.cache_control
    if control.public:
        control.public = False
        control.private = True
        control.immutable = False


def fingerprint(address: str) -> str:
    """A keyed hash of an address (HMAC-SHA256 with SECRET_KEY): lets the trail answer "was this
    address erased?" or "were sign-ins tried with it?" for someone who knows the address, and
    tells nothing to anyone who does not (not even a password typed into the address field)."""
    key = current_app.config["SECRET_KEY"].encode()
    message = b"registry.erased-address:" + address.strip().lower().encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
