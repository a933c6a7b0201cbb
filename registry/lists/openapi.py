"""The OpenAPI 3.1 description of the public site's machine-readable routes, served at
/openapi.json: the lists' JSON, CSV, feeds and calendars, their versions (also as PDF) and diffs, the
documents' text diffs, feeds and calendars, and the JSON Schemas themselves.

Its response schemas are the JSON Schemas of ``registry.lists.contract``, embedded as components
(OpenAPI 3.1 speaks JSON Schema 2020-12), so the two can never disagree. The tests keep it
honest: every route shared with any origin is described and every description is such a route,
and schemathesis sends what it allows (and what it forbids) and checks every answer against it.
The admin API has a document of its own, at /api/v1/openapi.json.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from registry.lists import contract
from registry.lists.fields import KIND_LABELS
from registry.lists.formats import MAX_SEARCH
from registry.publishing.calendars import MIMETYPE as CALENDAR
from registry.publishing.feeds import MIMETYPES

JSON = "application/json"
CSV = "text/csv"
PDF = "application/pdf"
HTML = "text/html"
TEXT = "text/plain"
# The component of each JSON Schema of the contract.
COMPONENTS = {
    "list": "List",
    "version": "Version",
    "versions": "Versions",
    "diff": "Diff",
    "changes": "Changes",
    "error": "Error",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _component(name: str) -> dict[str, Any]:
    """A schema of the contract as a component: its ``$defs`` become components of their own
    (they are the same in every schema), and its references follow them there."""
    schema = contract.bundled(name)
    schema.pop("$defs")
    schema.pop("$schema")
    schema["description"] += f" Served on its own as a JSON Schema at /schemas/{name}.json."
    return _moved(schema)


def _moved(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: re.sub(r"^#/\$defs/", "#/components/schemas/", value) if key == "$ref" else _moved(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_moved(value) for value in schema]
    return schema


def _parameter(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


_CACHE_HEADERS = {
    "ETag": {
        "description": "Names these bytes: send it back as If-None-Match to get a 304 while they are current.",
        "schema": {"type": "string"},
    },
    "Last-Modified": {
        "description": "When what is shown last changed; If-Modified-Since is honoured too.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": (
            "public, max-age=<seconds> for what moves with the list; public, max-age=31536000, immutable "
            "for what never changes (a past version, a diff between two named versions)."
        ),
        "schema": {"type": "string"},
    },
}
_LINK = {
    "description": 'The JSON Schema of the body: <https://.../schemas/<name>.json>; rel="describedby".',
    "schema": {"type": "string"},
}


def _ok(
    description: str, media_type: str, schema: dict[str, Any], *, described: bool = False
) -> dict[str, Any]:
    headers = dict(_CACHE_HEADERS)
    if described:
        headers["Link"] = _LINK
    return {"description": description, "headers": headers, "content": {media_type: {"schema": schema}}}


def _responses(
    ok: dict[str, Any], *errors: str, redirect: bool = False, json_only: bool = True
) -> dict[str, Any]:
    """200, 304, the errors named and any other error; a redirect where ``at`` is taken. The
    errors of an address that is not JSON (``json_only=False``) are a page unless JSON is asked for."""
    responses: dict[str, Any] = {"200": ok}
    if redirect:
        responses["302"] = {"$ref": "#/components/responses/moved"}
    responses["304"] = {"$ref": "#/components/responses/notModified"}
    suffix = "" if json_only else "AsPage"
    for code in errors:
        responses[code] = {"$ref": f"#/components/responses/{code}{suffix}"}
    responses["default"] = {"$ref": f"#/components/responses/default{suffix}"}
    return responses


_CONDITIONAL = [_parameter("If-None-Match"), _parameter("If-Modified-Since")]
_CALENDAR = (
    "The calendar (RFC 5545): for each announced change, an all-day event on its effective date and one on "
    "the last day to object, under UIDs that never change; a withdrawn change's events are CANCELLED."
)
_FILTERS = [_parameter("kind"), _parameter("country"), _parameter("q")]
_STRING = {"type": "string"}


def _operation(
    summary: str, tag: str, parameters: list[Any], responses: dict[str, Any], *, operation_id: str = ""
) -> dict[str, Any]:
    return {
        **({"operationId": operation_id} if operation_id else {}),
        "summary": summary,
        "tags": [tag],
        "parameters": [*parameters, *_CONDITIONAL],
        "responses": responses,
    }


def _list_operations(default: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each route of one list: its rule after the list's address, its operation's name, and the
    operation; ``default`` is said in the summaries of the default list's."""
    operations = {
        ".json": (
            "List",
            _operation(
                f"The entries in force and the changes announced{default}",
                "lists",
                [*_FILTERS, _parameter("at")],
                _responses(_ok("The list.", JSON, _ref("List"), described=True), "400", "404", redirect=True),
            ),
        ),
        ".csv": (
            "ListCsv",
            _operation(
                f"The entries in force, as CSV{default}",
                "lists",
                [*_FILTERS, _parameter("at")],
                _responses(
                    _ok("The entries.", CSV, _ref("Csv")), "400", "404", redirect=True, json_only=False
                ),
            ),
        ),
        "/versions.json": (
            "Versions",
            _operation(
                f"The published versions, newest first, a page at a time{default}",
                "versions",
                [_parameter("before")],
                _responses(
                    _ok("A page of versions.", JSON, _ref("Versions"), described=True),
                    "400",
                    "404",
                    redirect=True,
                ),
            ),
        ),
        "/changes.json": (
            "Changes",
            _operation(
                f"The change log: versions published and announcements withdrawn, newest first, a page at a time{default}",
                "versions",
                [_parameter("before")],
                _responses(
                    _ok("A page of the change log.", JSON, _ref("Changes"), described=True),
                    "400",
                    "404",
                    redirect=True,
                ),
            ),
        ),
        "/versions/{number}.json": (
            "Version",
            _operation(
                f"One published version, exactly as published{default}",
                "versions",
                [_parameter("number"), *_FILTERS],
                _responses(_ok("The version.", JSON, _ref("Version"), described=True), "400", "404"),
            ),
        ),
        "/versions/{number}.csv": (
            "VersionCsv",
            _operation(
                f"One published version, as CSV{default}",
                "versions",
                [_parameter("number"), *_FILTERS],
                _responses(_ok("The version's entries.", CSV, _ref("Csv")), "400", "404", json_only=False),
            ),
        ),
        "/versions/{number}.pdf": (
            "VersionPdf",
            _operation(
                f"One published version, as a PDF for a DPA annex{default}",
                "versions",
                [_parameter("number")],
                _responses(
                    _ok(
                        "The version on A4, every entry and column; each page's footer names the company, "
                        "the list, the version, its effective date, its permanent URL and the SHA-256 of "
                        "the bytes its .json address serves.",
                        PDF,
                        _ref("Pdf"),
                    ),
                    "400",
                    "404",
                    json_only=False,
                ),
            ),
        ),
        "/diff.json": (
            "Diff",
            _operation(
                f"What changed between two versions{default}",
                "versions",
                [_parameter("from"), _parameter("to")],
                _responses(_ok("The differences.", JSON, _ref("Diff"), described=True), "400", "404"),
            ),
        ),
    }
    for fmt, media_type in MIMETYPES.items():
        operations[f"/feed.{fmt}"] = (
            f"Feed{fmt.capitalize()}",
            _operation(
                f"The list's notices, as {fmt.upper()}{default}",
                "feeds",
                [],
                _responses(_ok("The feed.", media_type, _STRING), "404", json_only=False),
            ),
        )
    operations["/calendar.ics"] = (
        "Calendar",
        _operation(
            f"The list's announced changes, as an iCalendar feed{default}",
            "feeds",
            [],
            _responses(_ok(_CALENDAR, CALENDAR, _STRING), "404", json_only=False),
        ),
    )
    return operations


