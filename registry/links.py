"""Absolute links for emails and feeds, built outside any request from PUBLIC_BASE_URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from werkzeug.routing import MapAdapter


def _adapter(app: Flask) -> MapAdapter:
    adapter = app.extensions.get("link_adapter")
    if adapter is None:
        base = urlsplit(app.config["PUBLIC_BASE_URL"])
        adapter = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
        app.extensions["link_adapter"] = adapter
    return adapter


def external_url(endpoint: str, **values: Any) -> str:
    """The public URL of ``endpoint``, e.g. for a link in an email; works without a request."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _adapter(app).build(endpoint, values, force_external=True)


def mail_domain() -> str:
    """The host part for Message-IDs: the public site's host name."""
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"
