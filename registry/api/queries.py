"""Queries the API needs that ``registry.lists.services`` does not offer yet.

They belong there, next to the other queries (its owner may move them; the API then imports them
from there). Like the services, they take the session and never commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.lists.models import Change, ChangeStatus, RegisterList


def changes_of(
    session: Session,
    register_list: RegisterList,
    status: ChangeStatus | None = None,
    *,
    limit: int = 100,
    offset: int = 0,
) -> list[Change]:
    """A list's changes, newest first, optionally only those in one status."""
    query = select(Change).where(Change.list_id == register_list.id)
    if status is not None:
        query = query.where(Change.status == status)
    return list(session.scalars(query.order_by(Change.id.desc()).limit(limit).offset(offset)))
