"""The OpenAPI 3.1 description of the admin API, written by hand as Python data.

Served at /api/v1/openapi.json. The tests keep it honest: every route is described and every
description is a route; the answers of the behaviour tests are checked against the response
schemas; and schemathesis sends what the request schemas allow (and what they forbid) and checks
the answers. Vocabularies (actions, statuses, kinds, transfer mechanisms) come from the code.
"""

from __future__ import annotations

from copy import deepcopy
from functools import cache
from typing import Any

from registry.api.inputs import MAX_ID, MAX_IDS, MAX_OFFSET
from registry.audit.services import CSV_COLUMNS
from registry.limits import MAX_NAME, MAX_REASON
from registry.lists.fields import FIELDS, KIND_LABELS, LIST_FIELDS, TRANSFER_MECHANISMS
from registry.lists.models import ChangeAction, ChangeStatus, NoticeKind, NoticeStatus

JSON = "application/json"
MAX_PAGE = 500


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A closed object: what it may hold is listed, and nothing else is accepted or answered."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


MOMENT = {"type": "string", "format": "date-time"}
TEXT = {"type": "string"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
SLUG = {"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$", "maxLength": 80}
ACTIONS = [action.value for action in ChangeAction]

# --- processors -------------------------------------------------------------------------------

PROCESSOR = _object(
    {
        "id": {**SLUG, "description": "The entry's identifier in the list, stable across versions."},
        "name": TEXT,
        "legal_entity": TEXT,
        "purpose": TEXT,
        "data_categories": {"type": "array", "items": TEXT},
        "locations": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "description": "ISO 3166-1 alpha-2 codes of the processing locations.",
        },
        "corporate_location": {"type": "string", "pattern": "^(?:[A-Z]{2})?$"},
        "transfer_mechanisms": {
            "type": "array",
            "items": {"enum": list(TRANSFER_MECHANISMS)},
            "uniqueItems": True,
            "description": "Codes of the transfer mechanisms the entry relies on, in the order given.",
        },
        "kind": {"enum": list(KIND_LABELS)},
        "website": TEXT,
        "safeguards_url": TEXT,
        "scope": TEXT,
        "since": _nullable({"type": "string", "format": "date"}),
    },
    list(FIELDS),
    description="An entry in its canonical form, as in the public JSON.",
)

_FIELD_RULES = {
    "id": "Lowercase letters, digits and single hyphens, at most 80. Derived from the name if left out.",
    "name": f"Required; one line, at most {MAX_NAME} characters.",
    "legal_entity": "One line, at most 300 characters.",
    "purpose": f"Required; at most {MAX_REASON} characters.",
    "data_categories": "A list of one-line items (at most 50 of 200 characters, no ';'), or one text with items separated by ';'.",
    "locations": "Required, at least one: ISO 3166-1 alpha-2 codes or country names (e.g. DE, "
    "Germany, USA), as a list or separated by ';'; stored as the codes.",
    "corporate_location": "An ISO 3166-1 alpha-2 code or a country name, stored as the code.",
    "transfer_mechanisms": "Required, at least one: a list of "
    + ", ".join(TRANSFER_MECHANISMS)
    + ", or their labels or common spellings (e.g. SCCs, EU-U.S. DPF), stored as the codes; or one "
    'text naming them (e.g. "DPF and SCCs", "SCCs; BCRs"). No mechanism twice, and none '
    "(no transfer) alone. A location outside the EEA with no mechanism but none is accepted, "
    "with a warning in the answer's warnings.",
    "kind": "One of: "
    + ", ".join(KIND_LABELS)
    + ", or its label (e.g. Sub-processor); subprocessor if left out.",
    "website": "An http:// or https:// address, at most 500 characters.",
    "safeguards_url": "An http:// or https:// address, at most 500 characters.",
    "scope": "At most 1000 characters.",
    "since": "A date, YYYY-MM-DD.",
}


def _field(name: str, required: bool) -> dict[str, Any]:
    kinds = ["array", "string"] if name in LIST_FIELDS else ["string"]
    schema: dict[str, Any] = {
        "type": kinds if required else [*kinds, "null"],
        "description": _FIELD_RULES[name],
    }
    if name in LIST_FIELDS:
        schema["items"] = TEXT
    return schema


