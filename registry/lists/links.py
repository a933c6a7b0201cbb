"""Stable URLs of a list's pages: ``/processors...`` for the default list, ``/lists/<slug>...``
for the others. Used by the pages, the feeds and the emails (which have no request)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import current_app, url_for

from registry.links import external_url
from registry.lists.models import RegisterList

__all__ = ["external_list_url", "list_url"]


def list_url(endpoint: str, register_list: RegisterList, **values: Any) -> str:
    """The stable URL of a list's page: ``/processors...`` for the default list."""
    name, slug = _list_endpoint(endpoint, register_list)
    return url_for(name, **slug, **values)


def external_list_url(endpoint: str, register_list: RegisterList, **values: Any) -> str:
    """The same, absolute on ``PUBLIC_BASE_URL`` and without a request (feeds, emails).

    ``_anchor`` adds a fragment, as with ``url_for``.
    """
    anchor = values.pop("_anchor", None)
    name, slug = _list_endpoint(endpoint, register_list)
    url = external_url(name, **slug, **values)
    return f"{url}#{quote(anchor)}" if anchor else url


def _list_endpoint(endpoint: str, register_list: RegisterList) -> tuple[str, dict[str, Any]]:
    if register_list.slug == current_app.config["DEFAULT_LIST"]:
        return f"lists.default_{endpoint}", {}
    return f"lists.{endpoint}", {"slug": register_list.slug}
