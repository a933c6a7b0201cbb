"""Admin pages of delivery: what the outbox holds per notice, and what could not be sent; and the
webhook deliveries, with each one's status, attempts, last error and response code.

Editors and admins see the outbox; only admins requeue dead notifications. Thin, like the other
admin pages: they call ``registry.notifications.services`` (counts in SQL, rows a page at a time),
commit on success and redirect (POST/redirect/GET). The blueprint's guard checks the role, then
the CSRF token, before any of these views runs.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from registry.accounts.auth import actor, requires
from registry.accounts.forms import EmptyForm
from registry.accounts.models import Role
from registry.admin import bp
from registry.extensions import db
from registry.lists.models import Notice
from registry.lists.services import get_notice
from registry.lists.wording import notice_title
from registry.notifications import services
from registry.notifications.models import NotificationKind, NotificationStatus
from registry.timeutil import utcnow
from registry.webhooks import services as webhooks
from registry.webhooks.models import WebhookDeliveryStatus

NOTICES_PER_PAGE = 50
ROWS_PER_PAGE = 100
MAX_PAGE = 100_000
# Column order of every count table: from owed, through sent, to given up.
STATUSES = (
    NotificationStatus.QUEUED,
    NotificationStatus.SENDING,
    NotificationStatus.RETRYING,
    NotificationStatus.SENT,
    NotificationStatus.DEAD,
    NotificationStatus.CANCELLED,
    NotificationStatus.HELD,
    NotificationStatus.BUNDLED,
)
STATUS_LABELS = {
    NotificationStatus.QUEUED: "Queued",
    NotificationStatus.SENDING: "Sending",
    NotificationStatus.RETRYING: "Retrying",
    NotificationStatus.SENT: "Sent",
    NotificationStatus.DEAD: "Dead",
    NotificationStatus.CANCELLED: "Cancelled",
    NotificationStatus.HELD: "Held for digest",
    NotificationStatus.BUNDLED: "Sent in a digest",
}
KIND_LABELS = {
    NotificationKind.NOTICE: "Notice",
    NotificationKind.REMINDER: "Reminder",
    NotificationKind.DIGEST: "Weekly digest",
    NotificationKind.CONFIRMATION: "Confirmation request",
    NotificationKind.MANAGE_LINK: "Manage link",
    NotificationKind.OBJECTION_RECEIPT: "Objection receipt",
    NotificationKind.OBJECTION_CLOSED: "Objector told of a withdrawal",
}


def _page_number() -> int:
    """``?page=``: a whole number from 1; anything else is a 400 saying so."""
    text = request.args.get("page", "").strip()
    if not text:
        return 1
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_PAGE:
        abort(400, f"The page must be a whole number from 1 to {MAX_PAGE}.")
    return int(text)


def _notice_or_404(notice_id: int) -> Notice:
    notice = get_notice(db.session, notice_id)
    if notice is None:
        abort(404, f"There is no notice {notice_id}.")
    return notice


def _render(template: str, **context: object) -> str:
    return render_template(
        template,
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        notice_title=notice_title,
        **context,
    )


@bp.get("/deliveries")
@requires(Role.EDITOR)
def deliveries() -> str:
    """The outbox at a glance: every status, each announced notice, and the other messages."""
    page = _page_number()
    rows = services.notice_deliveries(
        db.session, limit=NOTICES_PER_PAGE + 1, offset=(page - 1) * NOTICES_PER_PAGE
    )
    return _render(
        "admin/deliveries.html",
        totals=services.status_counts(db.session),
        notices=rows[:NOTICES_PER_PAGE],
        others=services.counts_by_kind(db.session, notice_id=None),
        webhook_totals=webhooks.status_counts(db.session),
        page=page,
        has_next=len(rows) > NOTICES_PER_PAGE,
    )


@bp.get("/deliveries/notices/<int:notice_id>")
@requires(Role.EDITOR)
def delivery_notice(notice_id: int) -> str:
    """One notice: its counts per kind, and its dead and retrying notifications, a page at a time."""
    notice = _notice_or_404(notice_id)
    page = _page_number()
    rows = services.problems(
        db.session, notice_id=notice.id, limit=ROWS_PER_PAGE + 1, offset=(page - 1) * ROWS_PER_PAGE
    )
    return _render(
        "admin/deliveries_notice.html",
        notice=notice,
        counts=services.counts_per_notice(db.session, [notice.id]).get(notice.id, services.Counts()),
        by_kind=services.counts_by_kind(db.session, notice_id=notice.id),
        problems=rows[:ROWS_PER_PAGE],
        page=page,
        per_page=ROWS_PER_PAGE,
        has_next=len(rows) > ROWS_PER_PAGE,
    )


@bp.get("/deliveries/dead")
@requires(Role.EDITOR)
def dead_notifications() -> str:
    """Every dead notification with its last error; admins requeue one or all of them."""
    page = _page_number()
    rows = services.problems(
        db.session,
        statuses=(NotificationStatus.DEAD,),
        limit=ROWS_PER_PAGE + 1,
        offset=(page - 1) * ROWS_PER_PAGE,
    )
    shown = rows[:ROWS_PER_PAGE]
    return _render(
        "admin/deliveries_dead.html",
        dead=services.status_counts(db.session)[NotificationStatus.DEAD],
        problems=shown,
        notices=services.notices_by_id(db.session, (row.notice_id for row in shown)),
        can_retry=current_user.can(Role.ADMIN),
        form=EmptyForm(formdata=None),
        page=page,
        per_page=ROWS_PER_PAGE,
        has_next=len(rows) > ROWS_PER_PAGE,
    )


@bp.post("/deliveries/dead/<int:notification_id>/retry")
@requires(Role.ADMIN)
def retry_notification(notification_id: int) -> Response:
    """Requeue one dead notification: retried on the delivery job's next run."""
    notification = services.get_notification(db.session, notification_id)
    if notification is None:
        abort(404, f"There is no notification {notification_id}.")
    status = notification.status
    if services.retry_dead(db.session, now=utcnow(), actor=actor(), notification_id=notification.id):
        db.session.commit()
        flash(
            f"Notification {notification_id} is queued again: it is sent on the next delivery run.", "success"
        )
    else:
        db.session.rollback()
        flash(f"Notification {notification_id} is not dead (it is {status}): nothing to retry.", "info")
    return redirect(url_for("admin.dead_notifications"))