_REQUIRED_FIELDS = ["name", "purpose", "locations", "transfer_mechanisms"]
PROCESSOR_FIELDS = _object(
    {name: _field(name, False) for name in FIELDS},
    description=(
        "Fields of an entry as sent. Text is trimmed; no field may start with =, +, -, @ or a tab "
        "(spreadsheets run those as formulas); null means empty. Rules the service checks are in each "
        "field's description; breaking one is a 422 naming the field as processor.<field>."
    ),
)
NEW_PROCESSOR = _object(
    {name: _field(name, name in _REQUIRED_FIELDS) for name in FIELDS},
    _REQUIRED_FIELDS,
    description="A new entry: every field of the public list, of which these are required.",
)
RETIRED_PROCESSOR = _object({"id": TEXT}, ["id"], description="Only the id of the entry to retire.")

# --- changes ----------------------------------------------------------------------------------

_TARGET = {"type": "string", "description": "The id of the existing entry this change is about."}


def _variant(
    action: str, description: str, properties: dict[str, Any], required: list[str], **extra: Any
) -> dict[str, Any]:
    return _object(
        {"action": {"const": action}, **properties}, ["action", *required], description=description, **extra
    )


DRAFT_VARIANTS: dict[str, dict[str, Any]] = {
    "AddDraft": _variant("add", "Add an entry.", {"processor": _ref("NewProcessor")}, ["processor"]),
    "UpdateDraft": _variant(
        "update",
        "Change fields of an entry: send only the fields that change. Name the entry in target or "
        "processor.id (if both, they must match; an update keeps its entry's id).",
        {"processor": _ref("ProcessorFields"), "target": _TARGET},
        ["processor"],
        anyOf=[{"required": ["target"]}, {"properties": {"processor": {"required": ["id"]}}}],
    ),
    "RetireDraft": _variant(
        "retire",
        "Remove an entry from the list. Name it in target or processor.id.",
        {"processor": _ref("RetiredProcessor"), "target": _TARGET},
        [],
        anyOf=[{"required": ["target"]}, {"required": ["processor"]}],
    ),
    "ReplaceDraft": _variant(
        "replace",
        "Remove an entry and add another in its place. Name the replaced entry in replaces or target "
        "(if both, they must match); processor is the new entry.",
        {"processor": _ref("NewProcessor"), "target": _TARGET, "replaces": _TARGET},
        ["processor"],
        anyOf=[{"required": ["target"]}, {"required": ["replaces"]}],
    ),
}

ANNOUNCEMENT = {
    "effective_at": {
        **MOMENT,
        "description": (
            "RFC 3339 with an offset. In the future, and at least the list's notice period away unless "
            "short_notice_reason is given."
        ),
    },
    "reason": {**TEXT, "description": f"The public reason, at most {MAX_REASON} characters."},
    "short_notice_reason": {
        "type": ["string", "null"],
        "description": "Needed (and published) when effective_at leaves less than the notice period.",
    },
}
_ANNOUNCEMENT_REQUIRED = ["effective_at", "reason"]


def _announced(variant: dict[str, Any]) -> dict[str, Any]:
    schema = deepcopy(variant)
    schema["properties"].update(ANNOUNCEMENT)
    schema["required"] = [*schema["required"], *_ANNOUNCEMENT_REQUIRED]
    return schema


CHANGE_VARIANTS = {
    name.replace("Draft", "Change"): _announced(variant) for name, variant in DRAFT_VARIANTS.items()
}

_WARNINGS = {
    "type": "array",
    "items": TEXT,
    "description": (
        "What to check before publishing, though nothing was refused: e.g. a location outside the "
        "EEA with no transfer mechanism."
    ),
}

CHANGE = _object(
    {
        "id": ID,
        "list": TEXT,
        "action": {"enum": ACTIONS},
        "status": {"enum": [status.value for status in ChangeStatus]},
        "processor": {
            **_ref("Processor"),
            "description": "The entry as proposed; for a retirement, as it was when drafted.",
        },
        "target": {
            **_nullable(TEXT),
            "description": "The id of the existing entry changed (null for an addition).",
        },
        "before": {**_nullable(_ref("Processor")), "description": "Once applied: the entry before."},
        "after": {**_nullable(_ref("Processor")), "description": "Once applied: the entry after."},
        "notice": {**_nullable(ID), "description": "The notice announcing it, once announced."},
        "version": {**_nullable(ID), "description": "The list version it made, once applied."},
        "effective_at": _nullable(MOMENT),
        "created_at": MOMENT,
        "updated_at": MOMENT,
        "applied_at": _nullable(MOMENT),
        "author": {**_nullable(TEXT), "description": "The email address of the user who drafted it."},
        "warnings": _WARNINGS,
    },
    [
        "id",
        "list",
        "action",
        "status",
        "processor",
        "target",
        "before",
        "after",
        "notice",
        "version",
        "effective_at",
        "created_at",
        "updated_at",
        "applied_at",
        "author",
        "warnings",
    ],
)

