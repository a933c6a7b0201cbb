"""Races the database settles: when another request's write lands between this request's checks
and its own write, the database refuses this one (a unique index, a row version) and the API
answers 409 JSON with nothing of the request kept, never a 500.

The other request is played by a write on the request's own connection just before its flush:
the same rows a concurrent request would have committed, deterministic on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from registry.extensions import db
from registry.lists.models import Change, ChangeAction, ChangeStatus, Processor
from registry.timeutil import utcnow
from tests.api.conftest import Api
from tests.conftest import Registry


@contextmanager
def just_before_flush(write: Callable[[Session], None]) -> Iterator[None]:
    """Run ``write`` once, on the flushing session's connection, just before its first flush."""
    done = False

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        nonlocal done
        if not done:
            done = True
            write(session)

    event.listen(Session, "before_flush", before_flush)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", before_flush)


def conflict(response: Any) -> dict[str, Any]:
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["status"] == 409 and error["title"] == "Conflict"
    return error


def test_a_draft_racing_another_for_the_same_entry_answers_409(
    api: Api, listed: Registry, app: Flask
) -> None:
    """The unique index on open drafts per entry catches what the service's check could not see."""

    def other_request_drafts(session: Session) -> None:
        azure = session.scalar(select(Processor).where(Processor.slug == "microsoft-azure"))
        assert azure is not None
        session.connection().execute(
            Change.__table__.insert().values(
                list_id=azure.list_id,
                action=ChangeAction.RETIRE,
                status=ChangeStatus.DRAFT,
                processor_id=azure.id,
                created_at=utcnow(),
                updated_at=utcnow(),
                row_version=1,
            )
        )

    with just_before_flush(other_request_drafts):
        response = api.post("/lists/sub-processors/drafts", {"action": "retire", "target": "microsoft-azure"})
    assert "at the same moment" in conflict(response)["message"]
    with app.app_context():  # nothing of either stayed: the race's write was in the same transaction
        assert db.session.scalar(select(func.count()).select_from(Change)) == 2  # the two published


def test_a_discard_racing_an_edit_of_the_same_draft_answers_409(
    api: Api, listed: Registry, app: Flask
) -> None:
    """The row version catches a draft saved by someone else since this request read it."""
    draft = api.post("/lists/sub-processors/drafts", {"action": "retire", "target": "microsoft-azure"})
    change_id = draft.get_json()["id"]

    def other_request_saves(session: Session) -> None:
        session.connection().execute(
            update(Change).where(Change.id == change_id).values(row_version=Change.row_version + 1)
        )

    with just_before_flush(other_request_saves):
        response = api.post(f"/changes/{change_id}/discard")
    conflict(response)
    assert api.get(f"/changes/{change_id}").get_json()["status"] == "draft"
