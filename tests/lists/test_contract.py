"""The public JSON's contract: every schema is valid draft 2020-12 and served where its ``$id``
says, every public JSON answer of the demo keeps to the schema its describedby link names, and a
document that breaks the contract fails validation."""

from __future__ import annotations

import re
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jsonschema import Draft202012Validator, FormatChecker
from werkzeug.test import TestResponse

from registry.cors import is_shared
from registry.extensions import db
from registry.lists import contract, services
from registry.lists.fields import FIELDS, KIND_LABELS, TRANSFER_MECHANISMS
from registry.lists.models import ChangeAction
from registry.timeutil import rfc3339
from tests.conftest import NOW, Registry, entry

BASE = "https://registry.example"

# jsonschema checks "date" itself but "date-time" and "uri" only with optional packages: the
# contract's three formats are checked here, strictly, whatever is installed.
FORMATS = FormatChecker(["date"])
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
# RFC 3986: a scheme, then only characters a URI may hold (no spaces, quotes or angle brackets).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.ASCII)


@FORMATS.checks("date-time", raises=ValueError)
def _is_moment(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a 31 February raises
    return True


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.fullmatch(value) and urlsplit(value).scheme)


def validator(client: FlaskClient, name: str) -> Draft202012Validator:
    """A validator of the schema ``name`` as served, formats checked."""
    schema = client.get(f"/schemas/{name}.json").get_json()
    return Draft202012Validator(schema, format_checker=FORMATS)


def described_by(response: TestResponse) -> str:
    """The schema name the response's describedby link names."""
    links = re.findall(r'<([^>]+)>;\s*rel="describedby"', response.headers.get("Link", ""))
    assert len(links) == 1, response.headers.get("Link")
    match = re.fullmatch(rf"{re.escape(BASE)}/schemas/(\w+)\.json", links[0])
    assert match, links[0]
    return match.group(1)


def assert_keeps_to_its_schema(client: FlaskClient, response: TestResponse, expected: str) -> None:
    assert described_by(response) == expected, response.request.url
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(client, expected).iter_errors(response.get_json())
    ]
    assert not errors, (response.request.url, errors[:5])