def _list_paths() -> dict[str, Any]:
    """Every route of a list, for the default list (``/processors...``) and by slug."""
    paths: dict[str, Any] = {}
    for rule, (name, operation) in _list_operations(" (the default list)").items():
        paths[f"/processors{rule}"] = {"get": {"operationId": f"getDefault{name}", **operation}}
    for rule, (name, operation) in _list_operations("").items():
        paths[f"/lists/{{slug}}{rule}"] = {
            "parameters": [_parameter("slug")],
            "get": {"operationId": f"get{name}", **operation},
        }
    return paths


def _other_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for fmt, media_type in MIMETYPES.items():
        paths[f"/feed.{fmt}"] = {
            "get": _operation(
                f"Every list's notices, as {fmt.upper()}",
                "feeds",
                [],
                _responses(_ok("The feed.", media_type, _STRING), json_only=False),
                operation_id=f"getAllFeed{fmt.capitalize()}",
            )
        }
        paths[f"/documents/{{slug}}/feed.{fmt}"] = {
            "parameters": [_parameter("documentSlug")],
            "get": _operation(
                f"A document's revisions, as {fmt.upper()}",
                "documents",
                [],
                _responses(_ok("The feed.", media_type, _STRING), "404", json_only=False),
                operation_id=f"getDocumentFeed{fmt.capitalize()}",
            ),
        }
    paths["/calendar.ics"] = {
        "get": _operation(
            "Every list's announced changes, as an iCalendar feed",
            "feeds",
            [],
            _responses(_ok(_CALENDAR, CALENDAR, _STRING), json_only=False),
            operation_id="getAllCalendar",
        )
    }
    paths["/documents/{slug}/calendar.ics"] = {
        "parameters": [_parameter("documentSlug")],
        "get": _operation(
            "A document's announced revisions, as an iCalendar feed",
            "documents",
            [],
            _responses(
                _ok(
                    "The calendar (RFC 5545): an all-day event on the day each announced revision takes effect.",
                    CALENDAR,
                    _STRING,
                ),
                "404",
                json_only=False,
            ),
            operation_id="getDocumentCalendar",
        ),
    }
    paths["/documents/{slug}/diff.txt"] = {
        "parameters": [_parameter("documentSlug")],
        "get": _operation(
            "What changed between two revisions of a document, as a unified diff",
            "documents",
            [_parameter("fromRevision"), _parameter("toRevision")],
            _responses(_ok("The unified diff.", TEXT, _STRING), "400", "404", json_only=False),
            operation_id="getDocumentDiff",
        ),
    }
    paths["/schemas/{name}.json"] = {
        "get": _operation(
            "The JSON Schema (draft 2020-12) of a public JSON document",
            "meta",
            [_parameter("name")],
            _responses(
                _ok(
                    "The schema, complete on its own; its $id is this address.",
                    contract.MEDIA_TYPE,
                    {"type": "object"},
                ),
                "404",
            ),
            operation_id="getSchema",
        )
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["meta"],
            "responses": {
                "200": {"description": "This document.", "content": {JSON: {"schema": {"type": "object"}}}}
            },
        }
    }
    return paths


