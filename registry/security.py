"""Response headers that every page gets, and refusal of absurd requests before any work."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest, RequestURITooLarge

from registry.validation import storable

# No inline scripts or styles, nothing from other origins, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def register(app: Flask) -> None:
    @app.before_request
    def refuse_absurd_query() -> None:
        if len(request.query_string) > current_app.config["MAX_QUERY_STRING"]:
            raise RequestURITooLarge("This address is too long. Shorten the search or filters and try again.")
        # No text we store or look up may contain NUL (PostgreSQL refuses it outright).
        if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
            raise BadRequest("The address contains a NUL character, which is never valid here.")
        if request.mimetype in _FORM_TYPES and not all(storable(v) for v in request.form.values()):
            raise BadRequest("The form contains a NUL or an invalid character; please retype that text.")

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response