NOTICE = _object(
    {
        "id": ID,
        "list": TEXT,
        "kind": {"enum": [kind.value for kind in NoticeKind]},
        "status": {"enum": [status.value for status in NoticeStatus]},
        "reason": TEXT,
        "effective_at": MOMENT,
        "announced_at": {**_nullable(MOMENT), "description": "Null while the notice awaits approval."},
        "objection_deadline": _nullable(MOMENT),
        "short_notice_reason": _nullable(TEXT),
        "withdraws": {**_nullable(ID), "description": "For a withdrawal: the notice it withdraws."},
        "author": _nullable(TEXT),
        "approver": _nullable(TEXT),
        "created_at": MOMENT,
        "changes": {"type": "array", "items": _ref("Change")},
        "warnings": _WARNINGS,
    },
    [
        "id",
        "list",
        "kind",
        "status",
        "reason",
        "effective_at",
        "announced_at",
        "objection_deadline",
        "short_notice_reason",
        "withdraws",
        "author",
        "approver",
        "created_at",
        "changes",
        "warnings",
    ],
)

LIST = _object(
    {
        "slug": TEXT,
        "title": TEXT,
        "introduction": TEXT,
        "notice_period_days": {"type": "integer", "minimum": 0},
        "objection_closes_days_before": {"type": "integer", "minimum": 0},
        "requires_approval": {
            "type": "boolean",
            "description": "Four eyes: announcements need a second editor.",
        },
        "remind_on_effective": {
            "type": "boolean",
            "description": "Subscribers are reminded on the day an announced change takes effect.",
        },
        "version": {
            "type": "integer",
            "minimum": 0,
            "description": "The version in force; 0 before the first.",
        },
        "updated_at": {**_nullable(MOMENT), "description": "When the version in force was published."},
    },
    [
        "slug",
        "title",
        "introduction",
        "notice_period_days",
        "objection_closes_days_before",
        "requires_approval",
        "remind_on_effective",
        "version",
        "updated_at",
    ],
)

AUDIT_EVENT = _object(
    {
        "id": ID,
        "at": MOMENT,
        "action": {**TEXT, "description": "A dotted name, e.g. change.draft or notice.announce."},
        "actor": {**TEXT, "description": "The acting user's email address, or system."},
        "ip": _nullable(TEXT),
        "target_type": _nullable(TEXT),
        "target_id": _nullable(TEXT),
        "list_id": _nullable(ID),
        "summary": TEXT,
        "before": {"description": "What the target held before (any JSON value)."},
        "after": {"description": "What the target holds after (any JSON value)."},
    },
    list(CSV_COLUMNS),  # the same fields as the CSV export
)

ERROR = _object(
    {
        "error": _object(
            {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "title": TEXT,
                "message": TEXT,
                "fields": {
                    "type": "object",
                    "additionalProperties": TEXT,
                    "description": (
                        "422 only: a message per invalid field, keyed by its place in the request "
                        "(processor.name, effective_at), or by the object in the path (notice, change)."
                    ),
                },
                "current": {
                    "anyOf": [_ref("Change"), _ref("Processor"), _ref("State"), {"type": "null"}],
                    "description": (
                        "409 only: what the other draft or the entry holds now, or where the change "
                        "or notice stands now (a State)."
                    ),
                },
            },
            ["status", "title", "message"],
        )
    },
    ["error"],
)


def _page(name: str, item: str) -> dict[str, Any]:
    return _object(
        {
            name: {"type": "array", "items": _ref(item)},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            "offset": {"type": "integer", "minimum": 0},
        },
        [name, "limit", "offset"],
    )