_VERSION_NUMBER = {"type": "string", "pattern": "^[0-9]{1,9}$"}
_SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}

PARAMETERS: dict[str, Any] = {
    "slug": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "The list's slug; /processors... is the default list.",
        "schema": _SLUG,
        "example": "sub-processors",
    },
    "documentSlug": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "The document's slug.",
        "schema": _SLUG,
        "example": "privacy-policy",
    },
    "number": {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "A version number: 1 for the first. A number not published yet is a 404.",
        "schema": _VERSION_NUMBER,
        "example": "1",
    },
    "name": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "Which schema.",
        "schema": {"enum": list(contract.NAMES)},
    },
    "kind": {
        "name": "kind",
        "in": "query",
        "description": "Only entries of this kind (case is ignored).",
        "schema": {"enum": list(KIND_LABELS)},
    },
    "country": {
        "name": "country",
        "in": "query",
        "description": (
            "Only entries processing data in this country: an ISO 3166-1 alpha-2 code (case is ignored). "
            "An unknown code is a 400."
        ),
        "schema": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
        "example": "DE",
    },
    "q": {
        "name": "q",
        "in": "query",
        "description": (
            f"Only entries holding every word of this text in some field, case-insensitively; at most "
            f"{MAX_SEARCH} characters once runs of white space are made one."
        ),
        "schema": _STRING,
        "example": "support",
    },
    "before": {
        "name": "before",
        "in": "query",
        "description": (
            "An older page of history: the version it stops before, one more than a multiple of the page "
            "size (the links of each page name them). Without it: the first page, the newest versions. A "
            "value that names no page is a 400; a page not complete yet redirects (302) to the first."
        ),
        "schema": _VERSION_NUMBER,
    },
    "at": {
        "name": "at",
        "in": "query",
        "description": (
            "Time travel: a 302 to the permanent address of the version in force then, filters kept. A day "
            "(YYYY-MM-DD) means its end in UTC, after its last change; a time must be RFC 3339 with an "
            "offset (e.g. 2025-06-30T12:00:00Z). Before the first version: 404; anything else: 400."
        ),
        "schema": {
            "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
        },
        "example": "2025-06-30",
    },
    "from": {
        "name": "from",
        "in": "query",
        "description": "The older version's number (default: the one before to). Newer than to is a 400.",
        "schema": _VERSION_NUMBER,
    },
    "to": {
        "name": "to",
        "in": "query",
        "description": (
            "The newer version's number (default: the version in force). With both from and to the "
            "answer never changes and may be kept for a year; without them it moves on with the list."
        ),
        "schema": _VERSION_NUMBER,
    },
    "fromRevision": {
        "name": "from",
        "in": "query",
        "description": "The older revision's number (default: the public revision before to).",
        "schema": _VERSION_NUMBER,
    },
    "toRevision": {
        "name": "to",
        "in": "query",
        "description": "The newer revision's number (default: the revision in force).",
        "schema": _VERSION_NUMBER,
    },
    "If-None-Match": {
        "name": "If-None-Match",
        "in": "header",
        "description": "The ETag of the copy you hold: a 304 without a body while it is current.",
        "schema": _STRING,
    },
    "If-Modified-Since": {
        "name": "If-Modified-Since",
        "in": "header",
        "description": "The Last-Modified of the copy you hold (ignored when If-None-Match is sent).",
        "schema": _STRING,
    },
}


