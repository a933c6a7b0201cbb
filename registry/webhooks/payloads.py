"""What a webhook event says: the Standard Webhooks shape ``{"type", "timestamp", "data"}``.

The data is public, the same for every endpoint: the list or document, the notice or revision,
its dates and public URLs. Never anything about a subscriber or an objector.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from registry.documents.models import DocumentRevision
from registry.documents.services import diff_url, revision_notice_title, revision_url
from registry.links import external_url
from registry.lists.links import external_list_url
from registry.lists.models import Change, Notice, NoticeKind
from registry.lists.wording import change_headline, notice_title
from registry.timeutil import rfc3339

# Every event type, with what it means (the README and the admin page show these).
EVENT_TYPES = {
    "notice.announced": "A list's changes were announced, with an effective date and objection deadline.",
    "notice.withdrawn": "An announced notice was withdrawn before its effective date.",
    "notice.applied": "An announced notice took effect: the list has a new version.",
    "notice.corrected": "A list's wording or links were corrected at once, without notice.",
    "revision.announced": "A document's new revision was announced with its effective date.",
    "revision.withdrawn": "An announced document revision was withdrawn.",
    "revision.applied": "An announced document revision took effect.",
    "revision.corrected": "A document revision was published at once, without notice.",
    "webhook.ping": "A test event sent from the admin page; it carries no notice.",
}


def _moment(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def body(event_type: str, data: dict[str, Any], *, now: datetime) -> str:
    """The JSON text posted (and signed) for an event; kept as written for every attempt."""
    assert event_type in EVENT_TYPES, event_type
    payload = {"type": event_type, "timestamp": rfc3339(now), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _change(change: Change) -> dict[str, Any]:
    subject = change.subject
    return {
        "action": str(change.action),
        "processor": subject.get("id"),
        "name": subject.get("name"),
        "summary": change_headline(change),
        "before": change.before,
        "after": change.after,
    }


def notice_data(notice: Notice) -> dict[str, Any]:
    """A list's notice: what changes, when, until when one may object, and where to read it."""
    register_list = notice.register_list
    announced = notice.withdraws if notice.kind is NoticeKind.WITHDRAWAL else notice
    changes = list(announced.changes) if announced is not None else []
    urls = {
        "list": external_list_url("page", register_list),
        "changes": external_list_url("changes", register_list),
        "feed": external_list_url("feed_atom", register_list),
        "object": None,
    }
    if notice.kind is NoticeKind.ANNOUNCEMENT and notice.objection_deadline is not None:
        urls["object"] = external_url("objections.object", reference=notice.uuid)
    return {
        "list": {"slug": register_list.slug, "title": register_list.title},
        "notice": {
            "id": notice.uuid,
            "kind": str(notice.kind),
            "title": notice_title(notice),
            "reason": notice.reason,
            "announced_at": _moment(notice.announced_at),
            "effective_at": _moment(notice.effective_at),
            "objection_deadline": _moment(notice.objection_deadline),
            "withdraws": notice.withdraws.uuid if notice.withdraws is not None else None,
            "version": register_list.current_version or None,
            "changes": [_change(change) for change in changes],
        },
        "urls": urls,
    }


def revision_data(revision: DocumentRevision, *, withdrawal: bool = False) -> dict[str, Any]:
    """A document's revision: its number, summary, dates and where to read it."""
    document = revision.document
    return {
        "document": {"slug": document.slug, "title": document.title},
        "revision": {
            "id": revision.uuid,
            "number": revision.number,
            "title": revision_notice_title(revision, withdrawal=withdrawal),
            "summary": revision.summary,
            "announced_at": _moment(revision.announced_at),
            "effective_at": _moment(revision.effective_at),
            "withdrawal_reason": revision.withdrawal_reason if withdrawal else None,
        },
        "urls": {
            "document": external_url("documents.page", slug=document.slug),
            "revision": revision_url(revision),
            "diff": diff_url(revision),
        },
    }


def ping_data(endpoint_id: int) -> dict[str, Any]:
    return {"endpoint": endpoint_id, "message": "A test event from the registry's admin page."}