STATE = _object(
    {
        "status": {**TEXT, "description": "Where the change or notice stands now, e.g. applied."},
        "id": ID,
        "kind": {"enum": [kind.value for kind in NoticeKind]},
    },
    ["status"],
    description="Where a change or notice stands, when a request needed it elsewhere (409).",
)
SETTINGS = _object(
    {
        "title": {**TEXT, "minLength": 1, "maxLength": 200},
        "introduction": {**TEXT, "maxLength": 5000},
        "notice_period_days": {"type": "integer", "minimum": 0, "maximum": 365},
        "objection_closes_days_before": {"type": "integer", "minimum": 0, "maximum": 60},
        "requires_approval": {
            "type": "boolean",
            "description": "Four eyes on announcements and corrections.",
        },
        "remind_on_effective": {"type": "boolean"},
    },
    minProperties=1,
    description="The settings to change; those not sent stay as they are.",
)
CORRECTION_REQUEST = _object(
    {
        "target": _TARGET,
        "processor": _ref("ProcessorFields"),
        "reason": {
            **TEXT,
            "description": "The public reason, shown in the change log; at most 2000 characters.",
        },
    },
    ["target", "processor", "reason"],
    description=(
        "Fix wording or links of an entry: send only the fields that change. A correction may not "
        "change the locations, data categories, corporate location, transfer mechanism, kind or "
        "scope (422: announce it instead)."
    ),
)

# --- webhooks ---------------------------------------------------------------------------------

_SLUGS = {"type": "array", "items": SLUG, "maxItems": MAX_IDS, "uniqueItems": True}
WEBHOOK = _object(
    {
        "id": ID,
        "url": TEXT,
        "description": TEXT,
        "lists": {"type": "array", "items": TEXT, "description": "Slugs of the lists it hears of."},
        "documents": {"type": "array", "items": TEXT, "description": "Slugs of the documents it hears of."},
        "enabled": {"type": "boolean"},
        "created_at": MOMENT,
        "disabled_at": _nullable(MOMENT),
        "disabled_reason": _nullable(TEXT),
    },
    [
        "id",
        "url",
        "description",
        "lists",
        "documents",
        "enabled",
        "created_at",
        "disabled_at",
        "disabled_reason",
    ],
    description="A webhook endpoint, without its secret.",
)
WEBHOOK_REQUEST = _object(
    {
        "url": {
            **TEXT,
            "maxLength": 2000,
            "description": (
                "An https:// URL whose host resolves only to public addresses (not private, loopback, "
                "link-local, multicast, reserved or unspecified); checked again at every delivery."
            ),
        },
        "lists": {**_SLUGS, "description": "Slugs of the lists whose notices it is sent."},
        "documents": {**_SLUGS, "description": "Slugs of the documents whose revisions it is sent."},
        "description": _nullable({**TEXT, "maxLength": MAX_NAME}),
    },
    ["url"],
    description="At least one list or document. Every event is posted as Standard Webhooks describe.",
)
WEBHOOK_CREATED = _object(
    {
        "webhook": _ref("Webhook"),
        "secret": {
            "type": "string",
            "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$",
            "description": "The signing secret, shown only in this answer; keep it with the receiver.",
        },
    },
    ["webhook", "secret"],
)

SCHEMAS: dict[str, Any] = {
    "Error": ERROR,
    "State": STATE,
    "ListSettings": SETTINGS,
    "CorrectionRequest": CORRECTION_REQUEST,
    "List": LIST,
    "Lists": _object({"lists": {"type": "array", "items": _ref("List")}}, ["lists"]),
    "Processor": PROCESSOR,
    "Processors": _object(
        {
            "list": TEXT,
            "version": {"type": "integer", "minimum": 0},
            "processors": {"type": "array", "items": _ref("Processor")},
        },
        ["list", "version", "processors"],
    ),
    "ProcessorFields": PROCESSOR_FIELDS,
    "NewProcessor": NEW_PROCESSOR,
    "RetiredProcessor": RETIRED_PROCESSOR,
    **DRAFT_VARIANTS,
    **CHANGE_VARIANTS,
    "DraftRequest": {"oneOf": [_ref(name) for name in DRAFT_VARIANTS]},
    "ChangeRequest": {"oneOf": [_ref(name) for name in CHANGE_VARIANTS]},
    "NoticeRequest": _object(
        {
            "changes": {
                "type": "array",
                "items": ID,
                "minItems": 1,
                "maxItems": MAX_IDS,
                "uniqueItems": True,
                "description": "Ids of drafts of this list, each about a different entry.",
            },
            **ANNOUNCEMENT,
        },
        ["changes", *_ANNOUNCEMENT_REQUIRED],
    ),
    "ReasonRequest": _object(
        {"reason": {**TEXT, "description": f"Required; at most {MAX_REASON} characters."}}, ["reason"]
    ),
    "Change": CHANGE,
    "Changes": _page("changes", "Change"),
    "Notice": NOTICE,
    "AuditEvent": AUDIT_EVENT,
    "AuditEvents": _page("events", "AuditEvent"),
    "Webhook": WEBHOOK,
    "Webhooks": _object({"webhooks": {"type": "array", "items": _ref("Webhook")}}, ["webhooks"]),
    "WebhookRequest": WEBHOOK_REQUEST,
    "WebhookCreated": WEBHOOK_CREATED,
    "WebhookDeleted": _object({"webhook": _ref("Webhook")}, ["webhook"]),
}

