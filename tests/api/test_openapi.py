"""The OpenAPI document: valid, public, describing every route and only routes; and schemathesis
sending the API what the document allows and what it forbids, checking every answer against it."""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from registry.api.openapi import document
from registry.lists.fields import FIELDS
from registry.timeutil import rfc3339, utcnow
from tests.api.conftest import Api, set_list
from tests.conftest import Registry, entry


def _routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path template) of every API route, in the document's spelling."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        found |= {(method, path) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return found


def test_every_route_is_described_and_nothing_else(app: Flask) -> None:
    described = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert described == _routes(app)


def test_the_document_is_valid_openapi() -> None:
    schemathesis.openapi.from_dict(deepcopy(document())).validate()


def test_the_document_is_public_and_served_as_written(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == document()


def test_every_operation_needs_a_token_but_the_document() -> None:
    doc = document()
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path == "/openapi.json":
                assert operation["security"] == []
            else:
                assert "security" not in operation and {"401", "403"} <= set(operation["responses"]), path


def _objects(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _objects(value)
    return found


def test_every_object_says_what_else_it_may_hold() -> None:
    objects = _objects(document()["components"]["schemas"])
    assert objects and all(schema.get("additionalProperties") is False for schema in objects)


def test_processor_shapes_follow_the_fields() -> None:
    schemas = document()["components"]["schemas"]
    for name in ("Processor", "ProcessorFields", "NewProcessor"):
        assert tuple(schemas[name]["properties"]) == FIELDS, name


def test_the_examples_work(api: Api, listed: Registry) -> None:
    paths = document()["paths"]
    for path in ("/lists/{slug}/drafts", "/lists/{slug}/changes"):
        example = paths[path]["post"]["requestBody"]["content"]["application/json"]["example"]
        response = api.post(path.replace("{slug}", "sub-processors"), example)
        assert response.status_code == 201, response.get_json()


# --- schemathesis -------------------------------------------------------------------------------
# schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not run under
# pytest 9.2 (it sets ``Function._nodeid``, which pytest 9.2 no longer has), so each operation's
# strategies are driven by Hypothesis directly: the documented way to use them in other tests.

OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method != "parameters" and path != "/openapi.json"
)


@dataclass
class Served:
    schema: Any
    # Path parameters naming things that exist, so that generated bodies and queries reach them.
    real: list[dict[str, Any]]
    # A valid body for each POST that takes one, so that successful answers are checked as well.
    valid: dict[str, Any]


@pytest.fixture
def served(app: Flask, registry: Registry, users: Any) -> Served:
    """The document as the app serves it, over a database holding a list with entries, drafts, an
    announced change and one awaiting approval: generated requests meet real objects as well as
    missing ones."""
    users.create("editor@example.com", "editor")
    users.create("admin@example.com", "admin")
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Twilio SendGrid"), now=utcnow())
    editor = users.token("editor@example.com")
    client = Api(app.test_client(), schemathesis.openapi.from_dict(deepcopy(document())), editor)
    later = rfc3339(utcnow() + timedelta(days=45))
    announced = client.post(
        "/lists/sub-processors/changes",
        {"action": "retire", "target": "twilio-sendgrid", "effective_at": later, "reason": "Gone."},
    ).get_json()
    drafts = [
        client.post("/lists/sub-processors/drafts", {"action": "add", "processor": entry(name)}).get_json()[
            "id"
        ]
        for name in ("Stripe", "Mollie")
    ]
    set_list(app, requires_approval=True)
    pending = client.post(
        "/lists/sub-processors/changes",
        {"action": "add", "processor": entry("Adyen"), "effective_at": later, "reason": "Payments."},
    ).get_json()
    paths = document()["paths"]
    examples = {
        path: paths[path]["post"]["requestBody"]["content"]["application/json"]["example"]
        for path in ("/lists/{slug}/changes", "/lists/{slug}/drafts")
    }
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Every request carries an admin's token (the audit trail needs one). The token is not
    # generated, so a negative case never "breaks" it only to have it put back.
    schema.config.update(headers={"Authorization": f"Bearer {users.token('admin@example.com')}"})
    schema.config.generation.update(with_security_parameters=False)
    # An address or body too long to read is refused too (414, 413), before it is looked at.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413", "414"]
    return Served(
        schema,
        real=[
            {"slug": "sub-processors", "change_id": drafts[0], "notice_id": pending["notice"]},
            {"slug": "sub-processors", "change_id": announced["id"], "notice_id": announced["notice"]},
        ],
        valid={
            **examples,
            "/lists/{slug}/notices": {"changes": drafts[1:], "effective_at": later, "reason": "Payments."},
            "/notices/{notice_id}/reject": {"reason": "Not yet."},
            "/notices/{notice_id}/withdraw": {"reason": "Not after all."},
        },
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_keeps_to_its_document(served: Served, method: str, path: str) -> None:
    operation = served.schema[path][method]
    names = set(re.findall(r"{(\w+)}", path))
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        for real in served.real:
            fixed = {name: value for name, value in real.items() if name in names}
            if fixed:
                strategies.append(operation.as_strategy(mode, path_parameters=fixed))
    if method == "POST" and path in served.valid:
        for real in served.real:
            fixed = {name: value for name, value in real.items() if name in names}
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed, body=served.valid[path])
            )

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        # Every check but one: that valid input is accepted. The document cannot say which
        # countries exist or how far ahead an effective date must be, so valid JSON may be a 422.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    check()
