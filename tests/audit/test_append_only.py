"""Audit events are append-only at every level: the ORM refuses to change or delete one, and below
it the database itself does (triggers made by the migration), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.audit.models import AppendOnlyError, AuditEvent
from registry.audit.services import Actor, record
from registry.extensions import db
from tests.conftest import NOW


@pytest.fixture
def stored(app: Flask) -> Iterator[tuple[Session, int]]:
    """A session on the test's database holding one committed event, and that event's id."""
    with app.app_context():
        event = record(
            db.session, "user.sign_in", Actor(None, "ed@example.com", "10.0.0.1"), now=NOW, summary="original"
        )
        db.session.commit()
        yield db.session, event.id


def _unchanged(session: Session, event_id: int) -> bool:
    session.rollback()
    return session.scalar(select(AuditEvent.summary).where(AuditEvent.id == event_id)) == "original"


def test_the_orm_refuses_to_change_an_event(stored: tuple[Session, int]) -> None:
    session, event_id = stored
    event = session.get(AuditEvent, event_id)
    assert event is not None
    event.summary = "rewritten"
    with pytest.raises(AppendOnlyError):
        session.commit()
    assert _unchanged(session, event_id)


def test_the_orm_refuses_to_delete_an_event(stored: tuple[Session, int]) -> None:
    session, event_id = stored
    session.delete(session.get(AuditEvent, event_id))
    with pytest.raises(AppendOnlyError):
        session.commit()
    assert _unchanged(session, event_id)


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(summary="rewritten"),
        delete(AuditEvent),
    ],
    ids=["bulk update", "bulk delete"],
)
def test_the_database_refuses_bulk_statements_that_skip_the_orm_events(
    stored: tuple[Session, int], statement: object
) -> None:
    # Bulk statements never load the rows, so the mapper's before_update/before_delete do not run:
    # only the trigger stands in the way.
    session, event_id = stored
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement)  # type: ignore[call-overload]
    assert _unchanged(session, event_id)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET summary = 'rewritten'",
        "DELETE FROM audit_events",
        "UPDATE audit_events SET at = at",
    ],
)
def test_the_database_refuses_raw_sql(app: Flask, stored: tuple[Session, int], sql: str) -> None:
    session, event_id = stored
    # Its own connection, outside the app's session: what any other client of the database gets.
    with db.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(sql))
        connection.rollback()
    assert _unchanged(session, event_id)


def test_adding_events_still_works(stored: tuple[Session, int]) -> None:
    session, _ = stored
    record(session, "user.sign_out", Actor(None, "ed@example.com", None), now=NOW)
    session.commit()
    assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc())) == "user.sign_out"
