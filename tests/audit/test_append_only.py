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
from tests.conftest import NOW, Registry, entry


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


# Every append-only table, and the column a rewrite would change.
APPEND_ONLY = {"audit_events": "summary", "versions": "reason"}


@pytest.fixture(params=sorted(APPEND_ONLY))
def kept(request: pytest.FixtureRequest, app: Flask, registry: Registry) -> tuple[str, int, str]:
    """One committed row of an append-only table: the table, the row's id and its column's value."""
    table, column = request.param, APPEND_ONLY[request.param]
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    with app.app_context():
        record(db.session, "user.sign_in", Actor(None, "ed@example.com", None), now=NOW, summary="original")
        db.session.commit()
        row_id, value = db.session.execute(
            text(f"SELECT id, {column} FROM {table} ORDER BY id LIMIT 1")
        ).one()
    return table, row_id, value


def _rewrites(dialect: str, table: str, column: str) -> dict[str, str]:
    """Every SQL way this database offers to rewrite or empty a row in place, for ``:id``."""
    columns = [c.name for c in db.metadata.tables[table].columns]
    names = ", ".join(columns)
    values = ", ".join("'rewritten'" if c == column else c for c in columns)
    upsert = (
        f"INSERT INTO {table} ({names}) SELECT {values} FROM {table} WHERE id = :id "
        f"ON CONFLICT (id) DO UPDATE SET {column} = 'rewritten'"
    )
    ways = {"update": f"UPDATE {table} SET {column} = 'rewritten' WHERE id = :id", "upsert": upsert}
    if dialect == "sqlite":
        # REPLACE deletes the row it replaces without firing delete triggers.
        ways["replace"] = (
            f"INSERT OR REPLACE INTO {table} ({names}) SELECT {values} FROM {table} WHERE id = :id"
        )
        ways["delete"] = f"DELETE FROM {table}"
    else:
        ways["delete"] = f"DELETE FROM {table} WHERE id = :id"
        # TRUNCATE fires no row trigger: only a statement trigger stands in its way.
        ways["truncate"] = f"TRUNCATE {table} CASCADE"
    return ways


def test_no_sql_rewrites_or_empties_an_append_only_table(app: Flask, kept: tuple[str, int, str]) -> None:
    table, row_id, value = kept
    with app.app_context():
        ways = _rewrites(db.engine.dialect.name, table, APPEND_ONLY[table])
        assert len(ways) == 4
        for way, sql in ways.items():
            # Its own connection, outside the app's session: what any other client of the database gets.
            with db.engine.connect() as connection:
                with pytest.raises(DBAPIError, match="append-only"):
                    connection.execute(text(sql), {"id": row_id})
                connection.rollback()
            with db.engine.connect() as connection:
                stored = connection.execute(
                    text(f"SELECT {APPEND_ONLY[table]} FROM {table} WHERE id = :id"), {"id": row_id}
                ).scalar()
            assert stored == value, f"{way} rewrote {table}"


def test_new_rows_are_still_added(app: Flask, registry: Registry) -> None:
    registry.create_list()
    assert registry.publish("sub-processors", entry("Microsoft Azure")) == 1
    assert registry.publish("sub-processors", entry("Amazon Web Services")) == 2
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM versions")) == 2
