"""Error pages: every failure a reader can cause is a clear 4xx, in the format they asked for;
a database too busy to answer is a 503 with ``Retry-After``, never a 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from registry.database import BUSY_RETRY_AFTER_SECONDS, is_busy
from registry.extensions import db

log = logging.getLogger(__name__)


def wants_json() -> bool:
    path = request.path
    if path.endswith(".json") or path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


# What a reader sees as the heading and title of an error page: a sentence, not HTTP's reason
# phrase ("Bad Request", "Gone"). JSON keeps the reason phrase as its ``title``, for programs.
PAGE_TITLES = {
    400: "Something in the request was wrong",
    401: "You need to sign in first",
    403: "You may not open this page",
    404: "Page not found",
    405: "This page cannot be used that way",
    406: "This page is not available in the format asked for",
    409: "Someone changed this in the meantime",
    410: "This link has expired",
    413: "What was sent is too large",
    414: "The address is too long",
    415: "What was sent is in a format we do not read",
    422: "What was sent could not be used",
    429: "Too many tries: please wait a moment",
    500: "Something went wrong on our side",
    503: "The service is busy right now",
}


def page_title(code: int) -> str:
    """The plain heading for ``code``; codes without their own say which side failed."""
    if code in PAGE_TITLES:
        return PAGE_TITLES[code]
    return PAGE_TITLES[500] if code >= 500 else PAGE_TITLES[400]


def _respond(error: HTTPException) -> tuple[Response | str, int, dict[str, str]]:
    code = error.code or 500
    message = error.description or error.name
    # Keep what the error says beyond its body: Allow on a 405, Retry-After, WWW-Authenticate.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if wants_json():
        return jsonify(error={"status": code, "title": error.name, "message": message}), code, headers
    page = render_template("errors/error.html", code=code, title=page_title(code), message=message)
    return page, code, headers


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int, dict[str, str]] | HTTPException:
        if error.code is None or error.code < 400:  # redirects raised as exceptions pass through
            return error
        return _respond(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response | str, int, dict[str, str]]:
        # Logged in full for the operators; the reader gets a plain page, never a traceback.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(InternalServerError("Something went wrong on our side. Please try again."))

    @app.errorhandler(OperationalError)
    def database_error(error: OperationalError) -> tuple[Response | str, int, dict[str, str]]:
        if not is_busy(error):
            return unexpected(error)
        return _busy(error)


def _busy(error: OperationalError) -> tuple[Response | str, int, dict[str, str]]:
    """The backstop for a database that stayed busy past its timeout: nothing of the request
    was kept, and the client may simply send it again, so say so (503, ``Retry-After``)."""
    db.session.rollback()  # the page rendered below must not meet the failed transaction
    log.warning("database busy on %s %s: %s", request.method, request.path, error.orig)
    return _respond(
        ServiceUnavailable(
            "The service is busy right now; nothing was changed. Please try again in a moment.",
            retry_after=BUSY_RETRY_AFTER_SECONDS,
        )
    )
