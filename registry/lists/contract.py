"""The published contract of the public JSON: one JSON Schema (draft 2020-12) per document,
checked in under ``registry/lists/schemas/``, served at ``/schemas/<name>.json`` and announced by
``Link: <...>; rel="describedby"`` on every response it describes.

Customers' tools parse the list, its versions and its diffs; the schemas say what they may rely
on. The promise: within a major version fields are added, never removed or renamed, and objects
allow properties a tool does not know yet. The parts the documents share (an entry, a change, a
moment) are written once in ``defs.json``; each served schema carries all of them in its own
``$defs``, so it is complete on its own and a validator needs no second download. Its ``$id`` is
the address it is served at, on PUBLIC_BASE_URL, so it is the same for every reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from flask import Response, current_app, request

from registry.links import external_url

View = TypeVar("View", bound=Callable[..., Any])

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
# The documents the public JSON answers with; ``error`` is what any of them answers on a 4xx.
NAMES = ("list", "version", "versions", "diff", "changes", "error")
MEDIA_TYPE = "application/schema+json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_MARK = "registry_described_by"


@cache
def definitions() -> dict[str, Any]:
    """The shared parts, by name (treat as read-only)."""
    with open(SCHEMA_DIR / "defs.json", encoding="utf-8") as file:
        defs: dict[str, Any] = json.load(file)["$defs"]
    return defs


@cache
def checked_in(name: str) -> dict[str, Any]:
    """The schema file of ``name`` as written (treat as read-only)."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as file:
        schema: dict[str, Any] = json.load(file)
    return schema


def bundled(name: str, schema_id: str | None = None) -> dict[str, Any]:
    """The schema of ``name`` with every shared part in its ``$defs``; its ``$id`` is
    ``schema_id``, or none (for embedding in another document, as the OpenAPI one does)."""
    schema = deepcopy(checked_in(name))
    schema.pop("$id", None)
    head = {"$schema": schema.pop("$schema", DIALECT)}
    if schema_id is not None:
        head["$id"] = schema_id
    return {**head, **schema, "$defs": {**deepcopy(definitions()), **schema.get("$defs", {})}}


def schema_url(name: str) -> str:
    """Where ``name`` is served: its ``$id`` and the target of the describedby links."""
    return external_url("lists.schema", name=name)


def served_bytes(name: str) -> bytes:
    """The schema of ``name`` as served: bundled, with its address as ``$id``."""
    return _rendered(name, schema_url(name))


@cache
def _rendered(name: str, schema_id: str) -> bytes:
    return (json.dumps(bundled(name, schema_id), ensure_ascii=False, indent=2) + "\n").encode()


def last_changed(name: str | None = None) -> datetime:
    """When the files of ``name`` (of every schema, without one) last changed: the
    Last-Modified of what is served from them."""
    files = (
        [SCHEMA_DIR / f"{name}.schema.json", SCHEMA_DIR / "defs.json"] if name else SCHEMA_DIR.glob("*.json")
    )
    return datetime.fromtimestamp(int(max(path.stat().st_mtime for path in files)), UTC)


def described_by(name: str) -> Callable[[View], View]:
    """Mark a public JSON view as answering documents of schema ``name``."""
    assert name in NAMES, name

    def mark(view: View) -> View:
        setattr(view, _MARK, name)
        return view

    return mark


def schema_of(view: Callable[..., Any] | None) -> str | None:
    """The schema ``view`` answers with, or None for a view that is not marked."""
    return getattr(view, _MARK, None)


def announce(view: Callable[..., Any] | None, response: Response) -> Response:
    """Add the describedby link to a response of ``view``: its schema's on a 200 (and the 304
    that stands for one), the error schema's on a JSON error. Redirects (``?at=``) get none: the
    response they lead to has its own."""
    name = schema_of(view)
    if name is None or request.method not in ("GET", "HEAD"):
        return response
    if response.status_code >= 400 and response.mimetype == "application/json":
        name = "error"
    elif response.status_code not in (200, 304):
        return response
    response.headers.add("Link", _link(name))
    return response


def _link(name: str) -> str:
    """The describedby link to ``name``, built once per app (it is on every JSON answer)."""
    links: dict[str, str] = current_app.extensions.setdefault("schema_links", {})
    if name not in links:
        links[name] = f'<{schema_url(name)}>; rel="describedby"'
    return links[name]