# --- operations -------------------------------------------------------------------------------

_ERRORS = {
    "400": "The body is not JSON, or not sent as application/json.",
    "401": "No valid API token.",
    "403": "The token's user lacks the role this needs.",
    "404": "No such list, change, notice or webhook endpoint.",
    "413": "The body is larger than 1 MiB.",
    "409": "Someone else changed the same thing first; error.current shows what it holds now.",
    "422": "Invalid input; error.fields holds a message per field.",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


def _responses(success: str, schema: str, *errors: str, created: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": success, "content": {JSON: {"schema": _ref(schema)}}}
    if created:
        ok["headers"] = {"Location": {"description": "Where the new resource is.", "schema": TEXT}}
    responses = {"201" if created else "200": ok}
    for code in ("401", "403", *errors):
        responses[code] = {"$ref": f"#/components/responses/{code}"}
    responses["default"] = _error_response("Any other error (405, 413, 414, ...), in the same shape.")
    return responses


def _body(schema: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": _ref(schema)}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {JSON: content}}


def _parameter(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


_PAGE = [_parameter("limit"), _parameter("offset")]
_EXAMPLE_ENTRY = {
    "id": "stripe",
    "name": "Stripe",
    "legal_entity": "Stripe Payments Europe Ltd",
    "purpose": "Payment processing.",
    "data_categories": ["Name", "Payment details"],
    "locations": ["IE", "US"],
    "corporate_location": "IE",
    "transfer_mechanisms": ["dpf", "scc"],
    "kind": "subprocessor",
    "website": "https://stripe.com",
}

PATHS: dict[str, Any] = {
    "/lists": {
        "get": {
            "operationId": "listLists",
            "summary": "Every list, with its settings and the version in force",
            "tags": ["lists"],
            "responses": _responses("The lists.", "Lists"),
        }
    },
    "/lists/{slug}": {
        "parameters": [_parameter("slug")],
        "get": {
            "operationId": "getList",
            "summary": "A list's settings and the version in force",
            "tags": ["lists"],
            "responses": _responses("The list.", "List", "404"),
        },
        "patch": {
            "operationId": "updateList",
            "summary": "Change a list's settings (admins only)",
            "tags": ["lists"],
            "requestBody": _body("ListSettings", {"notice_period_days": 30, "requires_approval": True}),
            "responses": _responses("The list with its new settings.", "List", "400", "404", "413", "422"),
        },
    },
    "/lists/{slug}/corrections": {
        "parameters": [_parameter("slug")],
        "post": {
            "operationId": "correctEntry",
            "summary": "Publish a correction of an entry at once, without notice",
            "description": (
                "Drafts the update and publishes it as a correction, atomically: a new version with the "
                "reason in the change log, and a short email to subscribers. Where the list requires "
                "approval the correction waits for a second person instead (202, status "
                "pending_approval). Anything more than wording and links is refused (422)."
            ),
            "tags": ["changes"],
            "requestBody": _body(
                "CorrectionRequest",
                {
                    "target": "stripe",
                    "processor": {"website": "https://stripe.com/"},
                    "reason": "Fixed the link.",
                },
            ),
            "responses": {
                **_responses(
                    "The correction, published.", "Notice", "400", "404", "409", "413", "422", created=True
                ),
                "202": {
                    "description": "The correction, waiting for a second person's approval.",
                    "content": {JSON: {"schema": _ref("Notice")}},
                },
            },
        },
    },
    "/lists/{slug}/processors": {
        "parameters": [_parameter("slug")],
        "get": {
            "operationId": "listProcessors",
            "summary": "The entries in force, in the public JSON's form",
            "tags": ["lists"],
            "responses": _responses("The current entries.", "Processors", "404"),
        },
    },
    "/lists/{slug}/changes": {
        "parameters": [_parameter("slug")],
        "get": {
            "operationId": "listChanges",
            "summary": "A list's changes, newest first",
            "tags": ["changes"],
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "description": "Only changes in this status.",
                    "schema": {"enum": [status.value for status in ChangeStatus]},
                },
                *_PAGE,
            ],
            "responses": _responses("The changes.", "Changes", "404", "422"),
        },
        "post": {
            "operationId": "announceChange",
            "summary": "Draft a change and announce it, in one step",
            "description": (
                "Drafts the change and announces it as a notice of its own, atomically: on any error "
                "nothing is kept. The answer's status is announced, or pending_approval where the list "
                "needs a second editor's approval (POST /notices/{notice_id}/approve)."
            ),
            "tags": ["changes"],
            "requestBody": _body(
                "ChangeRequest",
                {
                    "action": "add",
                    "processor": _EXAMPLE_ENTRY,
                    "effective_at": "2035-01-01T00:00:00Z",
                    "reason": "Stripe will process card payments.",
                },
            ),
            "responses": _responses(
                "The change, announced.", "Change", "400", "404", "409", "413", "422", created=True
            ),
        },
    },
    "/lists/{slug}/drafts": {
        "parameters": [_parameter("slug")],
        "post": {
            "operationId": "createDraft",
            "summary": "Draft a change (private until announced)",
            "tags": ["changes"],
            "requestBody": _body("DraftRequest", {"action": "add", "processor": _EXAMPLE_ENTRY}),
            "responses": _responses("The draft.", "Change", "400", "404", "409", "413", "422", created=True),
        },
    },
    "/lists/{slug}/notices": {
        "parameters": [_parameter("slug")],
        "post": {
            "operationId": "announceDrafts",
            "summary": "Announce drafts together, as one notice",
            "tags": ["notices"],
            "requestBody": _body("NoticeRequest"),
            "responses": _responses("The notice.", "Notice", "400", "404", "409", "413", "422", created=True),
        },
    },
    "/changes/{change_id}": {
        "parameters": [_parameter("change_id")],
        "get": {
            "operationId": "getChange",
            "summary": "One change",
            "tags": ["changes"],
            "responses": _responses("The change.", "Change", "404"),
        },
    },
    "/changes/{change_id}/discard": {
        "parameters": [_parameter("change_id")],
        "post": {
            "operationId": "discardDraft",
            "summary": "Discard a draft",
            "tags": ["changes"],
            "responses": _responses("The change, discarded.", "Change", "404", "409", "422"),
        },
    },
    "/notices/{notice_id}": {
        "parameters": [_parameter("notice_id")],
        "get": {
            "operationId": "getNotice",
            "summary": "One notice, with its changes",
            "tags": ["notices"],
            "responses": _responses("The notice.", "Notice", "404"),
        },
    },
    "/notices/{notice_id}/approve": {
        "parameters": [_parameter("notice_id")],
        "post": {
            "operationId": "approveNotice",
            "summary": "Approve a notice awaiting a second person; it is published now",
            "description": (
                "An announcement or a correction. Nobody who drafted, edited or announced any part of "
                "it may approve it (422); a notice no longer awaiting approval is a conflict (409)."
            ),
            "tags": ["notices"],
            "responses": _responses("The notice, published.", "Notice", "404", "409", "422"),
        },
    },
    "/notices/{notice_id}/reject": {
        "parameters": [_parameter("notice_id")],
        "post": {
            "operationId": "rejectNotice",
            "summary": "Send an announcement awaiting approval back; its changes become drafts again",
            "tags": ["notices"],
            "requestBody": _body("ReasonRequest"),
            "responses": _responses("The notice, rejected.", "Notice", "400", "404", "409", "413", "422"),
        },
    },
    "/notices/{notice_id}/withdraw": {
        "parameters": [_parameter("notice_id")],
        "post": {
            "operationId": "withdrawNotice",
            "summary": "Withdraw an announcement before it takes effect",
            "description": "The withdrawal is a notice of its own (kind withdrawal), published at once.",
            "tags": ["notices"],
            "requestBody": _body("ReasonRequest"),
            "responses": _responses(
                "The withdrawal.", "Notice", "400", "404", "409", "413", "422", created=True
            ),
        },
    },
    "/audit": {
        "get": {
            "operationId": "listAuditEvents",
            "summary": "The audit trail, newest first (admins only)",
            "tags": ["audit"],
            "parameters": [
                {
                    "name": "action",
                    "in": "query",
                    "description": "Events whose action starts with this, e.g. notice.",
                    "schema": TEXT,
                },
                {
                    "name": "actor",
                    "in": "query",
                    "description": "Events whose actor contains this.",
                    "schema": TEXT,
                },
                {
                    "name": "since",
                    "in": "query",
                    "description": "Events at or after this moment (a date means its start, UTC).",
                    "schema": {"anyOf": [{"type": "string", "format": "date"}, MOMENT]},
                },
                {
                    "name": "until",
                    "in": "query",
                    "description": "Events before this moment (a date includes that whole day, UTC).",
                    "schema": {"anyOf": [{"type": "string", "format": "date"}, MOMENT]},
                },
                *_PAGE,
            ],
            "responses": _responses("The events.", "AuditEvents", "422"),
        }
    },
    "/webhooks": {
        "get": {
            "operationId": "listWebhooks",
            "summary": "Every webhook endpoint (admins only)",
            "tags": ["webhooks"],
            "responses": _responses("The endpoints, without their secrets.", "Webhooks"),
        },
        "post": {
            "operationId": "registerWebhook",
            "summary": "Register a webhook endpoint for lists and documents (admins only)",
            "description": (
                "The answer holds the endpoint's signing secret (whsec_...), shown this once. Events "
                "(notice.announced, notice.withdrawn, notice.applied, notice.corrected, revision.*, "
                "webhook.ping) are posted with the headers webhook-id, webhook-timestamp and "
                "webhook-signature."
            ),
            "tags": ["webhooks"],
            "requestBody": _body(
                "WebhookRequest", {"url": "https://vendor-risk.example/hooks", "lists": ["sub-processors"]}
            ),
            "responses": _responses(
                "The endpoint and its secret.", "WebhookCreated", "400", "413", "422", created=True
            ),
        },
    },
    "/webhooks/{webhook_id}": {
        "parameters": [_parameter("webhook_id")],
        "delete": {
            "operationId": "deleteWebhook",
            "summary": "Delete a webhook endpoint with its secret and deliveries (admins only)",
            "tags": ["webhooks"],
            "responses": _responses("The endpoint as it was.", "WebhookDeleted", "404"),
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {JSON: {"schema": {"type": "object"}}},
                }
            },
        }
    },
}

