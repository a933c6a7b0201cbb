"""The API's JSON representations of lists, changes, notices, audit events and webhook endpoints.

One function per kind of object, used by every route that answers with it, so that a change looks
the same in a list of changes, in a notice and in the answer to the request that made it. The
OpenAPI document (``registry.api.openapi``) describes these shapes; the tests hold the two together.
"""

from __future__ import annotations

from typing import Any

from registry.audit.models import AuditEvent
from registry.lists.models import Change, Notice, RegisterList, Version
from registry.timeutil import rfc3339
from registry.webhooks.models import WebhookEndpoint


def _moment(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def _email(user: Any) -> str | None:
    return user.email if user is not None else None


def list_json(register_list: RegisterList, version: Version | None) -> dict[str, Any]:
    """A list's settings and the version now in force (0 before the first publication)."""
    return {
        "slug": register_list.slug,
        "title": register_list.title,
        "introduction": register_list.introduction,
        "notice_period_days": register_list.notice_period_days,
        "objection_closes_days_before": register_list.objection_closes_days_before,
        "requires_approval": register_list.requires_approval,
        "remind_on_effective": register_list.remind_on_effective,
        "version": register_list.current_version,
        "updated_at": _moment(version.published_at) if version else None,
    }


def change_json(change: Change) -> dict[str, Any]:
    """One change: what it proposes (or, for a retirement, the entry it removes) and where it stands."""
    notice = change.notice
    # Until a notice is published its changes carry no date of their own; the notice's is the plan.
    effective_at = change.effective_at or (notice.effective_at if notice is not None else None)
    return {
        "id": change.id,
        "list": change.register_list.slug,
        "action": str(change.action),
        "status": str(change.status),
        "processor": change.subject,
        "target": change.base["id"] if change.base else None,
        "before": change.before,
        "after": change.after,
        "notice": change.notice_id,
        "version": change.version.number if change.version is not None else None,
        "effective_at": _moment(effective_at),
        "created_at": _moment(change.created_at),
        "updated_at": _moment(change.updated_at),
        "applied_at": _moment(change.applied_at),
        "author": _email(change.author),
    }


def notice_json(notice: Notice) -> dict[str, Any]:
    """A notice (an announcement or a withdrawal) with its dates, its people and its changes."""
    return {
        "id": notice.id,
        "list": notice.register_list.slug,
        "kind": str(notice.kind),
        "status": str(notice.status),
        "reason": notice.reason,
        "effective_at": _moment(notice.effective_at),
        "announced_at": _moment(notice.announced_at),
        "objection_deadline": _moment(notice.objection_deadline),
        "short_notice_reason": notice.short_notice_reason,
        "withdraws": notice.withdraws_id,
        "author": _email(notice.author),
        "approver": _email(notice.approver),
        "created_at": _moment(notice.created_at),
        "changes": [change_json(change) for change in notice.changes],
    }


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": rfc3339(event.at),
        "action": event.action,
        "actor": event.actor,
        "ip": event.ip,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "list_id": event.list_id,
        "summary": event.summary,
        "before": event.before,
        "after": event.after,
    }


def conflict_json(current: Any) -> Any:
    """What a ``ConflictError`` says the thing holds now: a change, or an entry's fields."""
    if isinstance(current, Change):
        return change_json(current)
    if isinstance(current, dict):
        return current
    return None


def webhook_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """A webhook endpoint, without its secret (shown once, in the answer that registered it)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "lists": [target.slug for target in endpoint.targets if not target.is_document],
        "documents": [target.slug for target in endpoint.targets if target.is_document],
        "enabled": endpoint.enabled,
        "created_at": _moment(endpoint.created_at),
        "disabled_at": _moment(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
    }
