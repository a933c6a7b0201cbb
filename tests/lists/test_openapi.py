"""The public OpenAPI document: valid, describing every route shared with any origin and only
those, embedding the JSON Schemas as served; and schemathesis sending the public site what the
document allows and what it forbids, over the demo, checking every answer against it."""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from registry.cors import is_shared
from registry.lists import contract
from registry.lists.openapi import COMPONENTS, document


def _shared_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path template) of every public route shared with any origin, but the admin API's
    (it has a document of its own)."""
    found = set()
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.rule.startswith("/api/") or not is_shared(rule.endpoint):
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            found |= {(method, path) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return found


def test_every_shared_route_is_described_and_nothing_else(app: Flask) -> None:
    described = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert described == _shared_routes(app)


def test_the_document_is_valid_openapi() -> None:
    schemathesis.openapi.from_dict(deepcopy(document())).validate()


def test_the_document_is_served_as_written_and_shared(client: FlaskClient) -> None:
    response = client.get("/openapi.json", headers={"Origin": "https://tools.customer.example"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == document()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    again = client.get("/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("name", contract.NAMES)
def test_the_bodies_are_the_served_json_schemas(client: FlaskClient, name: str) -> None:
    """The same schema, but for where its parts live: its $defs are components of their own."""
    served = client.get(f"/schemas/{name}.json").get_json()
    components = document()["components"]["schemas"]
    embedded = deepcopy(components[COMPONENTS[name]])
    assert embedded.pop("description").startswith(served["description"])
    for key in ("$schema", "$id", "$defs", "description"):
        served.pop(key)
    assert re.sub(r"#/components/schemas/", "#/$defs/", repr(embedded)) == repr(served)
    for part, schema in client.get(f"/schemas/{name}.json").get_json()["$defs"].items():
        assert re.sub(r"#/components/schemas/", "#/$defs/", repr(components[part])) == repr(schema)


def test_every_json_answer_names_its_schema_and_conditional_gets_are_documented() -> None:
    paths = document()["paths"]
    for path, item in paths.items():
        operation = item["get"]
        if path == "/openapi.json":
            continue
        names = {p["$ref"].rsplit("/", 1)[1] for p in operation["parameters"]}
        assert {"If-None-Match", "If-Modified-Since"} <= names, path
        assert operation["responses"]["304"] == {"$ref": "#/components/responses/notModified"}, path
        ok = operation["responses"]["200"]
        if "application/json" in ok["content"]:
            assert "Link" in ok["headers"], path
        assert ("at" in names) == (path in TIME_TRAVEL), path


# Where ``at`` redirects to a version: the list's own addresses.
TIME_TRAVEL = {"/processors.json", "/processors.csv", "/lists/{slug}.json", "/lists/{slug}.csv"}


# --- schemathesis -------------------------------------------------------------------------------
# As for the admin API: each operation's strategies are driven by Hypothesis directly.

OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method != "parameters" and path != "/openapi.json"
)


@pytest.fixture
def served(app: Flask, runner: FlaskCliRunner) -> Any:
    """The document as the app serves it, over the demo: real lists, versions and documents."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


# Path and query values that exist in the demo, so that generated requests reach real things.
REAL = [
    {"slug": "sub-processors", "number": "1", "name": "list"},
    {"slug": "website", "number": "1", "name": "diff"},
    {"slug": "privacy-policy", "number": "5", "name": "version"},
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_public_site_keeps_to_its_document(served: Any, method: str, path: str) -> None:
    operation = served[path][method]
    names = set(re.findall(r"{(\w+)}", path))
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        for real in REAL:
            fixed = {name: value for name, value in real.items() if name in names}
            if fixed:
                strategies.append(operation.as_strategy(mode, path_parameters=fixed))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        # Not checked: that valid input is accepted (the document cannot say which countries
        # exist or which versions are published), nor that invalid input is refused (the
        # filters forgive case and spaces, e.g. kind=Affiliate, country=de).
        case.call_and_validate(excluded_checks=[positive_data_acceptance, negative_data_rejection])

    check()


def test_every_operation_has_a_name_of_its_own() -> None:
    ids = [item["get"]["operationId"] for item in document()["paths"].values()]
    assert len(ids) == len(set(ids)) == len(document()["paths"])