PARAMETERS = {
    "slug": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "The list's slug.",
        "schema": {"type": "string"},
        "example": "sub-processors",
    },
    "change_id": {"name": "change_id", "in": "path", "required": True, "schema": ID},
    "notice_id": {"name": "notice_id", "in": "path", "required": True, "schema": ID},
    "webhook_id": {"name": "webhook_id", "in": "path", "required": True, "schema": ID},
    "limit": {
        "name": "limit",
        "in": "query",
        "description": "At most this many.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100},
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "description": "Skip this many first.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    },
}


@cache
def document() -> dict[str, Any]:
    """The whole document (built once; treat it as read-only)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Processor Registry admin API",
            "version": "1",
            "description": (
                "Draft, announce, approve and withdraw changes to the sub-processor lists, read the "
                "entries and the audit trail, register webhook endpoints. The same rules apply as in the admin pages. Every "
                'answer is JSON; every error is {"error": {"status", "title", "message"}}, '
                "with a message per field for 422 and the current state for 409."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "lists"},
            {"name": "changes"},
            {"name": "notices"},
            {"name": "audit"},
            {"name": "webhooks"},
            {"name": "meta"},
        ],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `flask --app registry create-token EMAIL`.",
                }
            },
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": {code: _error_response(text) for code, text in _ERRORS.items()},
        },
    }
