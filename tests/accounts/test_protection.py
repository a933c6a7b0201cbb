"""Every admin and API route, present and future: refused to anonymous visitors, to tokens on the
admin pages, and to users without the role the view declares. A route added without a declared
role makes these tests fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from registry.accounts.auth import required_role
from registry.accounts.models import Role
from tests.conftest import Users, sign_in


def _protected_rules(app: Flask) -> Iterator[tuple[Rule, str, str]]:
    """(rule, method, url) for every route under /admin and /api, with placeholder arguments.

    Only the API's OpenAPI document is public there: it describes, and grants nothing.
    """
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/admin", "/api/")) or rule.endpoint.endswith("openapi"):
            continue
        values = {arg: "1" for arg in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method, url


def test_there_are_routes_to_check(app: Flask) -> None:
    assert len(list(_protected_rules(app))) >= 2


def test_every_protected_view_declares_a_role(app: Flask) -> None:
    undeclared = [
        rule.rule for rule, _, _ in _protected_rules(app) if required_role(app, rule.endpoint) is None
    ]
    assert undeclared == []


def test_anonymous_visitors_are_refused_everywhere(client: FlaskClient, app: Flask) -> None:
    for rule, method, url in _protected_rules(app):
        response = client.open(url, method=method)
        if rule.endpoint.startswith("api."):
            assert response.status_code == 401, (method, url)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert response.status_code == 302, (method, url)
            assert response.location.startswith("/sign-in?next="), (method, url)


def test_editors_are_refused_admin_only_routes(client: FlaskClient, app: Flask, users: Users) -> None:
    users.create("ed@example.com", "editor")
    sign_in(client, "ed@example.com")
    token = users.token("ed@example.com")
    for rule, method, url in _protected_rules(app):
        if required_role(app, rule.endpoint) is not Role.ADMIN:
            continue
        headers = {"Authorization": f"Bearer {token}"} if rule.endpoint.startswith("api.") else {}
        assert client.open(url, method=method, headers=headers).status_code == 403, (method, url)


@pytest.mark.parametrize("header", ["Bearer prt_not-a-token", "Bearer ", "Basic abc", "bearer"])
def test_bad_tokens_are_refused(client: FlaskClient, header: str) -> None:
    assert client.get("/api/v1/lists", headers={"Authorization": header}).status_code == 401


def test_a_token_works_on_the_api_only(client: FlaskClient, users: Users) -> None:
    users.create("ed@example.com", "editor")
    headers = {"Authorization": f"Bearer {users.token('ed@example.com')}"}
    assert client.get("/api/v1/lists", headers=headers).status_code == 200
    assert client.get("/admin/", headers=headers).status_code == 302
