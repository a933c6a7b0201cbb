"""Engine settings per database, and the schema's creation through migrations."""

from __future__ import annotations

import enum
import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import Enum, event
from sqlalchemy.engine import Connection

from registry.extensions import db


def value_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum column that stores the values (not the Python names) under a CHECK constraint.

    No native PostgreSQL enum type, so adding a value later is a plain migration on both databases.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


def configure_engine(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # WAL lets readers go on while a writer commits; the busy timeout makes a second writer wait
    # instead of failing at once; SQLite checks foreign keys only when asked.
    dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, issues BEGIN (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # The driver would start transactions only before writes, so reads would not share one
    # snapshot and SAVEPOINT would misbehave; starting them here restores normal semantics.
    connection.exec_driver_sql("BEGIN")


def upgrade_schema() -> None:
    """Create or upgrade the schema to the newest migration (needs an app context)."""
    from flask_migrate import upgrade

    upgrade()
