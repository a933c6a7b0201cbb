"""Admin pages of webhook endpoints: list, register, disable or enable, delete, send a test ping.
Admins only; the blueprint's guard checks the role, then the CSRF token, before any view runs.

Thin, like the other admin pages: they call ``registry.webhooks.services`` (which validates,
changes and audits), commit on success and redirect. A new endpoint's secret is the exception
to the redirect, as for API tokens: it is shown in the response to the POST, once, and never
put in the session or a flash message.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from registry.accounts.auth import actor, requires
from registry.accounts.forms import EmptyForm
from registry.accounts.models import Role
from registry.admin import bp
from registry.admin.manage_forms import WebhookForm
from registry.documents.services import all_documents
from registry.extensions import db
from registry.lists.services import all_lists
from registry.timeutil import utcnow
from registry.validation import ValidationError
from registry.webhooks import services
from registry.webhooks.models import WebhookEndpoint
from registry.webhooks.payloads import EVENT_TYPES

INVALID = 422
Page = str | Response | tuple[str, int]


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = services.get_endpoint(db.session, endpoint_id)
    if endpoint is None:
        abort(404, f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def _form(form: WebhookForm | None = None) -> WebhookForm:
    form = form or WebhookForm()
    form.lists.choices = [(item.slug, item.title) for item in all_lists(db.session)]
    form.documents.choices = [(item.slug, item.title) for item in all_documents(db.session)]
    return form


def _page(form: WebhookForm, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "admin/webhooks.html",
            endpoints=services.all_endpoints(db.session),
            form=form,
            action_form=EmptyForm(formdata=None),
            event_types=EVENT_TYPES,
        ),
        status,
    )


@bp.get("/webhooks")
@requires(Role.ADMIN)
def webhooks() -> Page:
    """Every endpoint, with what it is registered for, and a form to register one."""
    return _page(_form(WebhookForm(formdata=None)))


@bp.post("/webhooks")
@requires(Role.ADMIN)
def register_webhook() -> Page:
    """Register an endpoint and show its secret in this response: the only time anybody sees it."""
    form = _form()
    if not form.validate():
        return _page(form, INVALID)
    wanted = services.Registration(
        url=form.url.data or "",
        lists=tuple(form.lists.data or ()),
        documents=tuple(form.documents.data or ()),
        description=form.description.data or "",
    )
    try:
        endpoint, secret = services.register(db.session, wanted, actor=actor(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _page(form, INVALID)
    db.session.commit()
    return render_template("admin/webhook_created.html", endpoint=endpoint, secret=secret)


@bp.post("/webhooks/<int:endpoint_id>/disable")
@requires(Role.ADMIN)
def disable_webhook(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    if services.disable(db.session, endpoint, reason="disabled by an admin", actor=actor(), now=utcnow()):
        db.session.commit()
        flash(f"Webhook endpoint {endpoint.id} is disabled: nothing more is posted to it.", "success")
    else:
        flash(f"Webhook endpoint {endpoint.id} was disabled already.", "info")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/enable")
@requires(Role.ADMIN)
def enable_webhook(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    if services.enable(db.session, endpoint, actor=actor(), now=utcnow()):
        db.session.commit()
        flash(f"Webhook endpoint {endpoint.id} is enabled: it gets events from now on.", "success")
    else:
        flash(f"Webhook endpoint {endpoint.id} was enabled already.", "info")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/delete")
@requires(Role.ADMIN)
def delete_webhook(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    services.delete(db.session, endpoint, actor=actor(), now=utcnow())
    db.session.commit()
    flash(f"Webhook endpoint {endpoint_id} is deleted, with its secret and its deliveries.", "success")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/ping")
@requires(Role.ADMIN)
def ping_webhook(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    if not endpoint.enabled:
        flash(f"Webhook endpoint {endpoint.id} is disabled: enable it to send a test ping.", "error")
        return redirect(url_for("admin.webhooks"))
    services.ping(db.session, endpoint, actor=actor(), now=utcnow())
    db.session.commit()
    flash(
        f"A webhook.ping event is queued for endpoint {endpoint.id}: the delivery job posts it within "
        "seconds; see Delivery for the result.",
        "success",
    )
    return redirect(url_for("admin.webhooks"))
