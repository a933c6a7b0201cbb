"""Fixtures for objections: a movable clock, a list with an announced notice, and helpers that
object through the real form or the real service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry.admin import objections as admin_objections
from registry.admin import views as admin_views
from registry.audit.services import Actor
from registry.extensions import db
from registry.lists.models import Notice
from registry.objections import services
from registry.objections import views as public_views
from tests.conftest import NOW, Registry, csrf_token, entry

SLUG = "sub-processors"
EFFECTIVE = NOW + timedelta(days=45)
DEADLINE = EFFECTIVE - timedelta(days=1)  # the list's default: objections close a day before
OBJECTOR = Actor(None, "anonymous", "192.0.2.7")


@dataclass
class Clock:
    now: datetime = NOW


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Every view that reads the time (public form, admin pages) reads this clock."""
    clock = Clock()
    for module in (public_views, admin_objections, admin_views):
        monkeypatch.setattr(module, "utcnow", lambda: clock.now)
    return clock


@dataclass
class Announced:
    """The announced notice everything here objects to."""

    id: int
    uuid: str
    list_id: int

    @property
    def form_url(self) -> str:
        return f"/notices/{self.uuid}/object"


def notice_row(app: Flask, notice_id: int) -> Notice:
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        db.session.expunge(notice)
        return notice


def announce_addition(registry: Registry, name: str = "Acme Analytics", **kw: Any) -> Announced:
    notice_id = registry.announce(
        SLUG,
        [("add", None, entry(name, locations=["US"], corporate_location="US", transfer_mechanisms=["dpf"]))],
        effective_at=kw.pop("effective_at", EFFECTIVE),
        reason=kw.pop("reason", "Better product analytics."),
        **kw,
    )
    notice = notice_row(registry.app, notice_id)
    return Announced(notice.id, notice.uuid, notice.list_id)


@pytest.fixture
def announced(registry: Registry, clock: Clock) -> Announced:
    """The default list with one entry, and an announced addition (effective NOW + 45 days)."""
    registry.create_list(SLUG, "Sub-processors")
    registry.publish(SLUG, entry("Stripe", locations=["IE"]))
    return announce_addition(registry)


def objection_form(**overrides: str) -> dict[str, str]:
    return {
        "organisation": "Globex Corporation",
        "contact_name": "Jane Doe",
        "email": "jane.doe@globex.example",
        "reason": "Our contract forbids transfers of our customers' data to the United States.",
        **overrides,
    }


def send(client: FlaskClient, announced: Announced, **overrides: str) -> TestResponse:
    """POST the public form as a browser does, with the CSRF token from the form page."""
    token = csrf_token(client, announced.form_url)
    return client.post(announced.form_url, data={"csrf_token": token, **objection_form(**overrides)})


def receive(app: Flask, notice_id: int, now: datetime = NOW, **overrides: str) -> int:
    """An objection recorded through the service, as the form would; returns its id."""
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        objection = services.receive(
            db.session, notice, actor=OBJECTOR, now=now, **objection_form(**overrides)
        )
        db.session.commit()
        return objection.id


def admin_post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> TestResponse:
    """POST an admin form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/"), **(data or {})})