def _error(description: str, *, page: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": _ref("Error")}}
    if page:
        # An address that is not JSON answers its errors as a page, unless JSON is asked for (Accept).
        content = {HTML: {"schema": _STRING}, **content}
    return {"description": description, "content": content}


_ERRORS = {
    "400": "Something in the request is wrong (a version that is no number, an unknown filter value, a bad date); the message says what.",
    "404": "No such list, version, revision or schema, or no version yet at that moment; the message says which exist.",
    "default": "Any other error (405, 414, 429, 503 with Retry-After), in the same shape.",
}


def _responses_components() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, description in _ERRORS.items():
        responses[code] = _error(description)
        responses[f"{code}AsPage"] = _error(description, page=True)
    responses["notModified"] = {
        "description": "Your copy (If-None-Match, If-Modified-Since) is current: no body.",
        "headers": {name: _CACHE_HEADERS[name] for name in ("ETag", "Last-Modified", "Cache-Control")},
    }
    responses["moved"] = {
        "description": "With at: the permanent address of the version in force then.",
        "headers": {"Location": {"description": "The version's address, filters kept.", "schema": _STRING}},
    }
    return responses


@cache
def document() -> dict[str, Any]:
    """The whole document (built once; treat it as read-only)."""
    schemas: dict[str, Any] = {component: _component(name) for name, component in COMPONENTS.items()}
    schemas.update(_moved(contract.definitions()))
    schemas["Csv"] = {
        "type": "string",
        "description": (
            "CSV (RFC 4180, CRLF) with a header row of the entries' field names; list fields are joined with '; '. "
            "Nothing starts with =, +, -, @ or a tab, so a spreadsheet runs no formula."
        ),
    }
    schemas["Pdf"] = {
        "type": "string",
        "contentMediaType": PDF,
        "description": "A PDF document, the same bytes for ever (it is rendered once and kept).",
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": contract.DIALECT,
        "info": {
            "title": "Processor Registry public data",
            "version": "1",
            "description": (
                "The published lists of processors, their versions and diffs, and the documents, as "
                "JSON, CSV, PDF and feeds. No authentication; readable from any origin (CORS). Every answer "
                "has an ETag and a Last-Modified: revalidate with If-None-Match for a 304. The JSON "
                'bodies name their JSON Schema in a Link header (rel="describedby"). Within a major '
                "version fields are added, never removed or renamed: ignore those you do not know."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "lists"},
            {"name": "versions"},
            {"name": "feeds"},
            {"name": "documents"},
            {"name": "meta"},
        ],
        "paths": {**_list_paths(), **_other_paths()},
        "components": {"schemas": schemas, "parameters": PARAMETERS, "responses": _responses_components()},
    }


@cache
def document_bytes() -> bytes:
    """The document as served."""
    return (json.dumps(document(), ensure_ascii=False, indent=2) + "\n").encode()
