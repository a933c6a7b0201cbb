"""Fixtures for the admin API: users with tokens, and a client that checks every answer against
the OpenAPI document (a documented status, a body of the documented shape), so that the behaviour
tests keep the document honest as well as the API."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, ClassVar

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry.api.openapi import document
from registry.extensions import db
from registry.lists import services
from registry.timeutil import utcnow
from tests.conftest import Registry, Users, entry

PREFIX = "/api/v1"


@pytest.fixture(scope="session")
def api_schema() -> Any:
    """The served document as schemathesis reads it (a copy: schemathesis may annotate it)."""
    return schemathesis.openapi.from_dict(deepcopy(document()))


class Api:
    """A test client speaking to /api/v1 with one user's token; every answer is checked against
    the document before the test sees it."""

    def __init__(self, client: FlaskClient, schema: Any, token: str | None):
        self.client = client
        self.schema = schema
        self.token = token

    def as_(self, token: str | None) -> Api:
        return Api(self.client, self.schema, token)

    def request(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        response = self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)
        self.conforms(method, path.partition("?")[0], response)
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    def conforms(self, method: str, path: str, response: TestResponse) -> None:
        assert response.status_code < 500, response.get_data(as_text=True)
        assert response.mimetype == "application/json", (method, path, response.status_code)
        operation = self.schema.find_operation_by_path(method, path)
        if operation is None:  # an undocumented route or method: only errors may answer there
            assert response.status_code in (404, 405), (method, path, response.status_code)
            return
        documented = set(operation.definition.raw["responses"])
        assert str(response.status_code) in documented, (method, path, response.status_code, documented)
        operation.validate_response(response)


class People:
    """Tokens of two editors (alice, bob) and an admin (carol), each created when first asked for:
    hashing a password is slow on purpose, and most tests need only alice."""

    ROLES: ClassVar[dict[str, str]] = {"alice": "editor", "bob": "editor", "carol": "admin"}

    def __init__(self, users: Users):
        self.users = users
        self.tokens: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self.tokens:
            self.users.create(f"{name}@example.com", self.ROLES[name])
            self.tokens[name] = self.users.token(f"{name}@example.com")
        return self.tokens[name]


@pytest.fixture
def people(users: Users) -> People:
    return People(users)


@pytest.fixture
def api(client: FlaskClient, api_schema: Any, people: People) -> Api:
    """The API as alice, an editor; ``api.as_(people["bob"])`` speaks as someone else."""
    return Api(client, api_schema, people["alice"])


@pytest.fixture
def listed(registry: Registry) -> Registry:
    """The list sub-processors (30 days' notice) with Microsoft Azure and Twilio SendGrid in force."""
    registry.create_list()
    registry.publish(
        "sub-processors",
        entry("Microsoft Azure", id="microsoft-azure"),
        entry("Twilio SendGrid", id="twilio-sendgrid", locations=["US"], transfer_mechanisms=["dpf"]),
        now=utcnow(),
    )
    return registry


def set_list(app: Flask, slug: str = "sub-processors", **values: Any) -> None:
    """Change a list's settings through the service, as an admin would."""
    from registry.audit.services import SYSTEM

    with app.app_context():
        register_list = services.get_list(db.session, slug)
        assert register_list is not None
        services.update_settings(db.session, register_list, values, actor=SYSTEM, now=utcnow())
        db.session.commit()
