"""Engine settings per database, how SQLite transactions begin, and the schema's creation.

SQLite has one writer at a time. A transaction that begins with a plain (deferred) ``BEGIN`` reads
from a snapshot and asks for the write lock only at its first write; if another writer committed
since the snapshot was taken, SQLite cannot upgrade it and fails at once with "database is locked"
(the busy timeout does not help: waiting would not make the snapshot current). So a transaction
that may write asks for the lock when it begins (``BEGIN IMMEDIATE``), where the busy timeout
does apply: it waits its turn behind the other writers instead of failing. ``current_intent``
decides which transactions those are; PostgreSQL needs none of this (it locks rows).
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import ColumnElement, Enum, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from registry.extensions import db

if TYPE_CHECKING:
    from sqlalchemy.sql._typing import _ColumnExpressionArgument

# Requests with these methods only read (HTTP says so, and our views keep to it).
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Seconds a client is asked to wait before retrying when the database was too busy to answer.
BUSY_RETRY_AFTER_SECONDS = 2
# Each SQLite connection's page cache, at most (``_sqlite_connect``), in KiB.
SQLITE_CACHE_KIB = 16 * 1024
# PostgreSQL's words for "busy, try again": serialization failure, deadlock, lock not available.
_POSTGRES_BUSY = frozenset({"40001", "40P01", "55P03"})
_INTENT_KEY = "_registry_db_intent"

_commits = 0
_T = TypeVar("_T")

# The Alembic scripts, next to the package.
MIGRATIONS_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


@event.listens_for(Session, "after_commit")
def _count_commit(_session: Session) -> None:
    global _commits
    _commits += 1


def commits() -> int:
    """How many sessions of this process have committed: what a copy kept in memory (a list's
    stamp, a replayed answer) compares to forget itself at any change made here."""
    return _commits


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


class _Unindexed(FunctionElement[_T]):
    """A column as ``unindexed`` writes it (a function-like element, so statements that use it
    are cached like any other)."""

    inherit_cache = True

    def __init__(self, column: _ColumnExpressionArgument[_T]) -> None:
        super().__init__(column)
        self.type = self.clauses.clauses[0].type


@compiles(_Unindexed)
def _unindexed(element: _Unindexed[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def unindexed(column: _ColumnExpressionArgument[_T]) -> ColumnElement[_T]:
    """``column``, in a condition that no index of it may serve: the database reads the rows
    through the index of another condition of the statement, and checks this one on each.

    SQLite has no statistics unless ANALYZE is run, so it takes any equality or IN on an
    indexed column for a narrow one. A status is not: ``status IN ('sent', ...)`` matches nearly
    the whole outbox, and reading it through the status index instead of the index of the few
    rows wanted (one subscriber's, the old ones) reads every notification. SQLite's documented
    way to say so is a unary ``+`` before the column (a no-op on the value). PostgreSQL plans
    from its statistics and gets the column as it is.
    """
    return _Unindexed(column)


@dataclass(frozen=True)
class Intent:
    """How the transactions begun inside ``transaction_intent`` start.

    ``writes``: take SQLite's write lock at BEGIN. ``lock_wait``: give up waiting for a lock after
    this many seconds instead of the usual busy timeout (SQLite) or forever (PostgreSQL).
    """

    writes: bool
    lock_wait: float | None = None


def sqlite_busy_timeout_ms(app: Flask) -> int:
    """``SQLITE_BUSY_TIMEOUT`` as SQLite's ``busy_timeout`` pragma takes it."""
    return int(app.config["SQLITE_BUSY_TIMEOUT"] * 1000)


def configure_engine(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        busy_timeout_ms = sqlite_busy_timeout_ms(app)

        def connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            _sqlite_connect(dbapi_connection, busy_timeout_ms)

        def begin(connection: Connection) -> None:
            _sqlite_begin(connection, busy_timeout_ms)

        event.listen(engine, "connect", connect)
        event.listen(engine, "begin", begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _postgresql_begin)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # WAL lets readers go on while a writer commits; the busy timeout makes a second writer wait
    # instead of failing at once; SQLite checks foreign keys only when asked. secure_delete
    # overwrites deleted content with zeros (free space in pages, free pages), so an erased
    # address does not stay in the file until reused (``checkpoint`` does the same for the log).
    dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, issues BEGIN (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A batch of a job changes rows spread over the whole file (1,000 erasures among 100,000
    # subscribers dirty ~1,500 pages of 4 KiB per batch of 200, a page per table or index each):
    # with SQLite's default cache of 2 MiB, pages were written to the log in the middle of the
    # batch and read back from it, then from the file again. The cache is per connection, at
    # most this size, and filled only with pages actually read.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB:d}")
    # The statement journal (the pages a statement changed, kept until it ends, in case it must
    # be undone alone) went to a temporary file once a statement changed more than 64 KiB, and
    # stayed there for the rest of the transaction: two writes per page changed, thrown away a
    # moment later. In memory it is bounded by one statement's pages, as are sorts.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def checkpoint(engine: Engine) -> bool:
    """Copy SQLite's write-ahead log into the database and truncate it to nothing; returns
    whether it was emptied (always True on PostgreSQL, which has nothing of the kind to do).

    The log keeps the old content of every page written since the last checkpoint, so a row
    deleted a moment ago is still in it; after this, only the database's own (overwritten)
    pages remain. Waits for readers up to the busy timeout; runs outside any transaction.
    """
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cursor.fetchone()  # busy, then the log's pages and those copied
        cursor.close()
    finally:
        raw.close()
    return row is not None and not row[0]


def _sqlite_begin(connection: Connection, busy_timeout_ms: int) -> None:
    # The driver would start transactions only before writes, so reads would not share one
    # snapshot and SAVEPOINT would misbehave; starting them here restores normal semantics.
    intent = current_intent()
    begin = "BEGIN IMMEDIATE" if intent.writes else "BEGIN"
    if intent.lock_wait is None:
        connection.exec_driver_sql(begin)
        return
    # An IMMEDIATE transaction waits for locks only at its BEGIN: a shorter wait there is enough.
    connection.exec_driver_sql(f"PRAGMA busy_timeout={int(intent.lock_wait * 1000):d}")
    try:
        connection.exec_driver_sql(begin)
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={busy_timeout_ms:d}")


def _postgresql_begin(connection: Connection) -> None:
    # PostgreSQL locks rows, not the database: only a shorter wait for them may be asked for.
    lock_wait = current_intent().lock_wait
    if lock_wait is not None:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_wait * 1000):d}ms'")


def current_intent() -> Intent:
    """How a transaction starting now begins; whether it may write decides SQLite's BEGIN.

    Requests that only read (GET, HEAD, OPTIONS) begin deferred, so that readers never queue
    behind writers (WAL lets them read while a writer commits); every other request, every CLI
    command and every scheduled job (``registry.scheduler`` says so) begins immediate: a writer
    that waits for the lock up front never meets a stale snapshot. ``transaction_intent``
    overrides this for the transactions begun inside it. A bare app context (a test, a shell)
    keeps SQLite's own deferred default: it may hold a read open while another connection of
    the same thread writes, which an immediate one would block.
    """
    if has_app_context():
        intent = g.get(_INTENT_KEY)
        if intent is not None:
            return cast(Intent, intent)
    if has_request_context():
        return Intent(writes=request.method not in READ_ONLY_METHODS)
    return Intent(writes=click.get_current_context(silent=True) is not None)


@contextmanager
def transaction_intent(*, writes: bool, lock_wait: float | None = None) -> Iterator[None]:
    """Transactions begun inside the block write (``BEGIN IMMEDIATE``) or only read; needs an
    app context.

    For the exceptions to the rule of ``current_intent``: a scheduled job (it may write), a GET
    that records something in a short transaction of its own (an API token's last use).
    """
    previous = g.get(_INTENT_KEY)
    setattr(g, _INTENT_KEY, Intent(writes, lock_wait))
    try:
        yield
    finally:
        setattr(g, _INTENT_KEY, previous)


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` means "the database is busy, try again later" rather than a bug.

    SQLite says "database is locked" (or "busy") when its busy timeout ran out; PostgreSQL
    reports serialization failures, deadlocks and unavailable locks by SQLSTATE.
    """
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, sqlite3.OperationalError):
        message = str(original).lower()
        return "database is locked" in message or "database is busy" in message
    return getattr(original, "sqlstate", None) in _POSTGRES_BUSY


def owner_url(app: Flask) -> str:
    """The URL migrations connect with: ``DATABASE_OWNER_URL`` when set, else the app's own."""
    return str(app.config.get("DATABASE_OWNER_URL") or app.config["SQLALCHEMY_DATABASE_URI"])


def bind_migrations(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` (its settings in ``app.extensions["migrate"]``, its ``db``
    commands), once, when the schema is first touched rather than at every start: importing it
    imports alembic, mako and pygments, a tenth of a second that only ``init-db``, ``flask db``
    and the migration tests need."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    Migrate(render_as_batch=True, compare_type=True).init_app(app, db, directory=MIGRATIONS_FOLDER)


def upgrade_schema() -> str | None:
    """Create or upgrade the schema to the newest migration (needs an app context), connected
    as the tables' owner (``DATABASE_OWNER_URL``) when one is set; then give the app's role the
    rights it needs and no more (``grant_app_role``), so it never owns what it writes to.
    Returns the name of the role granted, if any."""
    from flask_migrate import upgrade

    bind_migrations(current_app._get_current_object())  # type: ignore[attr-defined]
    upgrade()
    app_user = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).username
    owner = make_url(owner_url(current_app))
    if owner.get_backend_name() != "postgresql" or not app_user or app_user == owner.username:
        return None
    engine = create_engine(owner, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            grant_app_role(connection, app_user)
    finally:
        engine.dispose()
    return app_user


# Tables whose rows are never changed or deleted, found by their trigger (``<table>_append_only``,
# the function the migrations make for each): the app's role may only read and add to them.
_APPEND_ONLY_TABLES = """
    SELECT DISTINCT c.relname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal AND p.proname = c.relname || '_append_only'
      AND c.relnamespace = current_schema()::regnamespace
    ORDER BY c.relname
"""


class AppRoleOwnsTables(RuntimeError):
    """The app's role owns tables (a deployment from before it had an owner of its own)."""


def grant_app_role(connection: Connection, role: str) -> list[str]:
    """Give ``role`` what the app does with the tables of the current schema, run as their owner;
    returns the append-only tables it found. Safe to run again (``init-db`` does on each deploy).

    Only a table's owner (or a superuser) may ALTER it or DROP or DISABLE its triggers, and
    TRUNCATE is a privilege of its own, which the app is not given: a role that does not own the
    tables can do none of that, whatever SQL it sends. So the app reads and writes every table (SELECT, INSERT, UPDATE,
    DELETE; the sequences for new ids), only reads and adds to the append-only ones (their
    triggers refuse the rest anyway), only reads the migration version, and gets the same on
    tables a later migration creates (default privileges of the owner, the role running this).
    It may not create objects in the schema either: a table of its own would be out of reach of
    the migrations.
    """
    owned = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = %(role)s",
        {"role": role},
    ).scalar()
    if owned:
        raise AppRoleOwnsTables(
            f"The role {role!r} owns {owned} table(s), so it could still alter them and their "
            f"triggers. As a superuser, run: REASSIGN OWNED BY {role} TO <owner>; then init-db again."
        )
    quoted = connection.dialect.identifier_preparer.quote
    schema = quoted(str(connection.exec_driver_sql("SELECT current_schema()").scalar()))
    app = quoted(role)
    append_only = [str(name) for name in connection.exec_driver_sql(_APPEND_ONLY_TABLES).scalars()]
    owns_schema = connection.exec_driver_sql(
        "SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace "
        "WHERE oid = current_schema()::regnamespace"
    ).scalar()
    statements = [
        # Only the schema's owner may say who creates in it (bin/postgres-roles.sql makes the
        # tables' owner the schema's; PostgreSQL 15 and later already refuse PUBLIC there).
        *(
            [
                f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
                f"REVOKE CREATE ON SCHEMA {schema} FROM {app}",
                f"GRANT USAGE ON SCHEMA {schema} TO {app}",
            ]
            if owns_schema
            else []
        ),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        *(f"REVOKE UPDATE, DELETE ON {schema}.{quoted(table)} FROM {app}" for table in append_only),
    ]
    if connection.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar() is not None:
        statements.append(f"REVOKE INSERT, UPDATE, DELETE ON {schema}.alembic_version FROM {app}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    return append_only
