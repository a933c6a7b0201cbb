"""Error pages: every failure a reader can cause is a clear 4xx, in the format they asked for."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    path = request.path
    if path.endswith(".json") or path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _respond(error: HTTPException) -> tuple[Response | str, int]:
    code = error.code or 500
    message = error.description or error.name
    if wants_json():
        return jsonify(error={"status": code, "title": error.name, "message": message}), code
    return render_template("errors/error.html", code=code, title=error.name, message=message), code


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int] | HTTPException:
        if error.code is None or error.code < 400:  # redirects raised as exceptions pass through
            return error
        return _respond(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response | str, int]:
        # Logged in full for the operators; the reader gets a plain page, never a traceback.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(InternalServerError("Something went wrong on our side. Please try again."))