# --- the schemas themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("name", contract.NAMES)
def test_every_schema_is_valid_and_complete(client: FlaskClient, name: str) -> None:
    Draft202012Validator.check_schema(contract.checked_in(name))
    served = client.get(f"/schemas/{name}.json").get_json()
    Draft202012Validator.check_schema(served)
    assert served["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert served["$id"] == f"{BASE}/schemas/{name}.json"
    assert served["title"] and served["description"]
    # Every reference points into the schema itself: a validator needs nothing else.
    refs = re.findall(r'"\$ref": "([^"]*)"', client.get(f"/schemas/{name}.json").get_data(as_text=True))
    assert refs and {ref.removeprefix("#/$defs/") for ref in refs} <= set(served["$defs"])


def _properties(schema: Any) -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        found += [(name, value) for name, value in schema.get("properties", {}).items()]
        for value in schema.values():
            found += _properties(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _properties(value)
    return found


@pytest.mark.parametrize("name", contract.NAMES)
def test_every_property_says_what_it_is_and_objects_stay_open(name: str) -> None:
    schema = contract.bundled(name)
    for prop, value in _properties(schema):
        target = schema["$defs"][value["$ref"].removeprefix("#/$defs/")] if "$ref" in value else {}
        assert value.get("description") or target.get("description"), (name, prop)
    # Fields may be added: no object of the contract forbids properties it does not list.
    assert False not in _values_of("additionalProperties", schema)
    assert schema.get("additionalProperties") is True


def _values_of(keyword: str, schema: Any) -> list[Any]:
    if isinstance(schema, dict):
        found = [schema[keyword]] if keyword in schema else []
        return found + [value for item in schema.values() for value in _values_of(keyword, item)]
    if isinstance(schema, list):
        return [value for item in schema for value in _values_of(keyword, item)]
    return []


def test_the_vocabularies_are_the_codes() -> None:
    defs = contract.definitions()
    assert defs["kind"]["enum"] == list(KIND_LABELS)
    assert defs["transferMechanism"]["enum"] == list(TRANSFER_MECHANISMS)
    assert defs["upcomingChange"]["properties"]["action"]["enum"] == [a.value for a in ChangeAction]


def test_an_entry_has_the_fields_of_an_entry() -> None:
    defs = contract.definitions()
    fields = {*defs["entryFields"]["properties"], *defs["entry"]["properties"]}
    assert fields == set(FIELDS)
    assert {*defs["entryFields"]["required"], *defs["entry"]["required"]} == set(FIELDS)


def test_schemas_are_served_shared_cached_and_revalidated(client: FlaskClient) -> None:
    response = client.get("/schemas/list.json", headers={"Origin": "https://tools.customer.example"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/schema+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    with client.application.app_context():
        assert response.get_data() == contract.served_bytes("list")
    again = client.get("/schemas/list.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.get_data()
    assert client.get("/schemas/version.json").headers["ETag"] != response.headers["ETag"]


@pytest.mark.parametrize("path", ["/schemas/nothing.json", "/schemas/defs.json", "/schemas/LIST.json"])
def test_an_unknown_schema_is_a_404_that_says_which_exist(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "list, version, versions, diff, changes, error" in response.get_json()["error"]["message"]


def test_every_public_json_address_names_a_schema(app: Flask) -> None:
    """A JSON address shared with any origin says which schema it answers with (the schemas and
    the OpenAPI document describe themselves; the admin API has its own document)."""
    marked = {}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            own = rule.rule.startswith(("/api/", "/schemas/", "/openapi.json"))
            if rule.rule.endswith(".json") and is_shared(rule.endpoint) and not own:
                marked[rule.rule] = contract.schema_of(app.view_functions[rule.endpoint])
    assert marked == {
        "/processors.json": "list",
        "/lists/<slug>.json": "list",
        "/processors/versions/<number>.json": "version",
        "/lists/<slug>/versions/<number>.json": "version",
        "/processors/diff.json": "diff",
        "/lists/<slug>/diff.json": "diff",
        "/processors/versions.json": "versions",
        "/lists/<slug>/versions.json": "versions",
        "/processors/changes.json": "changes",
        "/lists/<slug>/changes.json": "changes",
    }


# --- the demo keeps to it ------------------------------------------------------------------------


@pytest.fixture
def demo(runner: FlaskCliRunner, app: Flask) -> list[tuple[str, int, list[datetime]]]:
    """The demo's lists: (slug, latest version, each version's publication time)."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        found = []
        for register_list in services.all_lists(db.session):
            versions = sorted(services.versions_of(db.session, register_list), key=lambda v: v.number)
            found.append(
                (register_list.slug, register_list.current_version, [v.published_at for v in versions])
            )
    assert len(found) >= 2 and all(latest >= 1 for _, latest, _ in found)
    return found


def _get(client: FlaskClient, path: str) -> TestResponse:
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:200])
    return response


def test_every_public_json_answer_keeps_to_its_schema(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]]
) -> None:
    checked = 0
    for slug, latest, published in demo:
        for base in (f"/lists/{slug}", *(["/processors"] if slug == "sub-processors" else [])):
            for query in (
                "",
                "?kind=subprocessor",
                "?country=DE",
                "?q=support",
                "?kind=affiliate&country=US",
            ):
                assert_keeps_to_its_schema(client, _get(client, f"{base}.json{query}"), "list")
                checked += 1
            for number in range(1, latest + 1):
                for query in ("", "?country=US"):
                    response = _get(client, f"{base}/versions/{number}.json{query}")
                    assert_keeps_to_its_schema(client, response, "version")
                    checked += 1
            # What was in force at each publication, and on its day: redirects to a version.
            for moment in published:
                for at in (rfc3339(moment), moment.date().isoformat()):
                    response = _get(client, f"{base}.json?at={at}")
                    assert_keeps_to_its_schema(client, response, "version")
                    checked += 1
            pairs = [(n, n + 1) for n in range(1, latest)] + [(1, latest), (latest, latest)]
            for old, new in pairs:
                response = _get(client, f"{base}/diff.json?from={old}&to={new}")
                assert_keeps_to_its_schema(client, response, "diff")
                checked += 1
            assert_keeps_to_its_schema(client, _get(client, f"{base}/diff.json"), "diff")
            assert_keeps_to_its_schema(client, _get(client, f"{base}/versions.json"), "versions")
            assert_keeps_to_its_schema(client, _get(client, f"{base}/changes.json"), "changes")
            checked += 2
    # The demo's history reaches every part: upcoming changes, each action, changed fields.
    current = _get(client, "/processors.json").get_json()
    assert current["upcoming"] and checked > 40
    diff = _get(client, "/processors/diff.json?from=1&to=" + str(current["version"])).get_json()
    assert diff["added"] and diff["removed"] and diff["changed"]


@pytest.mark.parametrize(
    "path",
    [
        "/processors/versions/999.json",
        "/processors/versions/one.json",
        "/lists/no-such-list.json",
        "/processors.json?kind=robot",
        "/processors.json?at=yesterday",
        "/processors.json?at=1999-01-01",
        "/processors/diff.json?from=3&to=1",
        "/lists/website/diff.json?to=99",
    ],
)
def test_every_public_json_error_keeps_to_the_error_schema(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]], path: str
) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert_keeps_to_its_schema(client, response, "error")


def test_a_revalidation_keeps_the_link_and_a_redirect_has_none(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]]
) -> None:
    first = client.get("/processors/versions/1.json")
    again = client.get("/processors/versions/1.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and described_by(again) == "version"
    moved = client.get("/processors.json?at=" + rfc3339(demo[0][2][-1]))
    assert moved.status_code == 302 and "Link" not in moved.headers
    # The pages and the CSV are not JSON: no schema describes them.
    for path in ("/processors", "/processors.csv", "/processors/versions/1.csv", "/processors/feed.atom"):
        assert "Link" not in client.get(path).headers, path


def test_an_empty_list_and_every_kind_of_upcoming_change_keep_to_it(
    client: FlaskClient, registry: Registry
) -> None:
    registry.create_list()
    empty = client.get("/processors.json")
    assert empty.get_json()["version"] == 0 and empty.get_json()["updated_at"] is None
    assert_keeps_to_its_schema(client, empty, "list")
    assert_keeps_to_its_schema(client, client.get("/processors/diff.json"), "error")
    registry.publish(
        "sub-processors", entry("Microsoft Azure"), entry("Zendesk"), entry("Old Co", website="")
    )
    registry.announce(
        "sub-processors",
        [
            ("replace", "zendesk", entry("Intercom", locations=["IE", "US"], transfer_mechanisms=["dpf"])),
            ("retire", "old-co", None),
            (
                "update",
                "microsoft-azure",
                entry("Microsoft Azure", since="2020-02-29", scope="Only backups."),
            ),
        ],
        effective_at=NOW + timedelta(days=3),
        short_notice_reason="A security fix that cannot wait.",
    )
    response = client.get("/processors.json")
    assert_keeps_to_its_schema(client, response, "list")
    upcoming = response.get_json()["upcoming"]
    assert {change["action"] for change in upcoming} == {"replace", "retire", "update"}
    assert {change["replaces"] for change in upcoming} == {"zendesk", None}
    assert all(change["short_notice"] for change in upcoming)


# --- the schemas can fail -------------------------------------------------------------------------


def _errors(client: FlaskClient, name: str, document: Any) -> list[str]:
    return [error.message for error in validator(client, name).iter_errors(document)]


def _broken(document: dict[str, Any], change: Any) -> dict[str, Any]:
    document = deepcopy(document)
    change(document)
    return document


def _mechanism(entry: dict[str, Any], code: str | None) -> None:
    """Give an entry another transfer mechanism, or none, in the shape it has."""
    if "transfer_mechanisms" in entry:
        entry["transfer_mechanisms"] = [code]
    else:
        entry["transfer_mechanism"] = code
    if code is None:
        entry.pop("transfer_mechanisms", None)
        entry.pop("transfer_mechanism", None)


BREAKAGES = {
    "no version": lambda d: d.pop("version"),
    "a version as text": lambda d: d.update(version="5"),
    "no upcoming": lambda d: d.pop("upcoming"),
    "a time without its zone": lambda d: d.update(updated_at="2027-01-10T12:00:00"),
    "a time that is not a time": lambda d: d.update(updated_at="2027-02-31T12:00:00Z"),
    "an unknown kind": lambda d: d["processors"][0].update(kind="partner"),
    "an unknown mechanism": lambda d: _mechanism(d["processors"][0], "trust-us"),
    "no mechanism": lambda d: _mechanism(d["processors"][0], None),
    "a lowercase country": lambda d: d["processors"][0].update(locations=["de"]),
    "no location": lambda d: d["processors"][0].update(locations=[]),
    "a day that is not a day": lambda d: d["processors"][0].update(since="2027-13-01"),
    "a website that is not an address": lambda d: d["processors"][0].update(website="not a url"),
    "an entry without id": lambda d: d["processors"][0].pop("id"),
    "an upcoming change of no known action": lambda d: d["upcoming"][0].update(action="merge"),
    "an effective date as a day": lambda d: d["upcoming"][0].update(effective_at="2027-02-01"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_list_fails_validation(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]], breakage: str
) -> None:
    document = _get(client, "/processors.json").get_json()
    assert _errors(client, "list", document) == []
    assert _errors(client, "list", _broken(document, BREAKAGES[breakage])), breakage


def test_a_version_may_hold_either_shape_of_mechanism(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]]
) -> None:
    document = _get(client, "/processors/versions/1.json").get_json()

    def mechanisms(**fields: Any) -> Any:
        def change(d: dict[str, Any]) -> None:
            entry = d["processors"][0]
            entry.pop("transfer_mechanism", None)
            entry.pop("transfer_mechanisms", None)
            entry.update(fields)

        return change

    # Versions published with one code, and versions published with a list of them.
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanism="scc"))) == []
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanisms=["scc", "dpf"]))) == []
    assert _errors(client, "version", _broken(document, mechanisms()))
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanisms=[])))
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanisms=["scc", "trust-us"])))
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanisms=["scc", "scc"])))
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanisms="scc")))
    assert _errors(client, "version", _broken(document, mechanisms(transfer_mechanism=["scc"])))


def test_a_broken_diff_fails_validation(
    client: FlaskClient, demo: list[tuple[str, int, list[datetime]]]
) -> None:
    document = _get(client, "/processors/diff.json?from=3&to=4").get_json()
    assert _errors(client, "diff", document) == []
    assert _errors(client, "diff", _broken(document, lambda d: d.pop("changed")))
    assert _errors(client, "diff", _broken(document, lambda d: d["changed"][0]["fields"].update(locations=1)))
    assert _errors(client, "diff", _broken(document, lambda d: d["added"][0].update(kind="partner")))