@bp.post("/deliveries/dead/retry")
@requires(Role.ADMIN)
def retry_all_dead() -> Response:
    """Requeue every dead notification at once."""
    count = services.retry_dead(db.session, now=utcnow(), actor=actor())
    if count:
        db.session.commit()
        flash(
            f"{count} dead notification{'s are' if count != 1 else ' is'} queued again: "
            f"{'they are' if count != 1 else 'it is'} sent on the next delivery run.",
            "success",
        )
    else:
        db.session.rollback()
        flash("There are no dead notifications to retry.", "info")
    return redirect(url_for("admin.dead_notifications"))


WEBHOOK_STATUS_LABELS = {
    WebhookDeliveryStatus.QUEUED: "Queued",
    WebhookDeliveryStatus.SENDING: "Posting",
    WebhookDeliveryStatus.RETRYING: "Retrying",
    WebhookDeliveryStatus.SENT: "Delivered",
    WebhookDeliveryStatus.DEAD: "Dead",
    WebhookDeliveryStatus.CANCELLED: "Cancelled",
}


@bp.get("/deliveries/webhooks")
@requires(Role.EDITOR)
def webhook_deliveries() -> str:
    """Every webhook delivery, newest first: status, attempts, last error and response code."""
    page = _page_number()
    status_text = request.args.get("status", "").strip()
    statuses = None
    if status_text:
        if status_text not in {s.value for s in WebhookDeliveryStatus}:
            choices = ", ".join(s.value for s in WebhookDeliveryStatus)
            abort(400, f"The status must be one of: {choices}.")
        statuses = (WebhookDeliveryStatus(status_text),)
    rows = webhooks.recent_deliveries(
        db.session, statuses=statuses, limit=ROWS_PER_PAGE + 1, offset=(page - 1) * ROWS_PER_PAGE
    )
    return render_template(
        "admin/deliveries_webhooks.html",
        totals=webhooks.status_counts(db.session),
        labels=WEBHOOK_STATUS_LABELS,
        deliveries=rows[:ROWS_PER_PAGE],
        status=status_text,
        page=page,
        has_next=len(rows) > ROWS_PER_PAGE,
    )
