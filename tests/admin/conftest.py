"""Fixtures for the admin workflow pages: a fixed clock, a published list, two signed-in editors,
and a helper that posts a form the way a browser does (with the session's CSRF token)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from registry.admin import views
from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.lists import services
from registry.lists.models import Change
from tests.conftest import NOW, Registry, Users, csrf_token, entry, seen_on, sign_in

SLUG = "sub-processors"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin views read the time through their module's ``utcnow``: pin it to NOW.

    Not autouse: tests of other admin pages in this folder keep the real clock.
    """
    monkeypatch.setattr(views, "utcnow", lambda: NOW)


@pytest.fixture
def published(registry: Registry) -> Registry:
    """The default list with two entries, published at NOW."""
    registry.create_list(SLUG, "Sub-processors")
    registry.publish(
        SLUG, entry("Microsoft Azure", locations=["NL", "IE"]), entry("Stripe", locations=["IE"])
    )
    return registry


@pytest.fixture
def bob(app: Flask, users: Users) -> FlaskClient:
    """A second editor in their own browser (bob@example.com)."""
    client = app.test_client()
    users.create("bob@example.com", "editor")
    assert sign_in(client, "bob@example.com").status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
    """POST a form with the session's CSRF token, as the browser would from any admin page."""
    token = csrf_token(client, "/admin/")
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kw)


def entry_form(name: str, **fields: Any) -> dict[str, Any]:
    """An entry as the entry form sends it: lists as lines of text, and the transfer mechanisms
    as the checkboxes ticked (one value each)."""
    data = entry(name, **fields)
    return {
        k: list(v) if k == "transfer_mechanisms" else "\n".join(v) if isinstance(v, list) else str(v)
        for k, v in data.items()
    }


def audit_actions(app: Flask, actor: str | None = None) -> list[str]:
    with app.app_context():
        query = select(AuditEvent.action).order_by(AuditEvent.id)
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        return list(db.session.scalars(query))


def changes_of(app: Flask) -> list[tuple[int, str, str, str]]:
    """(id, action, status, name) of every change, oldest first."""
    with app.app_context():
        return [
            (c.id, str(c.action), str(c.status), c.subject.get("name", ""))
            for c in db.session.scalars(select(Change).order_by(Change.id))
        ]


def set_requires_approval(app: Flask, slug: str = SLUG) -> None:
    from registry.audit.services import SYSTEM

    with app.app_context():
        register_list = services.get_list(db.session, slug)
        assert register_list is not None
        services.update_settings(
            db.session, register_list, {"requires_approval": True}, actor=SYSTEM, now=NOW
        )
        db.session.commit()


def public_upcoming(client: FlaskClient, slug: str = SLUG) -> list[dict[str, Any]]:
    response = client.get("/processors.json" if slug == SLUG else f"/lists/{slug}.json")
    assert response.status_code == 200
    return response.get_json()["upcoming"]


def approve(client: FlaskClient, notice_path: str) -> TestResponse:
    """Approve a notice as a person does: open its confirmation page, then confirm what it showed."""
    seen = seen_on(client, f"{notice_path}/approve")
    return post(client, f"{notice_path}/approve", {"seen": seen})


def withdraw(client: FlaskClient, notice_path: str, reason: str) -> TestResponse:
    """Withdraw a notice as a person does: through its confirmation page."""
    return post(client, f"{notice_path}/withdraw", {"reason": reason, "confirmed": "yes"})
