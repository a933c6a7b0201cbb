"""The admin pages of webhooks: admins register (the secret shown once), ping, disable and
delete endpoints, each with the CSRF token and in the audit trail; editors may not; the
deliveries page shows each delivery's status, attempts, last error and response code."""

from __future__ import annotations

import base64
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.webhooks.jobs import deliver_webhooks
from registry.webhooks.models import WebhookEndpoint
from tests.admin.conftest import post
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme
from tests.webhooks.receiver import Receiver

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def _register(admin: FlaskClient, url: str, **extra: object) -> tuple[int, str]:
    response = post(admin, "/admin/webhooks", {"url": url, "lists": ["sub-processors"], **extra})
    return response.status_code, response.get_data(as_text=True)


def _audit(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        events = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action.startswith("webhook.")).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return events


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(
    app: Flask, published: Registry, admin: FlaskClient, receiver: Receiver
) -> None:
    status, page = _register(admin, receiver.url, description="Acme vendor-risk tool")
    assert status == 200
    shown = SECRET.findall(page)
    assert len(shown) == 1
    assert len(base64.b64decode(shown[0].removeprefix("whsec_"))) >= 24
    with app.app_context():
        (endpoint,) = db.session.scalars(select(WebhookEndpoint)).all()
        assert endpoint.secret == shown[0] and endpoint.url == receiver.url
        assert [t.slug for t in endpoint.targets] == ["sub-processors"]
    listing = admin.get("/admin/webhooks").get_data(as_text=True)
    assert receiver.url in listing and "Acme vendor-risk tool" in listing
    assert shown[0] not in listing and "whsec_" not in listing  # never again
    (event,) = _audit(app)
    assert event.action == "webhook.register" and event.actor == "admin@example.com"
    assert event.after["url"] == receiver.url and event.after["lists"] == ["sub-processors"]
    assert shown[0] not in repr((event.before, event.after, event.summary))


def test_a_bad_url_is_a_clear_422(app: Flask, published: Registry, admin: FlaskClient) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    status, page = _register(admin, "https://169.254.169.254/latest")
    assert status == 422 and "not a public internet address" in page
    status, page = _register(admin, "http://example.com/hook")
    assert status == 422 and "must start with https://" in page
    response = post(admin, "/admin/webhooks", {"url": "https://example.com/hook"})
    assert response.status_code == 422 and "Choose at least one list" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(WebhookEndpoint)).all() == []
    assert _audit(app) == []


def test_editors_may_not_and_every_form_needs_the_csrf_token(
    app: Flask, published: Registry, admin: FlaskClient, editor: FlaskClient, receiver: Receiver
) -> None:
    assert editor.get("/admin/webhooks").status_code == 403
    assert (
        post(editor, "/admin/webhooks", {"url": receiver.url, "lists": "sub-processors"}).status_code == 403
    )
    status, _ = _register(admin, receiver.url)
    assert status == 200
    for action in ("ping", "disable", "enable", "delete"):
        assert post(editor, f"/admin/webhooks/1/{action}").status_code == 403, action
        response = admin.post(f"/admin/webhooks/1/{action}")
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True), action
    response = admin.post("/admin/webhooks", data={"url": receiver.url, "lists": "sub-processors"})
    assert response.status_code == 400
    with app.app_context():
        assert len(db.session.scalars(select(WebhookEndpoint)).all()) == 1
    assert [e.action for e in _audit(app)] == ["webhook.register"]
    assert post(admin, "/admin/webhooks/999999/ping").status_code == 404
    assert post(admin, "/admin/webhooks/99999999999999999999/delete").status_code == 404


def test_the_ping_button_delivers_a_signed_webhook_ping(
    app: Flask, published: Registry, admin: FlaskClient, receiver: Receiver
) -> None:
    _, page = _register(admin, receiver.url)
    receiver.secret = SECRET.findall(page)[0]
    response = post(admin, "/admin/webhooks/1/ping", follow_redirects=True)
    assert response.status_code == 200 and "webhook.ping event is queued" in response.get_data(as_text=True)
    with app.app_context():
        deliver_webhooks()
    (got,) = receiver.received
    assert got.verified and got.payload["type"] == "webhook.ping"
    assert [e.action for e in _audit(app)] == ["webhook.register", "webhook.ping"]


def test_disable_enable_and_delete_are_audited(
    app: Flask, published: Registry, admin: FlaskClient, receiver: Receiver
) -> None:
    _register(admin, receiver.url)
    assert post(admin, "/admin/webhooks/1/disable").status_code == 302
    announce_acme(published)  # owed to nobody: the endpoint is off
    assert post(admin, "/admin/webhooks/1/enable").status_code == 302
    assert post(admin, "/admin/webhooks/1/delete").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(WebhookEndpoint)).all() == []
        deliver_webhooks()
    assert receiver.received == []
    events = _audit(app)
    assert [e.action for e in events] == [
        "webhook.register",
        "webhook.disable",
        "webhook.enable",
        "webhook.delete",
    ]
    assert events[-1].before["url"] == receiver.url


def test_the_deliveries_page_shows_status_attempts_error_and_response_code(
    app: Flask, published: Registry, admin: FlaskClient, editor: FlaskClient, receiver: Receiver
) -> None:
    _, page = _register(admin, receiver.url)
    receiver.secret = SECRET.findall(page)[0]
    announce_acme(published)
    receiver.plan = [503]
    with app.app_context():
        deliver_webhooks()
    page = editor.get("/admin/deliveries/webhooks").get_data(as_text=True)
    assert "notice.announced" in page and "Retrying" in page and "503" in page
    assert "HTTP 503 Service Unavailable" in page and receiver.received[0].message_id in page
    assert ">1<" in page  # one attempt
    overview = editor.get("/admin/deliveries").get_data(as_text=True)
    assert "Webhook deliveries" in overview
    assert editor.get("/admin/deliveries/webhooks?status=retrying").status_code == 200
    assert editor.get("/admin/deliveries/webhooks?status=nope").status_code == 400
    assert editor.get("/admin/deliveries/webhooks?page=0").status_code == 400
